/**
 * TCP throughput through 10.0.2.2 (the host's 127.0.0.1), side by side with slirp4netns in the
 * same run: iperf3 from a fresh network namespace to a server on the host's loopback,
 * namespace→host and host→namespace (`iperf3 -R`), at MTU 1500 and 65520. Each case runs a few
 * short rounds, alternating the implementations, and reports the median receiver rate and the
 * ratio ours / slirp4netns.
 *
 * Knobs (environment): BENCH_SECONDS (4), BENCH_RUNS (3), BENCH_MTUS ("1500,65520"),
 * BENCH_SLIRP4NETNS (/usr/bin/slirp4netns; empty to measure ours alone).
 *
 * Traffic goes only to 127.0.0.1 through the namespaces made here.
 */

import {
  children,
  IMPLEMENTATIONS,
  IPERF3_TIMEOUT_MS,
  iperf3ClientArgv,
  iperf3Received,
  machineLine,
  median,
  MTUS,
  output,
  type Running,
  RUNS,
  SECONDS,
  startIperf3Server,
  startNetwork,
  stop,
} from "./common.ts";

/** What is measured: through 10.0.2.2 either way, or into the namespace through a forward. */
type Direction = "namespace→host" | "host→namespace" | "host→namespace, forward";
const DIRECTIONS: Direction[] = ["namespace→host", "host→namespace", "host→namespace, forward"];

/**
 * One iperf3 run through an API port forward (slirp4netns's benchmark-iperf3-reverse.sh):
 * `iperf3 -s` on 10.0.2.100 in the namespace, add_hostfwd PORT→PORT, `iperf3 -c 127.0.0.1`
 * on the host. Returns the receiver's rate in Gbit/s.
 */
async function iperfForward(running: Running, port: number): Promise<number> {
  const server = await startIperf3Server("10.0.2.100", port, running.enter);
  try {
    const request = JSON.stringify({
      execute: "add_hostfwd",
      arguments: { proto: "tcp", host_addr: "127.0.0.1", host_port: port, guest_port: port },
    });
    const added = await output([
      "sh",
      "-c",
      'echo "$1" | ncat -U "$0"',
      running.apiSocket,
      request,
    ]);
    if (!added.out.includes('"return"')) throw new Error(`add_hostfwd: ${added.out}`);
    const client = await output(iperf3ClientArgv("127.0.0.1", port), IPERF3_TIMEOUT_MS);
    return iperf3Received(client.out).gbps;
  } finally {
    await stop(server);
  }
}

/** One iperf3 run; returns the receiver's rate in Gbit/s. */
async function iperf(running: Running, port: number, reverse: boolean): Promise<number> {
  const server = await startIperf3Server("127.0.0.1", port);
  try {
    const client = await output(
      [...running.enter, ...iperf3ClientArgv("10.0.2.2", port, reverse)],
      IPERF3_TIMEOUT_MS,
    );
    return iperf3Received(client.out).gbps;
  } finally {
    await stop(server);
  }
}

async function main(): Promise<void> {
  console.log(
    `TCP through 10.0.2.2, iperf3 -t ${SECONDS}, median of ${RUNS} (Gbit/s, receiver side)`,
  );
  console.log(await machineLine());
  const rows: string[][] = [["MTU", "direction", ...IMPLEMENTATIONS.map((i) => i.name), "ratio"]];
  let port = 20000 + Math.floor(Math.random() * 20000);
  for (const mtu of MTUS) {
    const networks: Running[] = [];
    try {
      for (const impl of IMPLEMENTATIONS) networks.push(await startNetwork(impl, mtu));
      for (const direction of DIRECTIONS) {
        const samples = networks.map(() => [] as number[]);
        for (let run = 0; run < RUNS; run++) {
          for (let i = 0; i < networks.length; i++) {
            samples[i].push(
              direction === "host→namespace, forward"
                ? await iperfForward(networks[i], port++)
                : await iperf(networks[i], port++, direction === "host→namespace"),
            );
          }
        }
        const medians = samples.map(median);
        const ratio = medians.length > 1 ? `${(medians[0] / medians[1]).toFixed(2)}x` : "-";
        const row = [
          String(mtu),
          direction,
          ...medians.map((m) => m.toFixed(2)),
          ratio,
        ];
        rows.push(row);
        console.error(
          `  ${row.join("  ")}   samples: ${
            JSON.stringify(samples.map((s) => s.map((x) => +x.toFixed(2))))
          }`,
        );
      }
    } finally {
      for (const network of networks) {
        for (const p of network.processes) await stop(p);
        await output(["rm", "-f", network.apiSocket]);
      }
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const row of rows) {
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
