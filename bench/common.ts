/**
 * What bench/iperf3.ts, bench/metrics.ts and bench/soak.ts share: the implementations side by side
 * (ours, slirp4netns, pasta), namespaces held by `sleep`, child processes killed by PID on the way
 * out, the Markdown result table, and small helpers.
 *
 * Knobs (environment): BENCH_MTUS ("1500,65520"), BENCH_SLIRP4NETNS (/usr/bin/slirp4netns),
 * BENCH_PASTA (/usr/bin/pasta); an empty path leaves that implementation out.
 *
 * pasta attaches to the namespace by PID like the others, but differs in ways the rows say:
 *
 * - Addresses: pasta copies the host's addresses and routes unless told otherwise, so it gets
 *   explicit ones from a documentation range (`--config-net -a 198.51.100.2 -n 24 -g
 *   198.51.100.1`, IPv4 only). TCP and UDP to the gateway go to the host's 127.0.0.1 (pasta's
 *   default gateway mapping, `--no-map-gw` turns it off), as 10.0.2.2 does for the others; the
 *   bench sends nothing else through it.
 * - Ping: pasta answers no ICMP itself; it relays echo requests through ping sockets to the real
 *   destination (198.51.100.1 is no host address, and `net.ipv4.ping_group_range` may forbid ping
 *   sockets), so ping rows show "-" for pasta and its start-up is not probed with ping.
 * - Port forwards: pasta has no API in this version; a forward is a start-up option (`-t
 *   127.0.0.1/PORT`), and a loopback client's connection is spliced to the namespace's own
 *   127.0.0.1, not carried through the tap as ours and slirp4netns do.
 * - Ready signal: its PID file (`-P`), written once it is set up; `-P /proc/self/fd/3` for the
 *   start-up timing, where the others write a byte to `--ready-fd=3`.
 * - User: as root pasta drops to nobody before it opens the namespace or its PID file, so as root it
 *   runs as nobody from the start (setpriv), in a namespace owned by nobody's user namespace.
 * - Forward everything else off: `-t none -T none -u none -U none` (the default `auto` binds ports
 *   on either side as they appear).
 */

export const REPO = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(/\/$/, "");
export const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? "4");
export const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? "3");
export const MTUS = (Deno.env.get("BENCH_MTUS") ?? "1500,65520").split(",").map(Number);
export const SLIRP4NETNS = Deno.env.get("BENCH_SLIRP4NETNS") ?? "/usr/bin/slirp4netns";
export const PASTA = Deno.env.get("BENCH_PASTA") ?? "/usr/bin/pasta";
/** The built bench/tcptool.c (bench/run.sh sets it). */
export const TOOL = Deno.env.get("BENCH_TOOL") ?? "";
export const ROOT = Deno.uid() === 0;

/** What a network is started with. */
export interface StartOptions {
  /** The slirp4netns API socket (ours, slirp4netns). */
  apiSocket: string;
  /** The fd that signals readiness (ours, slirp4netns: `--ready-fd`; pasta: its PID file). */
  readyFd?: number;
  /** A PID file (pasta: written once it is up). */
  pidFile?: string;
  /** A host port on 127.0.0.1 forwarded into the namespace from the start (pasta). */
  forwardPort?: number;
  /** IPv6 on (ours, slirp4netns: `-6`). */
  ipv6?: boolean;
}

export interface Implementation {
  name: string;
  /**
   * The kernel's own path instead of a process: a veth pair between the host and the namespace
   * (root only; see {@link VETH}).
   */
  veth?: boolean;
  /** The address at which the namespace reaches the host's 127.0.0.1. */
  gateway: string;
  /** The address at which the namespace reaches the host's ::1 with IPv6 on; null: no IPv6 here. */
  gateway6: string | null;
  /** Where the host's server listens for traffic to `gateway` (`gateway6`). */
  hostServer: string;
  hostServer6: string;
  /** Where a host→namespace forward arrives in the namespace (its server listens there). */
  forwardTarget: string;
  /** Forwards are added through the slirp4netns API (else: `forwardPort` at start). */
  api: boolean;
  /** Whether ICMP echo to `gateway` is answered. */
  ping: boolean;
  /** Whether 10.0.2.3:53 forwards to the nameservers in /etc/resolv.conf (pasta: differs). */
  dns: boolean;
  /** Runs a command as the user owning the namespace and the network process. */
  runAs: string[];
  argv: (mtu: number, pid: number, options: StartOptions) => string[];
}

/** ours and slirp4netns take the same options. */
function slirpLike(name: string, command: string[]): Implementation {
  return {
    name,
    gateway: "10.0.2.2",
    gateway6: "fd00::2",
    hostServer: "127.0.0.1",
    hostServer6: "::1",
    forwardTarget: "10.0.2.100",
    api: true,
    ping: true,
    dns: true,
    runAs: [],
    argv: (mtu, pid, { apiSocket, readyFd, ipv6 }) => [
      ...command,
      "-c",
      ...(ipv6 ? ["-6"] : []),
      `--mtu=${mtu}`,
      `--api-socket=${apiSocket}`,
      ...(readyFd === undefined ? [] : ["-r", String(readyFd)]),
      String(pid),
      "tap0",
    ],
  };
}

/** The documentation addresses pasta gets (see the comment at the top). */
const PASTA_GATEWAY = "198.51.100.1";

export const IMPLEMENTATIONS: Implementation[] = [
  slirpLike("ours", [
    Deno.execPath(),
    "run",
    "--allow-ffi",
    "--allow-net",
    `--allow-read=${REPO}`,
    "--allow-env=SLIRP4NETNS_BUNDLES",
    `${REPO}/cli.ts`,
  ]),
  ...(SLIRP4NETNS === "" ? [] : [slirpLike("slirp4netns", [SLIRP4NETNS])]),
  ...(PASTA === "" ? [] : [{
    name: "pasta",
    gateway: PASTA_GATEWAY,
    gateway6: null,
    hostServer: "127.0.0.1",
    hostServer6: "::1",
    forwardTarget: "127.0.0.1",
    api: false,
    ping: false,
    dns: false,
    runAs: ROOT ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [],
    argv: (mtu: number, pid: number, { readyFd, pidFile, forwardPort }: StartOptions) => [
      PASTA,
      "-f",
      "-q",
      "-4",
      "--config-net",
      "-I",
      "tap0",
      "-a",
      "198.51.100.2",
      "-n",
      "24",
      "-g",
      PASTA_GATEWAY,
      "-m",
      String(mtu),
      "-t",
      forwardPort === undefined ? "none" : `127.0.0.1/${forwardPort}`,
      "-T",
      "none",
      "-u",
      "none",
      "-U",
      "none",
      ...(readyFd === undefined ? [] : ["-P", `/proc/self/fd/${readyFd}`]),
      ...(pidFile === undefined ? [] : ["-P", pidFile]),
      String(pid),
    ],
  }]),
];

/**
 * The kernel's own path, as a root-only network would have it: a veth pair between the host and
 * the namespace at the same MTU, documentation addresses on both ends (a /30 of 203.0.113.0/24 and
 * a /64 of 2001:db8::/32 picked per bench process, so that two benches do not clash); the host
 * routes only that prefix to it, so nothing leaves the machine. Its "gateway" is the host's end
 * and servers on the host listen there; a forward is the host connecting to the namespace's end.
 * Throughput only (bench/iperf3.ts): it is what ours is measured against, not a competitor.
 */
const VETH_SUBNET = 4 * (Deno.pid % 64);
const VETH_NET6 = `2001:db8:13:${(Deno.pid % 0xffff).toString(16)}`;
export const VETH: Implementation = {
  name: "veth",
  veth: true,
  gateway: `203.0.113.${VETH_SUBNET + 1}`,
  gateway6: `${VETH_NET6}::1`,
  hostServer: `203.0.113.${VETH_SUBNET + 1}`,
  hostServer6: `${VETH_NET6}::1`,
  forwardTarget: `203.0.113.${VETH_SUBNET + 2}`,
  api: false,
  ping: true,
  dns: false,
  runAs: [],
  argv: () => [],
};

/** The namespace's end of the veth pair. */
const VETH_GUEST6 = `${VETH_NET6}::2`;

/** What bench/iperf3.ts compares: every implementation, and the kernel's veth (root only). */
export const THROUGHPUT_IMPLEMENTATIONS: Implementation[] = [
  ...IMPLEMENTATIONS,
  ...(ROOT && Deno.env.get("BENCH_VETH") !== "" ? [VETH] : []),
];

/** Processes to kill on the way out, by PID. */
export const children: Deno.ChildProcess[] = [];

/**
 * Starts a child, tracked for `run`'s clean-up. With `discardOutput`, its stdout and stderr go to
 * /dev/null: a long-running child whose pipes nobody reads blocks once they fill (a 900 s soak's
 * `iperf3 -s` stopped after about 100 tests, blocked writing its results).
 */
export function spawn(argv: string[], { discardOutput = false } = {}): Deno.ChildProcess {
  const output = discardOutput ? "null" : "piped";
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: output,
    stderr: output,
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
  for (const stream of ["stdout", "stderr"] as const) {
    try {
      await child[stream].cancel();
    } catch {
      // Not piped, or already read to the end.
    }
  }
}

/**
 * Runs `main`, then kills every child process it left, by PID; also when the bench itself is
 * interrupted (SIGINT, SIGTERM), so that no network process, namespace holder or veth pair (which
 * goes with its namespace) outlives it.
 */
export async function run(main: () => Promise<void>): Promise<void> {
  const interrupted = async () => {
    for (const child of children) await stop(child);
    Deno.exit(130);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, interrupted);
  try {
    await main();
  } finally {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.removeSignalListener(signal, interrupted);
    }
    for (const child of children) await stop(child);
  }
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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Below Linux's default ephemeral range (32768-60999), where the host sides of relayed connections
 * take their ports: a server started on one still held would fail to bind.
 */
let port = 10000 + Math.floor(Math.random() * 15000);

/** A fresh port number for a server or a forward. */
export function nextPort(): number {
  return port++;
}

/**
 * A namespace held by `sleep`, owned by the user `runAs` makes (as root and with no `runAs`: a
 * network namespace only): its PID and how to run commands inside.
 */
export async function makeNetns(runAs: string[] = []): Promise<
  { pid: number; holder: Deno.ChildProcess; enter: string[] }
> {
  const unshare = ROOT && runAs.length === 0
    ? ["unshare", "--net"]
    : ["unshare", "--user", "--map-root-user", "--net"];
  const holder = spawn([...runAs, ...unshare, "--", "sh", "-c", "echo ready; exec sleep infinity"]);
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
    await sleep(50);
  }
}

/**
 * Starts `iperf3 -s` bound to `address:port` (run through `enter`, e.g. into a namespace) and
 * waits until it listens there; with `once`, it exits after one test (`-1`).
 */
export async function startIperf3Server(
  address: string,
  port: number,
  enter: string[] = [],
  once = true,
): Promise<Deno.ChildProcess> {
  const server = spawn([
    ...enter,
    "iperf3",
    "-s",
    ...(once ? ["-1"] : []),
    "-B",
    address,
    "-p",
    String(port),
  ], { discardOutput: true });
  // ss shows IPv6 addresses in brackets.
  const shown = address.includes(":") ? `[${address}]` : address;
  try {
    await waitUntil(
      `iperf3 -s on ${address}:${port}`,
      async () => (await output([...enter, "ss", "-ltnH"])).out.includes(`${shown}:${port} `),
      5000,
    );
  } catch (error) {
    await stop(server);
    throw error;
  }
  return server;
}

/**
 * The iperf3 client to `address:port` for `seconds`, JSON output; `-R` when `reverse`, `-P
 * streams` when more than one.
 */
export function iperf3ClientArgv(
  address: string,
  port: number,
  reverse = false,
  seconds = SECONDS,
  streams = 1,
): string[] {
  return [
    "iperf3",
    "-c",
    address,
    "-p",
    String(port),
    "-t",
    String(seconds),
    "-J",
    ...(reverse ? ["-R"] : []),
    ...(streams > 1 ? ["-P", String(streams)] : []),
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
  /** Files to remove once stopped (API socket, PID file). */
  files: string[];
  /** The host port forwarded to `impl.forwardTarget` in the namespace, when asked for. */
  forwardPort?: number;
  /** The network process (ours: the whole deno process, workers included). */
  pid: number;
  /** Started with IPv6 on, and the guest has its address (`impl.gateway6` answers ping). */
  ipv6: boolean;
  /** {@link VETH}: the host's end of the pair. */
  vethHost?: string;
}

/** Adds a TCP forward 127.0.0.1:port → guest port through the slirp4netns API. */
async function addForward(apiSocket: string, port: number): Promise<void> {
  const request = JSON.stringify({
    execute: "add_hostfwd",
    arguments: { proto: "tcp", host_addr: "127.0.0.1", host_port: port, guest_port: port },
  });
  const added = await output(["sh", "-c", 'echo "$1" | ncat -U "$0"', apiSocket, request]);
  if (!added.out.includes('"return"')) throw new Error(`add_hostfwd: ${added.out}`);
}

/**
 * Runs `argv` in a mount namespace of its own that sees `resolvConf` as /etc/resolv.conf (the host's
 * file and its nameservers stay out of reach); the PID stays that of `argv` (unshare and sh exec).
 */
function withResolvConf(resolvConf: string, argv: string[]): string[] {
  return [
    "unshare",
    "-m",
    "sh",
    "-c",
    'mount --bind "$0" /etc/resolv.conf && exec "$@"',
    resolvConf,
    ...argv,
  ];
}

/**
 * Starts `impl` on a fresh namespace; with `forward`, a host port forwarded into it as well; with
 * `resolvConf`, the network process sees that file as /etc/resolv.conf (root only); with `ipv6`
 * (and an `impl.gateway6`), IPv6 on, up once the guest reaches the gateway over IPv6 (SLAAC done).
 */
export async function startNetwork(
  impl: Implementation,
  mtu: number,
  forward = false,
  resolvConf?: string,
  ipv6 = false,
): Promise<Running> {
  ipv6 &&= impl.gateway6 !== null;
  if (impl.veth) return await startVeth(impl, mtu, forward, ipv6);
  const ns = await makeNetns(impl.runAs);
  const base = `/tmp/slirp-bench-${Deno.pid}-${impl.name}-${mtu}`;
  const apiSocket = `${base}.sock`;
  const pidFile = impl.ping ? undefined : `${base}.pid`;
  const files = [apiSocket, ...(pidFile ? [pidFile] : [])];
  await output(["rm", "-f", ...files]);
  const forwardPort = forward ? nextPort() : undefined;
  const argv = [
    ...impl.runAs,
    ...impl.argv(mtu, ns.pid, {
      apiSocket,
      pidFile,
      forwardPort: impl.api ? undefined : forwardPort,
      ipv6,
    }),
  ];
  const command = spawn(resolvConf === undefined ? argv : withResolvConf(resolvConf, argv), {
    discardOutput: true,
  });
  const running = {
    impl,
    enter: ns.enter,
    processes: [command, ns.holder],
    files,
    forwardPort,
    pid: command.pid,
    ipv6,
  };
  try {
    // Up once the gateway answers ping, or (pasta, no ping) once its PID file has the PID.
    const probe = pidFile
      ? ["test", "-s", pidFile]
      : [...ns.enter, "ping", "-n", "-q", "-c", "1", "-W", "1", impl.gateway];
    if (ipv6) probe.splice(probe.length - 1, 1, impl.gateway6!);
    await waitUntil(
      `${impl.name} to bring up the network`,
      async () => (await output(probe, 5000)).ok,
      30_000,
    );
    if (forwardPort !== undefined && impl.api) await addForward(apiSocket, forwardPort);
  } catch (error) {
    await stopNetwork(running);
    throw error;
  }
  return running;
}

/** Fails with the command's output unless it succeeds. */
async function must(argv: string[]): Promise<void> {
  const result = await output(argv);
  if (!result.ok) throw new Error(`${argv.join(" ")}: ${result.out}`);
}

/**
 * The veth pair for {@link VETH}: the host's end `bvh<pid>`, the namespace's `eth0`, both at `mtu`,
 * IPv4 and IPv6 (no DAD, so usable at once); up once the host's end answers ping either way.
 */
async function startVeth(
  impl: Implementation,
  mtu: number,
  forward: boolean,
  ipv6: boolean,
): Promise<Running> {
  const ns = await makeNetns();
  const host = `bvh${Deno.pid}`;
  const running: Running = {
    impl,
    enter: ns.enter,
    processes: [ns.holder],
    files: [],
    forwardPort: forward ? nextPort() : undefined,
    pid: ns.pid,
    ipv6,
    vethHost: host,
  };
  try {
    await must([
      "ip",
      "link",
      "add",
      host,
      "mtu",
      String(mtu),
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "mtu",
      String(mtu),
      "netns",
      String(ns.pid),
    ]);
    await must(["ip", "addr", "add", `${impl.gateway}/30`, "dev", host]);
    await must(["ip", "addr", "add", `${impl.gateway6}/64`, "dev", host, "nodad"]);
    await must(["ip", "link", "set", host, "up"]);
    await must([...ns.enter, "ip", "addr", "add", `${impl.forwardTarget}/30`, "dev", "eth0"]);
    await must([...ns.enter, "ip", "addr", "add", `${VETH_GUEST6}/64`, "dev", "eth0", "nodad"]);
    await must([...ns.enter, "ip", "link", "set", "eth0", "up"]);
    await must([...ns.enter, "ip", "link", "set", "lo", "up"]);
    for (const gateway of [impl.gateway, impl.gateway6!]) {
      await waitUntil(
        "the veth pair",
        async () =>
          (await output([...ns.enter, "ping", "-n", "-q", "-c", "1", "-W", "1", gateway], 5000)).ok,
        30_000,
      );
    }
  } catch (error) {
    await stopNetwork(running);
    throw error;
  }
  return running;
}

export async function stopNetwork(running: Running): Promise<void> {
  for (const p of running.processes) await stop(p);
  await output(["rm", "-f", ...running.files]);
  // The pair goes with the namespace; deleting it too leaves nothing behind if that lags.
  if (running.vethHost) await output(["ip", "link", "del", running.vethHost]);
}

/**
 * Starts every implementation on a fresh namespace (with `ipv6`, IPv6 on where it exists), runs
 * `body`, and stops them all.
 */
export async function withNetworks(
  mtu: number,
  body: (networks: Running[]) => Promise<void>,
  forward = false,
  ipv6 = false,
  implementations = IMPLEMENTATIONS,
): Promise<void> {
  const networks: Running[] = [];
  try {
    for (const impl of implementations) {
      networks.push(await startNetwork(impl, mtu, forward, undefined, ipv6));
    }
    await body(networks);
  } finally {
    for (const network of networks) await stopNetwork(network);
  }
}

/**
 * Where the bench's own DNS server listens on the host, the only nameserver in the private
 * resolv.conf the DNS measurement gives the network processes; it answers `DNS_NAME` itself.
 */
export const DNS_SERVER = "127.0.0.77";
export const DNS_NAME = "bench.example";

/**
 * Writes the private resolv.conf and starts dnsmasq on `DNS_SERVER`:53 (root only: port 53),
 * answering only `DNS_NAME` (198.51.100.9) and forwarding nothing; stop `server`, remove `resolvConf`.
 */
export async function startDnsServer(): Promise<{ server: Deno.ChildProcess; resolvConf: string }> {
  const resolvConf = `/tmp/slirp-bench-${Deno.pid}-resolv.conf`;
  // Through sh: the bench runs without --allow-write.
  const written = await output([
    "sh",
    "-c",
    'echo "$1" >"$0"',
    resolvConf,
    `nameserver ${DNS_SERVER}`,
  ]);
  if (!written.ok) throw new Error(`writing ${resolvConf}: ${written.out}`);
  const listening = async () =>
    (await output(["ss", "-lunH", "src", `${DNS_SERVER}:53`])).out.includes(`${DNS_SERVER}:53`);
  if (await listening()) throw new Error(`${DNS_SERVER}:53 is already in use`);
  const server = spawn([
    "dnsmasq",
    "-k",
    `--listen-address=${DNS_SERVER}`,
    "--bind-interfaces",
    "--port=53",
    "--no-resolv",
    "--no-hosts",
    `--address=/${DNS_NAME}/198.51.100.9`,
    "--user=root",
  ], { discardOutput: true });
  try {
    await waitUntil(`dnsmasq on ${DNS_SERVER}:53`, listening, 5000);
  } catch (error) {
    await stop(server);
    await output(["rm", "-f", resolvConf]);
    throw error;
  }
  return { server, resolvConf };
}

/** VmRSS in MiB. */
export async function rss(pid: number): Promise<number> {
  const status = (await output(["cat", `/proc/${pid}/status`])).out;
  const match = status.match(/VmRSS:\s+(\d+) kB/);
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) / 1024;
}

/** How many fds a process has open. */
export async function openFds(pid: number): Promise<number> {
  const listed = await output(["ls", `/proc/${pid}/fd`]);
  if (!listed.ok) throw new Error(`ls /proc/${pid}/fd: ${listed.out}`);
  return listed.out.split("\n").filter((line) => line !== "").length;
}

/** Reads the first line of a child's stdout (for "listening" and "held N"). */
export async function firstLine(child: Deno.ChildProcess, ms: number): Promise<string> {
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

/** bench/tcptool's TCP and UDP echo server on the host's `address`:port (default 127.0.0.1). */
export async function echoServer(port: number, address = "127.0.0.1"): Promise<Deno.ChildProcess> {
  if (TOOL === "") throw new Error("BENCH_TOOL is not set (run through bench/run.sh)");
  const server = spawn([TOOL, "server", address, String(port)]);
  await firstLine(server, 5000);
  return server;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Results as a Markdown table: label columns, a value per implementation (NaN where it cannot take
 * part: printed "-"), then ours / each other implementation. Notes go under the table.
 */
export class Table {
  #rows: string[][] = [];
  #notes: string[] = [];

  constructor(
    readonly labels: string[],
    readonly implementations: Implementation[] = IMPLEMENTATIONS,
  ) {}

  /** One row; `ratios` false for figures a ratio says nothing about (a slope, an fd count). */
  add(labels: string[], values: number[], digits: number, ratios = true): void {
    const others = values.slice(1).map((other) => {
      const ratio = values[0] / other;
      return ratios && other > 0 && Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "-";
    });
    const row = [
      ...labels,
      ...values.map((v) => Number.isFinite(v) ? v.toFixed(digits) : "-"),
      ...others,
    ];
    this.#rows.push(row);
    console.error(`  ${row.join("  ")}`);
  }

  note(text: string): void {
    this.#notes.push(text);
  }

  print(): void {
    const header = [
      ...this.labels,
      ...this.implementations.map((i) => i.name),
      ...this.implementations.slice(1).map((i) => `ours / ${i.name}`),
    ];
    const all = [header, ...this.#rows];
    const widths = header.map((_, c) => Math.max(3, ...all.map((r) => r[c].length)));
    const left = (c: number) => c < this.labels.length;
    const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
    console.log(
      line(header.map((cell, c) => left(c) ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))),
    );
    console.log(line(widths.map((w, c) => left(c) ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)));
    for (const row of this.#rows) {
      console.log(
        line(row.map((cell, c) => left(c) ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))),
      );
    }
    if (this.#notes.length) console.log(`\n${this.#notes.join("\n")}`);
  }
}

/** The first line `argv` prints, or "" when it fails. */
async function firstOutputLine(argv: string[]): Promise<string> {
  const result = await output(argv).catch(() => ({ ok: false, out: "" }));
  return result.ok ? result.out.split("\n")[0].trim() : "";
}

/** A binary's version; its Debian package's when it prints none (Debian's pasta). */
async function version(binary: string, name: string): Promise<string> {
  const line = await firstOutputLine([binary, "--version"]);
  if (line !== "" && !line.includes("unknown version")) return line;
  const owner = (await firstOutputLine(["dpkg-query", "-S", binary])).split(":")[0];
  const packaged = owner && await firstOutputLine(["dpkg-query", "-W", "-f=${Version}", owner]);
  return packaged ? `${name} (Debian ${owner} ${packaged})` : `${name} (version unknown)`;
}

/** Prints the title, the machine line and the gateways (Markdown paragraphs) before a table. */
export async function printHeading(title: string): Promise<void> {
  const cpu = (await output(["cat", "/proc/cpuinfo"])).out.match(/^model name\s*:\s*(.*)$/m)?.[1];
  const cpus = (await output(["nproc"])).out.trim();
  const kernel = (await output(["uname", "-r"])).out.trim();
  const versions = [];
  if (SLIRP4NETNS !== "") versions.push(await version(SLIRP4NETNS, "slirp4netns"));
  if (PASTA !== "") versions.push(await version(PASTA, "pasta"));
  console.log(`${title}\n`);
  console.log(
    `machine: ${cpu ?? "unknown CPU"}, ${cpus} cores, Linux ${kernel}, Deno ${Deno.version.deno}; ${
      versions.join("; ") || "ours only"
    }; ${ROOT ? "root" : "rootless"}\n`,
  );
  const gateways = IMPLEMENTATIONS.map((i) => `${i.gateway} (${i.name})`).join(", ");
  console.log(`gateway, the host's 127.0.0.1 as the namespace sees it: ${gateways}\n`);
}
