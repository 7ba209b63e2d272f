/**
 * TCP throughput to the host's 127.0.0.1 through the gateway (10.0.2.2; pasta: 198.51.100.1), side
 * by side with slirp4netns and pasta in the same run: iperf3 from a fresh network namespace to a
 * server on the host's loopback, namespace→host and host→namespace (`iperf3 -R`), and through a
 * port forward, at MTU 1500 and 65520; then the same two directions over IPv6 (networks started
 * with `-6`, fd00::2 to the host's ::1; not pasta), with ours over IPv6 / over IPv4 as notes.
 * Many flows: 8 parallel streams either way, and one flow beside 1000 idle connections (bench/
 * tcptool `hold`), with each one's total / the single flow's as notes. Each case runs a few short
 * rounds, alternating the implementations, and reports the median receiver rate and the ratios
 * ours / each other (veth: the kernel's own path, root only, see common.ts).
 *
 * Knobs (environment): BENCH_SECONDS (4), BENCH_RUNS (3), BENCH_MTUS ("1500,65520"),
 * BENCH_SLIRP4NETNS, BENCH_PASTA, BENCH_VETH (see common.ts), BENCH_CONNECTIONS (1000), BENCH_TOOL
 * (the built bench/tcptool.c; bench/run.sh sets it).
 *
 * Traffic goes only to 127.0.0.1 through the namespaces made here.
 */

import {
  echoServer,
  firstLine,
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
  spawn,
  startIperf3Server,
  stop,
  Table,
  THROUGHPUT_IMPLEMENTATIONS,
  TOOL,
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
  // veth has no forward: the host connects to the namespace's end, as a root-only network would.
  const target = running.impl.veth ? running.impl.forwardTarget : "127.0.0.1";
  try {
    const client = await output(iperf3ClientArgv(target, port), IPERF3_TIMEOUT_MS);
    return iperf3Received(client.out).gbps;
  } finally {
    await stop(server);
  }
}

/**
 * One iperf3 run through the gateway, to the host's 127.0.0.1 (with IPv6 on, through the IPv6
 * gateway to the host's ::1), with `streams` parallel streams; returns the receiver's rate in
 * Gbit/s (all streams), NaN where there is no IPv6.
 */
async function iperf(running: Running, reverse: boolean, streams = 1): Promise<number> {
  const gateway = running.ipv6 ? running.impl.gateway6 : running.impl.gateway;
  if (gateway === null) return NaN;
  const port = nextPort();
  const impl = running.impl;
  const server = await startIperf3Server(running.ipv6 ? impl.hostServer6 : impl.hostServer, port);
  try {
    const client = await output(
      [...running.enter, ...iperf3ClientArgv(gateway, port, reverse, SECONDS, streams)],
      IPERF3_TIMEOUT_MS,
    );
    return iperf3Received(client.out).gbps;
  } finally {
    await stop(server);
  }
}

/**
 * One iperf3 run namespace→host beside IDLE_CONNECTIONS idle connections through the same
 * gateway to an echo server on the host (bench/tcptool `hold`, each set up with one echoed byte):
 * the bulk flow's rate with a full connection table.
 */
async function iperfBesideIdle(running: Running): Promise<number> {
  const port = nextPort();
  const impl = running.impl;
  const echo = await echoServer(port, impl.hostServer);
  const holder = spawn([
    ...running.enter,
    TOOL,
    "hold",
    impl.gateway,
    String(port),
    String(IDLE_CONNECTIONS),
  ]);
  try {
    await firstLine(holder, 120_000);
    return await iperf(running, false);
  } finally {
    await stop(holder);
    await stop(echo);
  }
}

type Measure = (running: Running) => Promise<number>;

/** Parallel streams of the many-flows rows. */
const STREAMS = 8;
/** Idle connections held through the gateway beside one bulk flow (BENCH_CONNECTIONS). */
const IDLE_CONNECTIONS = Number(Deno.env.get("BENCH_CONNECTIONS") ?? "1000");

/** What is measured: through the gateway either way, or into the namespace through a forward. */
const DIRECTIONS: [string, Measure][] = [
  ["namespace→host", (running) => iperf(running, false)],
  ["host→namespace", (running) => iperf(running, true)],
  ["host→namespace, API forward (pasta: -t forward, spliced)", iperfForward],
  [
    `namespace→host, ${STREAMS} streams (-P ${STREAMS})`,
    (running) => iperf(running, false, STREAMS),
  ],
  [
    `host→namespace, ${STREAMS} streams (-P ${STREAMS})`,
    (running) => iperf(running, true, STREAMS),
  ],
  [`namespace→host beside ${IDLE_CONNECTIONS} idle connections`, iperfBesideIdle],
];

/** The same through the IPv6 gateway (fd00::2) to the host's ::1, networks started with `-6`. */
const DIRECTIONS6: [string, Measure][] = [
  ["namespace→host, IPv6", (running) => iperf(running, false)],
  ["host→namespace, IPv6", (running) => iperf(running, true)],
];

/** Runs each direction `RUNS` times on every network, alternating; the medians, by direction. */
async function measureAll(
  mtu: number,
  networks: Running[],
  directions: [string, Measure][],
  table: Table,
): Promise<Map<string, number[]>> {
  const medians = new Map<string, number[]>();
  for (const [direction, measure] of directions) {
    const samples = networks.map(() => [] as number[]);
    for (let round = 0; round < RUNS; round++) {
      for (const [i, network] of networks.entries()) {
        samples[i].push(await measure(network));
      }
    }
    console.error(
      `  samples: ${JSON.stringify(samples.map((s) => s.map((x) => +x.toFixed(2))))}`,
    );
    medians.set(direction, samples.map(median));
    table.add([String(mtu), direction], samples.map(median), 2);
  }
  return medians;
}

async function main(): Promise<void> {
  if (TOOL === "") throw new Error("BENCH_TOOL is not set (run through bench/run.sh)");
  await printHeading(
    `TCP to the host's 127.0.0.1 through the gateway, iperf3 -t ${SECONDS}, median of ${RUNS} ` +
      `(Gbit/s, receiver side; higher is better)`,
  );
  const table = new Table(["MTU", "direction"], THROUGHPUT_IMPLEMENTATIONS);
  for (const mtu of MTUS) {
    let ipv4 = new Map<string, number[]>();
    await withNetworks(
      mtu,
      async (networks) => {
        ipv4 = await measureAll(mtu, networks, DIRECTIONS, table);
      },
      true,
      false,
      THROUGHPUT_IMPLEMENTATIONS,
    );
    // Many flows against one: each implementation's total over its own single flow.
    for (const [index, single] of [[3, 0], [4, 1], [5, 0]]) {
      const many = ipv4.get(DIRECTIONS[index][0])!;
      const one = ipv4.get(DIRECTIONS[single][0])!;
      const ratios = THROUGHPUT_IMPLEMENTATIONS.map((impl, i) =>
        `${impl.name} ${(many[i] / one[i]).toFixed(2)}`
      );
      table.note(
        `MTU ${mtu}, ${DIRECTIONS[index][0]} / ${DIRECTIONS[single][0]}: ${ratios.join(", ")}`,
      );
    }
    await withNetworks(
      mtu,
      async (networks) => {
        const ipv6 = await measureAll(mtu, networks, DIRECTIONS6, table);
        for (const [index, [direction]] of DIRECTIONS6.entries()) {
          const ours6 = ipv6.get(direction)![0];
          const ours4 = ipv4.get(DIRECTIONS[index][0])![0];
          table.note(
            `MTU ${mtu}, ${DIRECTIONS[index][0]}: ours over IPv6 / over IPv4 = ` +
              `${(ours6 / ours4).toFixed(2)}`,
          );
        }
      },
      false,
      true,
      THROUGHPUT_IMPLEMENTATIONS,
    );
  }
  table.print();
}

await run(main);
