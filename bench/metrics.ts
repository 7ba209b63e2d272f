/**
 * Latency, cost, memory and start-up, side by side with slirp4netns and pasta in the same run
 * (issue 6); "the gateway" is 10.0.2.2 (pasta: 198.51.100.1, see common.ts), which reaches the
 * host's 127.0.0.1:
 *
 * - latency: `ping -i 0.005` to the gateway from the namespace (avg and p50 RTT; ours and
 *   slirp4netns answer it themselves, pasta answers no ping: "-"), and 1-byte TCP request/response
 *   round trips over one connection through the gateway to an echo server on the host's 127.0.0.1
 *   (median and mean µs per round trip), and BENCH_DNS_QUERIES sequential DNS queries (A,
 *   bench.example) from one process to 10.0.2.3:53, forwarded to a dnsmasq the bench starts on the
 *   host's 127.0.0.77, the only nameserver in a private resolv.conf bind-mounted over
 *   /etc/resolv.conf in a mount namespace of the network process's own (median and p90 µs; root
 *   and dnsmasq only; pasta: "-"); at the first MTU of BENCH_MTUS. Then the same three as real
 *   clients leave them, BENCH_SPACED round trips 1 ms apart (ping -i 0.001; tcptool's GAP_US
 *   1000: a sleep after each answer): past the busy-poll window, so each request finds the
 *   network process asleep (median µs).
 * - cpu: CPU seconds (utime + stime of /proc/PID/stat, read with `cat`; ours is the whole deno
 *   process, workers included) per GiB received in an iperf3 run, each MTU and both directions.
 * - memory: VmRSS idle, with 1000 idle TCP connections through the gateway to a host server that
 *   holds them, and the peak VmRSS sampled during a full-speed iperf3 run (the cpu runs).
 * - startup: milliseconds from fork to tap0 existing in the namespace (a netlink watcher there sees
 *   RTM_NEWLINK; what `slirp4netns PID tap0 & ip link set tap0 up` races against) and to the ready
 *   signal (`-c -r 3`: the `--ready-fd` byte; pasta: `-P /proc/self/fd/3`, its PID file, written
 *   once it is set up), median of BENCH_STARTUP_RUNS.
 *
 * Each group (idle memory, latency, each transfer direction) gets freshly started processes:
 * slirp4netns keeps memory it grew in an earlier test.
 *
 * Knobs (environment): BENCH_ONLY (sections, comma-separated; bench/run.sh passes it),
 * BENCH_SECONDS, BENCH_RUNS, BENCH_MTUS, BENCH_SLIRP4NETNS, BENCH_PASTA (see common.ts),
 * BENCH_PINGS (200), BENCH_ROUNDTRIPS (5000), BENCH_CONNECTIONS (1000), BENCH_STARTUP_RUNS (10),
 * BENCH_DNS_QUERIES (2000), BENCH_SPACED (1000),
 * BENCH_TOOL (the built bench/tcptool.c; bench/run.sh sets it).
 *
 * Traffic goes only to 127.0.0.1 (and the bench's dnsmasq on 127.0.0.77) on the host, through the
 * namespaces made here.
 */

import {
  DNS_NAME,
  echoServer,
  firstLine,
  IMPLEMENTATIONS,
  IPERF3_TIMEOUT_MS,
  iperf3ClientArgv,
  iperf3Received,
  makeNetns,
  median,
  MTUS,
  nextPort,
  output,
  printHeading,
  ROOT,
  rss,
  run,
  type Running,
  RUNS,
  SECONDS,
  sleep,
  spawn,
  startDnsServer,
  startIperf3Server,
  startNetwork,
  stop,
  stopNetwork,
  Table,
  TOOL,
  withNetworks,
} from "./common.ts";

const ONLY = new Set(
  (Deno.env.get("BENCH_ONLY") ?? "latency,cpu,memory,startup").split(",").map((s) => s.trim()),
);
const PINGS = Number(Deno.env.get("BENCH_PINGS") ?? "200");
const ROUNDTRIPS = Number(Deno.env.get("BENCH_ROUNDTRIPS") ?? "5000");
const CONNECTIONS = Number(Deno.env.get("BENCH_CONNECTIONS") ?? "1000");
const STARTUP_RUNS = Number(Deno.env.get("BENCH_STARTUP_RUNS") ?? "10");
const DNS_QUERIES = Number(Deno.env.get("BENCH_DNS_QUERIES") ?? "2000");
const SPACED = Number(Deno.env.get("BENCH_SPACED") ?? "1000");
/** The gap of the spaced round trips, µs. */
const GAP_US = 1000;

const table = new Table(["section", "measure"]);

/** utime + stime of a whole process, in seconds. */
async function cpuSeconds(pid: number, tick: number): Promise<number> {
  const stat = (await output(["cat", `/proc/${pid}/stat`])).out;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / tick;
}

/**
 * Ping RTTs in µs, `count` pings `interval` seconds apart; none where the gateway answers no ping
 * (pasta).
 */
async function pings(running: Running, count = PINGS, interval = "0.005"): Promise<number[]> {
  if (!running.impl.ping) return [];
  const result = await output(
    [...running.enter, "ping", "-n", "-c", String(count), "-i", interval, running.impl.gateway],
    count * 100 + 10_000,
  );
  const rtts = [...result.out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
  if (rtts.length === 0) throw new Error(`ping: ${result.out}`);
  return rtts;
}

/**
 * Median and mean µs of `rounds` 1-byte round trips through the gateway, back to back or `gapUs`
 * apart.
 */
async function pingPong(
  running: Running,
  rounds = ROUNDTRIPS,
  gapUs = 0,
): Promise<[number, number]> {
  const port = nextPort();
  const server = await echoServer(port);
  try {
    const result = await output(
      [
        ...running.enter,
        TOOL,
        "pingpong",
        running.impl.gateway,
        String(port),
        String(rounds),
        String(gapUs),
      ],
      rounds * (10 + gapUs / 1000) + 30_000,
    );
    if (!result.ok) throw new Error(`pingpong: ${result.out}`);
    const [med, avg] = result.out.trim().split(" ").map(Number);
    return [med, avg];
  } finally {
    await stop(server);
  }
}

/**
 * Median and p90 µs of DNS_QUERIES sequential queries to 10.0.2.3:53 from one process, and the
 * median of SPACED queries 1 ms apart, per implementation (NaN where it does not take part:
 * pasta, and rootless). Each network runs alone, in a mount namespace whose /etc/resolv.conf
 * names only the bench's dnsmasq (common.ts).
 */
async function dnsLatency(mtu: number): Promise<[number, number, number][]> {
  const results = IMPLEMENTATIONS.map((): [number, number, number] => [NaN, NaN, NaN]);
  if (!ROOT || !(await output(["sh", "-c", "command -v dnsmasq"])).ok) return results;
  const { server, resolvConf } = await startDnsServer();
  try {
    for (const [i, impl] of IMPLEMENTATIONS.entries()) {
      if (!impl.dns) continue;
      const running = await startNetwork(impl, mtu, false, resolvConf);
      try {
        const result = await output(
          [...running.enter, TOOL, "dns", "10.0.2.3", String(DNS_QUERIES), DNS_NAME],
          DNS_QUERIES * 10 + 30_000,
        );
        if (!result.ok) throw new Error(`dns (${impl.name}): ${result.out}`);
        const [med, p90] = result.out.trim().split(" ").map(Number);
        const spaced = await output(
          [...running.enter, TOOL, "dns", "10.0.2.3", String(SPACED), DNS_NAME, String(GAP_US)],
          SPACED * 12 + 30_000,
        );
        if (!spaced.ok) throw new Error(`dns, spaced (${impl.name}): ${spaced.out}`);
        results[i] = [med, p90, Number(spaced.out.trim().split(" ")[0])];
      } finally {
        await stopNetwork(running);
      }
    }
  } finally {
    await stop(server);
    await output(["rm", "-f", resolvConf]);
  }
  return results;
}

/** VmRSS (MiB) with CONNECTIONS idle connections through the gateway. */
async function idleConnections(running: Running): Promise<number> {
  const port = nextPort();
  const server = await echoServer(port);
  const holder = spawn([
    ...running.enter,
    TOOL,
    "hold",
    running.impl.gateway,
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
  reverse: boolean,
  tick: number,
): Promise<{ cpuPerGiB: number; peakRss: number; gbps: number }> {
  const port = nextPort();
  const server = await startIperf3Server("127.0.0.1", port);
  try {
    const before = await cpuSeconds(running.pid, tick);
    const client = output(
      [...running.enter, ...iperf3ClientArgv(running.impl.gateway, port, reverse)],
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

/** µs from fork to tap0 existing and to the ready signal, for a fresh namespace. */
async function startup(index: number, mtu: number): Promise<{ tap: number; ready: number }> {
  const impl = IMPLEMENTATIONS[index];
  const ns = await makeNetns(impl.runAs);
  const apiSocket = `/tmp/slirp-bench-${Deno.pid}-${impl.name}-startup.sock`;
  try {
    await output(["rm", "-f", apiSocket]);
    // As the namespace's owner (pasta as root: nobody), so that pasta may reopen the pipe.
    const result = await output(
      [
        ...impl.runAs,
        TOOL,
        "startup",
        "3",
        String(ns.pid),
        "tap0",
        ...impl.argv(mtu, ns.pid, { apiSocket, readyFd: 3 }),
      ],
      30_000,
    );
    const us = result.out.match(/^(\d+) (\d+)$/m);
    if (!result.ok || !us) throw new Error(`startup of ${impl.name}: ${result.out}`);
    return { tap: Number(us[1]), ready: Number(us[2]) };
  } finally {
    await stop(ns.holder);
    await output(["rm", "-f", apiSocket]);
  }
}

/** The mean, NaN for none. */
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

async function main(): Promise<void> {
  if (TOOL === "") throw new Error("BENCH_TOOL is not set (run through bench/run.sh)");
  const tick = Number((await output(["getconf", "CLK_TCK"])).out.trim());
  await printHeading(
    `Latency, cost, memory, start-up (${[...ONLY].join(",")}); iperf3 -t ${SECONDS}, ` +
      `median of ${RUNS}; ping -c ${PINGS} -i 0.005; ${ROUNDTRIPS} TCP round trips; ` +
      `${SPACED} of each 1 ms apart; ` +
      `${DNS_QUERIES} DNS queries; ` +
      `${CONNECTIONS} idle connections; start-up median of ${STARTUP_RUNS}; lower is better`,
  );
  for (const mtu of MTUS) {
    const first = mtu === MTUS[0];
    const wantLatency = first && ONLY.has("latency");
    const wantIdle = first && ONLY.has("memory");
    const wantTransfer = ONLY.has("cpu") || ONLY.has("memory");
    if (wantIdle) {
      // Fresh networks: slirp4netns keeps memory it grew under load, so the idle figures come
      // first and from processes that moved nothing else.
      await withNetworks(mtu, async (networks) => {
        table.add(
          ["memory", `VmRSS MiB, idle (MTU ${mtu})`],
          await Promise.all(networks.map((n) => rss(n.pid))),
          1,
        );
        const held: number[] = [];
        for (const network of networks) held.push(await idleConnections(network));
        table.add(["memory", `VmRSS MiB, ${CONNECTIONS} idle TCP conns`], held, 1);
      });
    }
    if (wantLatency) {
      await withNetworks(mtu, async (networks) => {
        const rtts = networks.map(() => [] as number[]);
        const rounds = networks.map(() => [] as [number, number][]);
        const spacedRtts = networks.map(() => [] as number[]);
        const spacedRounds = networks.map(() => [] as number[]);
        for (let round = 0; round < RUNS; round++) {
          for (const [i, network] of networks.entries()) {
            rtts[i].push(...await pings(network));
            rounds[i].push(await pingPong(network));
            spacedRtts[i].push(...await pings(network, SPACED, String(GAP_US / 1e6)));
            spacedRounds[i].push((await pingPong(network, SPACED, GAP_US))[0]);
          }
        }
        table.add(["latency", `ping gateway avg µs (MTU ${mtu})`], rtts.map(mean), 0);
        table.add(
          ["latency", `ping gateway p50 µs (MTU ${mtu})`],
          rtts.map((r) => r.length ? median(r) : NaN),
          0,
        );
        table.add(
          ["latency", `TCP 1-byte round trip median µs`],
          rounds.map((r) => median(r.map((x) => x[0]))),
          1,
        );
        table.add(
          ["latency", `TCP 1-byte round trip mean µs`],
          rounds.map((r) => median(r.map((x) => x[1]))),
          1,
        );
        table.add(
          ["latency", `ping gateway p50 µs, 1 ms apart`],
          spacedRtts.map((r) => r.length ? median(r) : NaN),
          0,
        );
        table.add(
          ["latency", `TCP 1-byte round trip median µs, 1 ms apart`],
          spacedRounds.map(median),
          1,
        );
        if (IMPLEMENTATIONS.some((i) => !i.ping)) {
          table.note(
            "ping: ours and slirp4netns answer the gateway themselves; pasta relays echo requests " +
              "through ping sockets to the real address (198.51.100.1 is not on this host), so -.",
          );
        }
      });
      const dns = await dnsLatency(mtu);
      table.add(
        ["latency", "DNS query median µs (10.0.2.3, sequential)"],
        dns.map((d) => d[0]),
        1,
      );
      table.add(["latency", "DNS query p90 µs (10.0.2.3, sequential)"], dns.map((d) => d[1]), 1);
      table.add(["latency", "DNS query median µs, 1 ms apart"], dns.map((d) => d[2]), 1);
      if (dns.every((d) => Number.isNaN(d[0]))) {
        table.note("DNS: needs root and dnsmasq (port 53, a mount namespace), so -.");
      }
      if (IMPLEMENTATIONS.some((i) => !i.dns)) {
        table.note(
          "DNS: pasta forwards DNS differently (no 10.0.2.3 forwarder to the resolv.conf " +
            "nameservers in this setup), so -.",
        );
      }
    }
    // Fresh networks per direction, so a peak is not memory kept from an earlier test.
    for (const reverse of wantTransfer ? [false, true] : []) {
      await withNetworks(mtu, async (networks) => {
        const direction = reverse ? "host→namespace" : "namespace→host";
        const samples = networks.map(() => [] as { cpuPerGiB: number; peakRss: number }[]);
        for (let round = 0; round < RUNS; round++) {
          for (const [i, network] of networks.entries()) {
            samples[i].push(await transfer(network, reverse, tick));
          }
        }
        if (ONLY.has("cpu")) {
          table.add(
            ["cpu", `CPU s/GiB, MTU ${mtu}, ${direction}`],
            samples.map((s) => median(s.map((x) => x.cpuPerGiB))),
            2,
          );
        }
        if (ONLY.has("memory")) {
          table.add(
            ["memory", `peak VmRSS MiB, iperf3, MTU ${mtu}, ${direction}`],
            samples.map((s) => median(s.map((x) => x.peakRss))),
            1,
          );
        }
      });
    }
  }
  if (ONLY.has("startup")) {
    const samples = IMPLEMENTATIONS.map(() => [] as { tap: number; ready: number }[]);
    for (let round = 0; round < STARTUP_RUNS; round++) {
      for (let i = 0; i < IMPLEMENTATIONS.length; i++) samples[i].push(await startup(i, MTUS[0]));
    }
    console.error(`  startup samples µs: ${JSON.stringify(samples)}`);
    table.add(
      ["startup", "start to tap0 in the namespace, ms"],
      samples.map((s) => median(s.map((x) => x.tap)) / 1000),
      1,
    );
    table.add(
      ["startup", "start to ready signal, ms (pasta: PID file)"],
      samples.map((s) => median(s.map((x) => x.ready)) / 1000),
      1,
    );
  }
  table.print();
}

await run(main);
