/**
 * Soak: memory and fds under the same repeated work, side by side (issue 6: "no growth over a
 * 5-minute soak"). Every implementation gets a fresh namespace at the first MTU of BENCH_MTUS, an
 * echo server (bench/tcptool, TCP and UDP) and an iperf3 server on the host's 127.0.0.1, and runs
 * the same cycle of work through its gateway, all implementations at once:
 *
 * - iperf3 for BURST_SECONDS at full speed, alternating namespace→host and host→namespace (`-R`)
 *   (a time, not a byte count: the Debian 12 pasta reset 4 of 10 `iperf3 -n 128M` runs here);
 * - CHURN short TCP connections (connect, a byte and its echo, close);
 * - DATAGRAMS UDP datagrams with their echoes, on one flow (the same ports every cycle);
 * - ping -c 50 -i 0.01 to the gateway (not pasta: it answers no ping, see common.ts).
 *
 * A cycle starts at most every CYCLE_MS. After one warm-up cycle, VmRSS of each network process is
 * sampled every BENCH_SOAK_SECONDS / 60 s (1 to 5 s) for BENCH_SOAK_SECONDS (300); reported: VmRSS
 * after the warm-up, at the end and the most, the growth (least squares, MiB per minute, over the
 * second half of the samples), the open fds after the warm-up and after the end (each once the
 * load has settled for SETTLE_MS), the cycles done and the steps that failed (the others of that
 * cycle still run).
 *
 * Knobs (environment): BENCH_SOAK_SECONDS (300), BENCH_MTUS, BENCH_SLIRP4NETNS, BENCH_PASTA (see
 * common.ts), BENCH_TOOL (bench/run.sh sets it).
 *
 * Traffic goes only to 127.0.0.1 on the host, through the namespaces made here.
 */

import {
  echoServer,
  IMPLEMENTATIONS,
  IPERF3_TIMEOUT_MS,
  iperf3ClientArgv,
  MTUS,
  nextPort,
  openFds,
  output,
  printHeading,
  rss,
  run,
  type Running,
  sleep,
  startIperf3Server,
  Table,
  TOOL,
  withNetworks,
} from "./common.ts";

const SOAK_SECONDS = Number(Deno.env.get("BENCH_SOAK_SECONDS") ?? "300");
const SAMPLE_MS = Math.min(5, Math.max(1, SOAK_SECONDS / 60)) * 1000;
const CYCLE_MS = 5000;
const SETTLE_MS = 3000;
const BURST_SECONDS = 1;
const CHURN = 200;
const DATAGRAMS = 200;

/** One network under load: its servers' ports and what it did. */
interface Soaked {
  running: Running;
  echoPort: number;
  iperfPort: number;
  cycles: number;
  /** The steps that failed, by name. */
  failed: string[];
  /** Minutes since the warm-up, MiB. */
  samples: [number, number][];
}

/** One cycle of work through the gateway; a step that fails is counted, and the others run. */
async function cycle(soaked: Soaked): Promise<void> {
  const { running: { enter, impl }, echoPort, iperfPort } = soaked;
  const port = String(echoPort);
  const reverse = soaked.cycles % 2 === 1;
  const steps: [string, string[]][] = [
    ["iperf3", [...enter, ...iperf3ClientArgv(impl.gateway, iperfPort, reverse, BURST_SECONDS)]],
    ["churn", [...enter, TOOL, "churn", impl.gateway, port, String(CHURN)]],
    ["udp", [...enter, TOOL, "udp", impl.gateway, port, String(echoPort + 1), String(DATAGRAMS)]],
  ];
  if (impl.ping) {
    steps.push(["ping", [...enter, "ping", "-n", "-q", "-c", "50", "-i", "0.01", impl.gateway]]);
  }
  for (const [name, argv] of steps) {
    const { ok, out } = await output(argv, IPERF3_TIMEOUT_MS)
      .catch((error) => ({ ok: false, out: String(error) }));
    if (!ok) {
      soaked.failed.push(name);
      const reason = out.match(/"error":\s*"([^"]*)"/)?.[1] ?? out.trim().split("\n").pop();
      console.error(`  ${impl.name}: ${name} failed: ${reason}`);
      if (soaked.failed.length === 1) await printSockets(soaked);
    }
  }
  soaked.cycles++;
}

/**
 * The TCP sockets to the servers' ports, on the host and in the namespace, with their queues and
 * timers: printed at a network's first failed step, so that a stall can be told from a server that
 * stopped answering.
 */
async function printSockets(soaked: Soaked): Promise<void> {
  const ports = [soaked.iperfPort, soaked.echoPort].flatMap((
    p,
  ) => [`sport = :${p}`, `dport = :${p}`]);
  const filter = ["state", "all", `( ${ports.join(" or ")} )`];
  for (
    const argv of [["ss", "-tnoi", ...filter], [...soaked.running.enter, "ss", "-tnoi", ...filter]]
  ) {
    const { out } = await output(argv, 10_000).catch((error) => ({
      ok: false,
      out: String(error),
    }));
    console.error(out.trimEnd().split("\n").map((line) => `    ${line}`).join("\n"));
  }
}

/** Cycles until `end` (ms since the epoch), at most one every CYCLE_MS. */
async function load(soaked: Soaked, end: number): Promise<void> {
  while (Date.now() < end) {
    const started = Date.now();
    await cycle(soaked);
    await sleep(Math.max(0, Math.min(started + CYCLE_MS, end) - Date.now()));
  }
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx > 0 ? sxy / sxx : NaN;
}

async function main(): Promise<void> {
  if (TOOL === "") throw new Error("BENCH_TOOL is not set (run through bench/run.sh)");
  const mtu = MTUS[0];
  await printHeading(
    `Soak, ${SOAK_SECONDS} s at MTU ${mtu}, all implementations at once, a cycle at most every ` +
      `${CYCLE_MS / 1000} s: iperf3 -t ${BURST_SECONDS} (alternating -R), ${CHURN} ` +
      `short TCP connections, ${DATAGRAMS} UDP echoes on one flow, ping -c 50 -i 0.01 ` +
      `(not pasta); VmRSS every ${SAMPLE_MS / 1000} s`,
  );
  const table = new Table(["section", "measure"]);
  await withNetworks(mtu, async (networks) => {
    const soaked: Soaked[] = [];
    for (const running of networks) {
      // The echo server takes a port and the next (the UDP client's own port in the namespace).
      const echoPort = nextPort();
      nextPort();
      await echoServer(echoPort);
      const iperfPort = nextPort();
      await startIperf3Server("127.0.0.1", iperfPort, [], false);
      soaked.push({ running, echoPort, iperfPort, cycles: 0, failed: [], samples: [] });
    }
    await Promise.all(soaked.map(cycle));
    await sleep(SETTLE_MS);
    const fdsBefore = await Promise.all(networks.map((n) => openFds(n.pid)));
    const start = Date.now();
    const end = start + SOAK_SECONDS * 1000;
    const loads = Promise.all(soaked.map((s) => load(s, end)));
    for (let next = start; next <= end; next += SAMPLE_MS) {
      await sleep(Math.max(0, next - Date.now()));
      const minutes = (Date.now() - start) / 60_000;
      const mib = await Promise.all(networks.map((n) => rss(n.pid)));
      soaked.forEach((s, i) => s.samples.push([minutes, mib[i]]));
      console.error(
        `  ${(minutes * 60).toFixed(0)} s: VmRSS MiB ${
          soaked.map((s, i) => `${s.running.impl.name} ${mib[i].toFixed(1)}`).join(", ")
        }`,
      );
    }
    await loads;
    await sleep(SETTLE_MS);
    const fdsAfter = await Promise.all(networks.map((n) => openFds(n.pid)));
    const mib = (pick: (samples: number[]) => number) =>
      soaked.map((s) => pick(s.samples.map(([, y]) => y)));
    table.add(["soak", "VmRSS MiB after warm-up"], mib((y) => y[0]), 1);
    table.add(["soak", "VmRSS MiB at the end"], mib((y) => y[y.length - 1]), 1);
    table.add(["soak", "VmRSS MiB, most"], mib((y) => Math.max(...y)), 1);
    table.add(
      ["soak", "VmRSS growth MiB/min, 2nd half (least squares)"],
      soaked.map((s) => slope(s.samples.slice(Math.floor(s.samples.length / 2)))),
      2,
      false,
    );
    table.add(["soak", "open fds after warm-up"], fdsBefore, 0, false);
    table.add(["soak", "open fds at the end"], fdsAfter, 0, false);
    table.add(["soak", "cycles done (warm-up included)"], soaked.map((s) => s.cycles), 0, false);
    table.add(
      ["soak", "failed steps (warm-up included)"],
      soaked.map((s) => s.failed.length),
      0,
      false,
    );
    for (const { running, failed } of soaked) {
      const counts = Object.entries(Object.groupBy(failed, (name) => name));
      if (counts.length) {
        table.note(
          `${running.impl.name} failed: ${counts.map(([n, v]) => `${n} ×${v!.length}`).join(", ")}`,
        );
      }
    }
  });
  if (IMPLEMENTATIONS.some((i) => !i.ping)) table.note("pasta's cycles have no ping (common.ts).");
  table.print();
}

await run(main);
