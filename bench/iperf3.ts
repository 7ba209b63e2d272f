/**
 * TCP throughput to the host's 127.0.0.1 through the gateway (10.0.2.2; pasta: 198.51.100.1), side
 * by side with slirp4netns and pasta in the same run: iperf3 from a fresh network namespace to a
 * server on the host's loopback, namespace→host and host→namespace (`iperf3 -R`), and through a
 * port forward, at MTU 1500 and 65520. Each case runs a few short rounds, alternating the
 * implementations, and reports the median receiver rate and the ratios ours / each other.
 *
 * Knobs (environment): BENCH_SECONDS (4), BENCH_RUNS (3), BENCH_MTUS ("1500,65520"),
 * BENCH_SLIRP4NETNS, BENCH_PASTA (see common.ts).
 *
 * Traffic goes only to 127.0.0.1 through the namespaces made here.
 */

import {
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
  SECONDS,
  startIperf3Server,
  stop,
  Table,
  withNetworks,
} from "./common.ts";

/**
 * One iperf3 run through the network's port forward (slirp4netns's benchmark-iperf3-reverse.sh):
 * `iperf3 -s` in the namespace (10.0.2.100; pasta: 127.0.0.1), `iperf3 -c 127.0.0.1` to the
 * forwarded port on the host. Returns the receiver's rate in Gbit/s.
 */
async function iperfForward(running: Running): Promise<number> {
  const port = running.forwardPort!;
  const server = await startIperf3Server(running.impl.forwardTarget, port, running.enter);
  try {
    const client = await output(iperf3ClientArgv("127.0.0.1", port), IPERF3_TIMEOUT_MS);
    return iperf3Received(client.out).gbps;
  } finally {
    await stop(server);
  }
}

/** One iperf3 run through the gateway; returns the receiver's rate in Gbit/s. */
async function iperf(running: Running, reverse: boolean): Promise<number> {
  const port = nextPort();
  const server = await startIperf3Server("127.0.0.1", port);
  try {
    const client = await output(
      [...running.enter, ...iperf3ClientArgv(running.impl.gateway, port, reverse)],
      IPERF3_TIMEOUT_MS,
    );
    return iperf3Received(client.out).gbps;
  } finally {
    await stop(server);
  }
}

/** What is measured: through the gateway either way, or into the namespace through a forward. */
const DIRECTIONS: [string, (running: Running) => Promise<number>][] = [
  ["namespace→host", (running) => iperf(running, false)],
  ["host→namespace", (running) => iperf(running, true)],
  ["host→namespace, API forward (pasta: -t forward, spliced)", iperfForward],
];

async function main(): Promise<void> {
  await printHeading(
    `TCP to the host's 127.0.0.1 through the gateway, iperf3 -t ${SECONDS}, median of ${RUNS} ` +
      `(Gbit/s, receiver side; higher is better)`,
  );
  const table = new Table(["MTU", "direction"]);
  for (const mtu of MTUS) {
    await withNetworks(mtu, async (networks) => {
      for (const [direction, measure] of DIRECTIONS) {
        const samples = networks.map(() => [] as number[]);
        for (let round = 0; round < RUNS; round++) {
          for (const [i, network] of networks.entries()) {
            samples[i].push(await measure(network));
          }
        }
        console.error(
          `  samples: ${JSON.stringify(samples.map((s) => s.map((x) => +x.toFixed(2))))}`,
        );
        table.add([String(mtu), direction], samples.map(median), 2);
      }
    }, true);
  }
  table.print();
}

await run(main);
