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

const REPO = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");
const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? "4");
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? "3");
const MTUS = (Deno.env.get("BENCH_MTUS") ?? "1500,65520").split(",").map(Number);
const SLIRP4NETNS = Deno.env.get("BENCH_SLIRP4NETNS") ?? "/usr/bin/slirp4netns";
const ROOT = Deno.uid() === 0;

interface Implementation {
  name: string;
  argv: (mtu: number, pid: number, apiSocket: string) => string[];
}

const IMPLEMENTATIONS: Implementation[] = [
  {
    name: "ours",
    argv: (mtu, pid, apiSocket) => [
      Deno.execPath(),
      "run",
      "--allow-ffi",
      "--allow-net",
      `--allow-read=${REPO}`,
      `${REPO}/cli.ts`,
      "-c",
      `--mtu=${mtu}`,
      `--api-socket=${apiSocket}`,
      String(pid),
      "tap0",
    ],
  },
  ...(SLIRP4NETNS === "" ? [] : [{
    name: "slirp4netns",
    argv: (mtu: number, pid: number, apiSocket: string) => [
      SLIRP4NETNS,
      "-c",
      `--mtu=${mtu}`,
      `--api-socket=${apiSocket}`,
      String(pid),
      "tap0",
    ],
  }]),
];

/** Processes to kill on the way out, by PID. */
const children: Deno.ChildProcess[] = [];

function spawn(argv: string[]): Deno.ChildProcess {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  children.push(child);
  return child;
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  await child.status;
  await Promise.allSettled([child.stdout.cancel(), child.stderr.cancel()]);
}

async function output(argv: string[], timeoutMs = 60_000): Promise<{ ok: boolean; out: string }> {
  const command = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  });
  const result = await command.output();
  const decoder = new TextDecoder();
  return {
    ok: result.success,
    out: decoder.decode(result.stdout) + decoder.decode(result.stderr),
  };
}

/** A namespace held by `sleep`: its PID and how to run commands inside. */
async function makeNetns(): Promise<{ pid: number; holder: Deno.ChildProcess; enter: string[] }> {
  const unshare = ROOT ? ["unshare", "--net"] : ["unshare", "--user", "--map-root-user", "--net"];
  const holder = spawn([...unshare, "--", "sh", "-c", "echo ready; exec sleep infinity"]);
  const reader = holder.stdout.getReader();
  await reader.read();
  reader.releaseLock();
  const pid = holder.pid;
  const enter = [
    "nsenter",
    ...(ROOT ? [] : ["--preserve-credentials", "-U"]),
    "-n",
    `--target=${pid}`,
  ];
  return { pid, holder, enter };
}

async function waitUntil(what: string, probe: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Running {
  impl: Implementation;
  enter: string[];
  processes: Deno.ChildProcess[];
  apiSocket: string;
}

async function startNetwork(impl: Implementation, mtu: number): Promise<Running> {
  const ns = await makeNetns();
  const apiSocket = `/tmp/slirp-bench-${Deno.pid}-${impl.name}-${mtu}.sock`;
  await output(["rm", "-f", apiSocket]);
  const command = spawn(impl.argv(mtu, ns.pid, apiSocket));
  await waitUntil(`${impl.name} to bring up the network`, async () => {
    return (await output([...ns.enter, "ping", "-n", "-q", "-c", "1", "-W", "1", "10.0.2.2"], 5000))
      .ok;
  }, 30_000);
  return { impl, enter: ns.enter, processes: [command, ns.holder], apiSocket };
}

/** What is measured: through 10.0.2.2 either way, or into the namespace through a forward. */
type Direction = "namespace→host" | "host→namespace" | "host→namespace, forward";
const DIRECTIONS: Direction[] = ["namespace→host", "host→namespace", "host→namespace, forward"];

/**
 * One iperf3 run through an API port forward (slirp4netns's benchmark-iperf3-reverse.sh):
 * `iperf3 -s` on 10.0.2.100 in the namespace, add_hostfwd PORT→PORT, `iperf3 -c 127.0.0.1`
 * on the host. Returns the receiver's rate in Gbit/s.
 */
async function iperfForward(running: Running, port: number): Promise<number> {
  const server = spawn([
    ...running.enter,
    "iperf3",
    "-s",
    "-1",
    "-B",
    "10.0.2.100",
    "-p",
    `${port}`,
  ]);
  try {
    await waitUntil(
      "iperf3 -s in the namespace",
      async () =>
        (await output([...running.enter, "ss", "-ltnH"])).out.includes(`10.0.2.100:${port} `),
      5000,
    );
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
    const client = await output([
      "iperf3",
      "-c",
      "127.0.0.1",
      "-p",
      String(port),
      "-t",
      String(SECONDS),
      "-J",
    ], (SECONDS + 30) * 1000);
    const json = client.out.slice(client.out.indexOf("{"));
    const result = JSON.parse(json);
    if (result.error) throw new Error(`iperf3: ${result.error}`);
    return result.end.sum_received.bits_per_second / 1e9;
  } finally {
    await stop(server);
  }
}

/** One iperf3 run; returns the receiver's rate in Gbit/s. */
async function iperf(running: Running, port: number, reverse: boolean): Promise<number> {
  const server = spawn(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", String(port)]);
  try {
    await waitUntil("iperf3 -s", async () =>
      (await output(["ss", "-ltnH"])).out.includes(
        `127.0.0.1:${port} `,
      ), 5000);
    const client = await output([
      ...running.enter,
      "iperf3",
      "-c",
      "10.0.2.2",
      "-p",
      String(port),
      "-t",
      String(SECONDS),
      "-J",
      ...(reverse ? ["-R"] : []),
    ], (SECONDS + 30) * 1000);
    const json = client.out.slice(client.out.indexOf("{"));
    const result = JSON.parse(json);
    if (result.error) throw new Error(`iperf3: ${result.error}`);
    return result.end.sum_received.bits_per_second / 1e9;
  } finally {
    await stop(server);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const version = (await output([SLIRP4NETNS || "true", "--version"])).out.split("\n")[0];
  const cpus = (await output(["nproc"])).out.trim();
  const kernel = (await output(["uname", "-r"])).out.trim();
  console.log(
    `TCP through 10.0.2.2, iperf3 -t ${SECONDS}, median of ${RUNS} (Gbit/s, receiver side)`,
  );
  console.log(
    `machine: ${cpus} CPUs, Linux ${kernel}, Deno ${Deno.version.deno}; ${
      version || "ours only"
    }; ` +
      `${ROOT ? "root" : "rootless"}`,
  );
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
