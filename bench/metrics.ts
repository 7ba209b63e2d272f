/**
 * Latency, cost, memory and start-up, side by side with slirp4netns in the same run (issue 6):
 *
 * - latency: `ping -i 0.005` to 10.0.2.2 from the namespace (avg and p50 RTT), and 1-byte TCP
 *   request/response round trips over one connection through 10.0.2.2 to an echo server on the
 *   host's 127.0.0.1 (median and mean µs per round trip); at the first MTU of BENCH_MTUS.
 * - cpu: CPU seconds (utime + stime of /proc/PID/stat, read with `cat`; ours is the whole deno
 *   process, workers included) per GiB received in an iperf3 run, each MTU and both directions.
 * - memory: VmRSS idle, with 1000 idle TCP connections through 10.0.2.2 to a host server that holds
 *   them, and the peak VmRSS sampled during a full-speed iperf3 run (the cpu runs).
 * - startup: microseconds from fork to the `--ready-fd` byte (`-c -r 3`), median of
 *   BENCH_STARTUP_RUNS.
 *
 * Each group (idle memory, latency, each transfer direction) gets freshly started processes:
 * slirp4netns keeps memory it grew in an earlier test.
 *
 * Knobs (environment): BENCH_ONLY (sections, comma-separated; bench/run.sh passes it),
 * BENCH_SECONDS, BENCH_RUNS, BENCH_MTUS, BENCH_SLIRP4NETNS (see common.ts), BENCH_PINGS (200),
 * BENCH_ROUNDTRIPS (5000), BENCH_CONNECTIONS (1000), BENCH_STARTUP_RUNS (5), BENCH_TOOL (the built
 * bench/tcptool.c; bench/run.sh sets it).
 *
 * Traffic goes only to 127.0.0.1 on the host, through the namespaces made here.
 */

import {
  children,
  IMPLEMENTATIONS,
  IPERF3_TIMEOUT_MS,
  iperf3ClientArgv,
  iperf3Received,
  machineLine,
  makeNetns,
  median,
  MTUS,
  output,
  type Running,
  RUNS,
  SECONDS,
  spawn,
  startIperf3Server,
  startNetwork,
  stop,
} from "./common.ts";

const ONLY = new Set(
  (Deno.env.get("BENCH_ONLY") ?? "latency,cpu,memory,startup").split(",").map((s) => s.trim()),
);
const PINGS = Number(Deno.env.get("BENCH_PINGS") ?? "200");
const ROUNDTRIPS = Number(Deno.env.get("BENCH_ROUNDTRIPS") ?? "5000");
const CONNECTIONS = Number(Deno.env.get("BENCH_CONNECTIONS") ?? "1000");
const STARTUP_RUNS = Number(Deno.env.get("BENCH_STARTUP_RUNS") ?? "5");
const TOOL = Deno.env.get("BENCH_TOOL") ?? "";

/** Rows: section, what, one value per implementation, ratio (ours / slirp4netns). */
const rows: string[][] = [];

function addRow(section: string, what: string, values: number[], digits: number): void {
  const ratio = values.length > 1 && values[1] > 0 ? `${(values[0] / values[1]).toFixed(2)}x` : "-";
  const row = [section, what, ...values.map((v) => v.toFixed(digits)), ratio];
  rows.push(row);
  console.error(`  ${row.join("  ")}`);
}

/** Reads the first line of a child's stdout (for "listening" and "held N"). */
async function firstLine(child: Deno.ChildProcess, ms: number): Promise<string> {
  const reader = child.stdout.getReader();
  let text = "";
  const timer = setTimeout(() => reader.cancel().catch(() => {}), ms);
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  if (!text.includes("\n")) {
    const err = await new Response(child.stderr).text().catch(() => "");
    throw new Error(`no output from helper: ${err}`);
  }
  return text.split("\n")[0];
}

async function echoServer(port: number): Promise<Deno.ChildProcess> {
  const server = spawn([TOOL, "server", "127.0.0.1", String(port)]);
  await firstLine(server, 5000);
  return server;
}

/** utime + stime of a whole process, in seconds. */
async function cpuSeconds(pid: number, tick: number): Promise<number> {
  const stat = (await output(["cat", `/proc/${pid}/stat`])).out;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / tick;
}

/** VmRSS in MiB. */
async function rss(pid: number): Promise<number> {
  const status = (await output(["cat", `/proc/${pid}/status`])).out;
  const match = status.match(/VmRSS:\s+(\d+) kB/);
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) / 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ping RTTs in µs. */
async function pings(running: Running): Promise<number[]> {
  const result = await output(
    [...running.enter, "ping", "-n", "-c", String(PINGS), "-i", "0.005", "10.0.2.2"],
    PINGS * 100 + 10_000,
  );
  const rtts = [...result.out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
  if (rtts.length === 0) throw new Error(`ping: ${result.out}`);
  return rtts;
}

/** Median and mean µs of 1-byte round trips through 10.0.2.2. */
async function pingPong(running: Running, port: number): Promise<[number, number]> {
  const server = await echoServer(port);
  try {
    const result = await output(
      [...running.enter, TOOL, "pingpong", "10.0.2.2", String(port), String(ROUNDTRIPS)],
      ROUNDTRIPS * 10 + 30_000,
    );
    if (!result.ok) throw new Error(`pingpong: ${result.out}`);
    const [med, avg] = result.out.trim().split(" ").map(Number);
    return [med, avg];
  } finally {
    await stop(server);
  }
}

/** VmRSS (MiB) with CONNECTIONS idle connections through 10.0.2.2. */
async function idleConnections(running: Running, port: number): Promise<number> {
  const server = await echoServer(port);
  const holder = spawn([
    ...running.enter,
    TOOL,
    "hold",
    "10.0.2.2",
    String(port),
    String(CONNECTIONS),
  ]);
  try {
    await firstLine(holder, 120_000);
    await sleep(1000);
    return await rss(running.pid);
  } finally {
    await stop(holder);
    await stop(server);
  }
}

/** One iperf3 run; CPU seconds per GiB received and peak VmRSS (MiB) of the network process. */
async function transfer(
  running: Running,
  port: number,
  reverse: boolean,
  tick: number,
): Promise<{ cpuPerGiB: number; peakRss: number; gbps: number }> {
  const server = await startIperf3Server("127.0.0.1", port);
  try {
    const before = await cpuSeconds(running.pid, tick);
    const client = output(
      [...running.enter, ...iperf3ClientArgv("10.0.2.2", port, reverse)],
      IPERF3_TIMEOUT_MS,
    );
    let done = false;
    client.finally(() => done = true);
    let peakRss = 0;
    while (!done) {
      peakRss = Math.max(peakRss, await rss(running.pid));
      await sleep(200);
    }
    const after = await cpuSeconds(running.pid, tick);
    const { bytes, gbps } = iperf3Received((await client).out);
    return { cpuPerGiB: (after - before) / (bytes / 2 ** 30), peakRss, gbps };
  } finally {
    await stop(server);
  }
}

/** µs from fork to the ready byte, for a fresh namespace. */
async function startup(index: number, mtu: number): Promise<number> {
  const impl = IMPLEMENTATIONS[index];
  const ns = await makeNetns();
  const apiSocket = `/tmp/slirp-bench-${Deno.pid}-${impl.name}-startup.sock`;
  try {
    await output(["rm", "-f", apiSocket]);
    const result = await output(
      [TOOL, "startup", "3", ...impl.argv(mtu, ns.pid, apiSocket, ["-r", "3"])],
      30_000,
    );
    const us = result.out.match(/^(\d+)$/m);
    if (!result.ok || !us) throw new Error(`startup of ${impl.name}: ${result.out}`);
    return Number(us[1]);
  } finally {
    await stop(ns.holder);
    await output(["rm", "-f", apiSocket]);
  }
}

/** Starts every implementation on a fresh namespace, runs `body`, and stops them all. */
async function withNetworks(
  mtu: number,
  body: (networks: Running[]) => Promise<void>,
): Promise<void> {
  const networks: Running[] = [];
  try {
    for (const impl of IMPLEMENTATIONS) networks.push(await startNetwork(impl, mtu));
    await body(networks);
  } finally {
    for (const network of networks) {
      for (const p of network.processes) await stop(p);
      await output(["rm", "-f", network.apiSocket]);
    }
  }
}

async function main(): Promise<void> {
  if (TOOL === "") throw new Error("BENCH_TOOL is not set (run through bench/run.sh)");
  const tick = Number((await output(["getconf", "CLK_TCK"])).out.trim());
  console.log(
    `Latency, cost, memory, start-up (${[...ONLY].join(",")}); iperf3 -t ${SECONDS}, ` +
      `median of ${RUNS}; ping -c ${PINGS} -i 0.005; ${ROUNDTRIPS} TCP round trips; ` +
      `${CONNECTIONS} idle connections; start-up median of ${STARTUP_RUNS}`,
  );
  console.log(await machineLine());
  let port = 20000 + Math.floor(Math.random() * 20000);
  for (const mtu of MTUS) {
    const first = mtu === MTUS[0];
    const wantLatency = first && ONLY.has("latency");
    const wantIdle = first && ONLY.has("memory");
    const wantTransfer = ONLY.has("cpu") || ONLY.has("memory");
    if (wantIdle) {
      // Fresh networks: slirp4netns keeps memory it grew under load, so the idle figures come
      // first and from processes that moved nothing else.
      await withNetworks(mtu, async (networks) => {
        addRow(
          "memory",
          `VmRSS MiB, idle (MTU ${mtu})`,
          await Promise.all(networks.map((n) => rss(n.pid))),
          1,
        );
        const held: number[] = [];
        for (const network of networks) held.push(await idleConnections(network, port++));
        addRow("memory", `VmRSS MiB, ${CONNECTIONS} idle TCP conns`, held, 1);
      });
    }
    if (wantLatency) {
      await withNetworks(mtu, async (networks) => {
        const rtts = networks.map(() => [] as number[]);
        const rounds = networks.map(() => [] as [number, number][]);
        for (let run = 0; run < RUNS; run++) {
          for (let i = 0; i < networks.length; i++) {
            rtts[i].push(...await pings(networks[i]));
            rounds[i].push(await pingPong(networks[i], port++));
          }
        }
        const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
        addRow("latency", `ping 10.0.2.2 avg µs (MTU ${mtu})`, rtts.map(mean), 0);
        addRow("latency", `ping 10.0.2.2 p50 µs (MTU ${mtu})`, rtts.map(median), 0);
        addRow(
          "latency",
          `TCP 1-byte round trip median µs`,
          rounds.map((r) => median(r.map((x) => x[0]))),
          1,
        );
        addRow(
          "latency",
          `TCP 1-byte round trip mean µs`,
          rounds.map((r) => median(r.map((x) => x[1]))),
          1,
        );
      });
    }
    // Fresh networks per direction, so a peak is not memory kept from an earlier test.
    for (const reverse of wantTransfer ? [false, true] : []) {
      await withNetworks(mtu, async (networks) => {
        const direction = reverse ? "host→namespace" : "namespace→host";
        const samples = networks.map(() => [] as { cpuPerGiB: number; peakRss: number }[]);
        for (let run = 0; run < RUNS; run++) {
          for (let i = 0; i < networks.length; i++) {
            samples[i].push(await transfer(networks[i], port++, reverse, tick));
          }
        }
        if (ONLY.has("cpu")) {
          addRow(
            "cpu",
            `CPU s/GiB, MTU ${mtu}, ${direction}`,
            samples.map((s) => median(s.map((x) => x.cpuPerGiB))),
            2,
          );
        }
        if (ONLY.has("memory")) {
          addRow(
            "memory",
            `peak VmRSS MiB, iperf3, MTU ${mtu}, ${direction}`,
            samples.map((s) => median(s.map((x) => x.peakRss))),
            1,
          );
        }
      });
    }
  }
  if (ONLY.has("startup")) {
    const samples = IMPLEMENTATIONS.map(() => [] as number[]);
    for (let run = 0; run < STARTUP_RUNS; run++) {
      for (let i = 0; i < IMPLEMENTATIONS.length; i++) samples[i].push(await startup(i, MTUS[0]));
    }
    console.error(`  startup samples µs: ${JSON.stringify(samples)}`);
    addRow("startup", "start to --ready-fd byte, ms", samples.map((s) => median(s) / 1000), 1);
  }
  const header = ["section", "measure", ...IMPLEMENTATIONS.map((i) => i.name), "ratio"];
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  for (const row of all) {
    console.log(
      row.map((cell, c) => c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])).join("  "),
    );
  }
}

try {
  await main();
} finally {
  for (const child of children) await stop(child);
}
