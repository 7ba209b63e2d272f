/**
 * What bench/iperf3.ts and bench/metrics.ts share: the implementations side by side, namespaces
 * held by `sleep`, child processes killed by PID on the way out, and small helpers.
 *
 * Knobs (environment): BENCH_MTUS ("1500,65520"), BENCH_SLIRP4NETNS (/usr/bin/slirp4netns; empty
 * to measure ours alone).
 */

export const REPO = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");
export const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? "4");
export const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? "3");
export const MTUS = (Deno.env.get("BENCH_MTUS") ?? "1500,65520").split(",").map(Number);
export const SLIRP4NETNS = Deno.env.get("BENCH_SLIRP4NETNS") ?? "/usr/bin/slirp4netns";
export const ROOT = Deno.uid() === 0;

export interface Implementation {
  name: string;
  /** `extra` goes before the PID (for example `-r 3`). */
  argv: (mtu: number, pid: number, apiSocket: string, extra?: string[]) => string[];
}

export const IMPLEMENTATIONS: Implementation[] = [
  {
    name: "ours",
    argv: (mtu, pid, apiSocket, extra = []) => [
      Deno.execPath(),
      "run",
      "--allow-ffi",
      "--allow-net",
      `--allow-read=${REPO}`,
      `${REPO}/cli.ts`,
      "-c",
      `--mtu=${mtu}`,
      `--api-socket=${apiSocket}`,
      ...extra,
      String(pid),
      "tap0",
    ],
  },
  ...(SLIRP4NETNS === "" ? [] : [{
    name: "slirp4netns",
    argv: (mtu: number, pid: number, apiSocket: string, extra: string[] = []) => [
      SLIRP4NETNS,
      "-c",
      `--mtu=${mtu}`,
      `--api-socket=${apiSocket}`,
      ...extra,
      String(pid),
      "tap0",
    ],
  }]),
];

/** Processes to kill on the way out, by PID. */
export const children: Deno.ChildProcess[] = [];

export function spawn(argv: string[]): Deno.ChildProcess {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  children.push(child);
  return child;
}

export async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
  await child.status;
  await Promise.allSettled([child.stdout.cancel(), child.stderr.cancel()]);
}

export async function output(
  argv: string[],
  timeoutMs = 60_000,
): Promise<{ ok: boolean; out: string }> {
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
export async function makeNetns(): Promise<
  { pid: number; holder: Deno.ChildProcess; enter: string[] }
> {
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

export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  ms: number,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts `iperf3 -s -1` bound to `address:port` (run through `enter`, e.g. into a namespace) and
 * waits until it listens there.
 */
export async function startIperf3Server(
  address: string,
  port: number,
  enter: string[] = [],
): Promise<Deno.ChildProcess> {
  const server = spawn([...enter, "iperf3", "-s", "-1", "-B", address, "-p", String(port)]);
  try {
    await waitUntil(
      `iperf3 -s on ${address}:${port}`,
      async () => (await output([...enter, "ss", "-ltnH"])).out.includes(`${address}:${port} `),
      5000,
    );
  } catch (error) {
    await stop(server);
    throw error;
  }
  return server;
}

/** The iperf3 client to `address:port` for SECONDS, JSON output; `-R` when `reverse`. */
export function iperf3ClientArgv(address: string, port: number, reverse = false): string[] {
  return [
    "iperf3",
    "-c",
    address,
    "-p",
    String(port),
    "-t",
    String(SECONDS),
    "-J",
    ...(reverse ? ["-R"] : []),
  ];
}

/** How long an iperf3 client may take. */
export const IPERF3_TIMEOUT_MS = (SECONDS + 30) * 1000;

/** What the receiver of an iperf3 run got, from the client's JSON output. */
export function iperf3Received(out: string): { bytes: number; gbps: number } {
  const result = JSON.parse(out.slice(out.indexOf("{")));
  if (result.error) throw new Error(`iperf3: ${result.error}`);
  return {
    bytes: result.end.sum_received.bytes,
    gbps: result.end.sum_received.bits_per_second / 1e9,
  };
}

export interface Running {
  impl: Implementation;
  enter: string[];
  processes: Deno.ChildProcess[];
  apiSocket: string;
  /** The network process (ours: the whole deno process, workers included). */
  pid: number;
}

export async function startNetwork(impl: Implementation, mtu: number): Promise<Running> {
  const ns = await makeNetns();
  const apiSocket = `/tmp/slirp-bench-${Deno.pid}-${impl.name}-${mtu}.sock`;
  await output(["rm", "-f", apiSocket]);
  const command = spawn(impl.argv(mtu, ns.pid, apiSocket));
  await waitUntil(`${impl.name} to bring up the network`, async () => {
    return (await output([...ns.enter, "ping", "-n", "-q", "-c", "1", "-W", "1", "10.0.2.2"], 5000))
      .ok;
  }, 30_000);
  return { impl, enter: ns.enter, processes: [command, ns.holder], apiSocket, pid: command.pid };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The machine line printed above each table. */
export async function machineLine(): Promise<string> {
  const version = (await output([SLIRP4NETNS || "true", "--version"])).out.split("\n")[0];
  const cpus = (await output(["nproc"])).out.trim();
  const kernel = (await output(["uname", "-r"])).out.trim();
  return `machine: ${cpus} CPUs, Linux ${kernel}, Deno ${Deno.version.deno}; ${
    version || "ours only"
  }; ${ROOT ? "root" : "rootless"}`;
}
