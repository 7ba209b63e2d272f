/**
 * What seeing inside costs (issue 14), ours only: iperf3 through the gateway both ways without
 * `--pcap`, with `--pcap=/dev/null` (the capture's own work: the lock, the clock, one writev per
 * frame) and with `--pcap` to a file under /tmp (the page cache's copy too; removed after each
 * run), Gbit/s and CPU seconds per GiB; and the time `get_stats` takes to answer, idle and while
 * iperf3 runs (median, p99, max of requests every 50 ms).
 *
 * Knobs: BENCH_SECONDS (4), BENCH_RUNS (3), BENCH_MTUS ("1500,65520"), BENCH_STATS_REQUESTS (40).
 * Traffic goes only to the host's 127.0.0.1 through the namespaces made here.
 */
import {
  type Implementation,
  IMPLEMENTATIONS,
  IPERF3_TIMEOUT_MS,
  iperf3ClientArgv,
  iperf3Received,
  median,
  MTUS,
  nextPort,
  output,
  printHeading,
  run,
  type Running,
  RUNS,
  sleep,
  spawn,
  startIperf3Server,
  startNetwork,
  stop,
  stopNetwork,
} from "./common.ts";

const STATS_REQUESTS = Number(Deno.env.get("BENCH_STATS_REQUESTS") ?? "40");
const PCAP_FILE = `/tmp/slirp-bench-${Deno.pid}.pcap`;

const ours = IMPLEMENTATIONS[0];
/** Ours with extra options before the positionals; `name` (no slash) names its files too. */
function oursWith(name: string, extra: string[]): Implementation {
  return {
    ...ours,
    name,
    argv: (mtu, pid, options) => {
      const argv = ours.argv(mtu, pid, options);
      return [...argv.slice(0, -2), ...extra, ...argv.slice(-2)];
    },
  };
}

const VARIANTS: Implementation[] = [
  ours,
  oursWith("ours-pcap-devnull", ["--pcap=/dev/null"]),
  oursWith("ours-pcap-file", [`--pcap=${PCAP_FILE}`]),
];

const LABELS: Record<string, string> = {
  ours: "no capture",
  "ours-pcap-devnull": "--pcap=/dev/null",
  "ours-pcap-file": "--pcap=/tmp/FILE",
};

/** utime + stime of `pid` in seconds (the whole process, every thread; USER_HZ 100). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = (await output(["cat", `/proc/${pid}/stat`])).out;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

/** One iperf3 run through the gateway: Gbit/s and CPU seconds per GiB of the network process. */
async function iperf(running: Running, reverse: boolean): Promise<[number, number]> {
  const port = nextPort();
  const server = await startIperf3Server("127.0.0.1", port);
  try {
    const before = await cpuSeconds(running.pid);
    const client = await output(
      [...running.enter, ...iperf3ClientArgv(running.impl.gateway, port, reverse)],
      IPERF3_TIMEOUT_MS,
    );
    const cpu = await cpuSeconds(running.pid) - before;
    const received = iperf3Received(client.out);
    return [received.gbps, cpu / (received.bytes / 2 ** 30)];
  } finally {
    await stop(server);
  }
}

/** One get_stats over the API socket: milliseconds from connect to the whole reply. */
async function getStatsMs(socket: string): Promise<number> {
  const started = performance.now();
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    await conn.write(
      new TextEncoder().encode('{"execute":"get_stats","arguments":{"connections":true}}'),
    );
    await conn.closeWrite();
    let reply = "";
    const buffer = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      reply += new TextDecoder().decode(buffer.subarray(0, n));
    }
    if (!reply.startsWith('{"return":')) throw new Error(`get_stats: ${reply.slice(0, 200)}`);
  } finally {
    conn.close();
  }
  return performance.now() - started;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function statsLatency(socket: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < STATS_REQUESTS; i++) {
    times.push(await getStatsMs(socket));
    await sleep(50);
  }
  return times;
}

function socketOf(running: Running): string {
  return running.files.find((f) => f.endsWith(".sock"))!;
}

async function main(): Promise<void> {
  await printHeading("## Capture and get_stats (ours only)");
  const rows: string[] = [];
  const row = (cells: (string | number)[]) => rows.push(`| ${cells.join(" | ")} |`);
  for (const mtu of MTUS) {
    for (const reverse of [false, true]) {
      const direction = reverse ? "host→namespace" : "namespace→host";
      const results = new Map<string, [number[], number[]]>();
      for (let r = 0; r < RUNS; r++) {
        for (const variant of VARIANTS) {
          const running = await startNetwork(variant, mtu);
          try {
            const [gbps, cpu] = await iperf(running, reverse);
            const entry = results.get(variant.name) ?? [[], []];
            entry[0].push(gbps);
            entry[1].push(cpu);
            results.set(variant.name, entry);
            console.error(
              `  ${mtu} ${direction} ${variant.name}: ${gbps.toFixed(2)} Gbit/s, ${
                cpu.toFixed(2)
              } CPU s/GiB`,
            );
          } finally {
            await stopNetwork(running);
            await output(["rm", "-f", PCAP_FILE]);
          }
        }
      }
      const [baseGbps, baseCpu] = results.get(ours.name)!.map(median);
      for (const variant of VARIANTS) {
        const [gbps, cpu] = results.get(variant.name)!.map(median);
        row([
          mtu,
          direction,
          LABELS[variant.name] ?? variant.name,
          gbps.toFixed(2),
          `${(gbps / baseGbps).toFixed(2)}x`,
          cpu.toFixed(2),
          `${(cpu / baseCpu).toFixed(2)}x`,
        ]);
      }
    }
  }
  console.log("| MTU | direction | variant | Gbit/s | vs plain | CPU s/GiB | vs plain |");
  console.log("| --- | --- | --- | ---: | ---: | ---: | ---: |");
  rows.forEach((line) => console.log(line));

  // get_stats: idle, then while iperf3 runs namespace→host for long enough to cover the requests.
  const mtu = MTUS[0];
  const running = await startNetwork(ours, mtu);
  try {
    const socket = socketOf(running);
    const idle = await statsLatency(socket);
    const port = nextPort();
    const server = await startIperf3Server("127.0.0.1", port);
    const seconds = Math.ceil((STATS_REQUESTS * 60) / 1000) + 2;
    const load = spawn(
      [...running.enter, ...iperf3ClientArgv(ours.gateway, port, false, seconds)],
      {
        discardOutput: true,
      },
    );
    await sleep(1000);
    const busy = await statsLatency(socket);
    await stop(load);
    await stop(server);
    console.log("\n| get_stats with connections (ms) | median | p99 | max |");
    console.log("| --- | ---: | ---: | ---: |");
    for (
      const [label, times] of [["idle", idle], [`under iperf3 load, MTU ${mtu}`, busy]] as const
    ) {
      console.log(
        `| ${label} | ${median(times).toFixed(2)} | ${percentile(times, 0.99).toFixed(2)} | ${
          Math.max(...times).toFixed(2)
        } |`,
      );
    }
  } finally {
    await stopNetwork(running);
  }
}

await run(main);
