/**
 * Target network namespaces. As root: `unshare --net`, a namespace in the initial user namespace.
 * As the unprivileged user: `unshare --user --map-root-user --net`, the way Podman and RootlessKit
 * make theirs. The holder process is `sh` exec'ing `sleep infinity`, so its PID is the namespace's
 * PID for the command under test. Commands run inside with `nsenter`, with `--preserve-credentials
 * -U` only when the namespace has its own user namespace (like upstream's `nsenter_flags`).
 */
import type { Variant } from "./matrix.ts";
import {
  describeResult,
  type Proc,
  type ProcessOptions,
  run,
  runOk,
  type RunOptions,
  type RunResult,
  spawn,
} from "./process.ts";
import { isRoot } from "./users.ts";

/** A network namespace held by a sleeping process. */
export class Netns {
  readonly pid: number;
  /** True when the namespace has its own user namespace (the unprivileged kind). */
  readonly ownUserns: boolean;
  readonly #holder: Proc;
  readonly #as: (argv: string[]) => string[];
  readonly #options: ProcessOptions;

  constructor(
    holder: Proc,
    ownUserns: boolean,
    as: (argv: string[]) => string[],
    options: ProcessOptions,
  ) {
    this.pid = holder.pid;
    this.#holder = holder;
    this.ownUserns = ownUserns;
    this.#as = as;
    this.#options = options;
  }

  /** `/proc/PID/ns/net`, for `--netns-type=path`. */
  get netPath(): string {
    return `/proc/${this.pid}/ns/net`;
  }

  /** `/proc/PID/ns/user`, for `--userns-path`. */
  get userPath(): string {
    return `/proc/${this.pid}/ns/user`;
  }

  /** Argv that enters the namespace (network, and user when it has its own), without credentials. */
  enterArgv(argv: string[], namespaces: { net?: boolean; user?: boolean } = {}): string[] {
    const user = namespaces.user ?? this.ownUserns;
    const net = namespaces.net ?? true;
    return [
      "nsenter",
      ...(user ? ["--preserve-credentials", "-U"] : []),
      ...(net ? ["-n"] : []),
      `--target=${this.pid}`,
      "--",
      ...argv,
    ];
  }

  /** Runs a program inside the namespace, with the credentials of the namespace's owner. */
  run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    return run(this.#as(this.enterArgv(argv)), { ...this.#options, ...options });
  }

  /** Runs a shell script inside the namespace; extra words become $1, $2, ... */
  sh(script: string, args: string[] = [], options: RunOptions = {}): Promise<RunResult> {
    return this.run(["sh", "-c", script, "sh", ...args], options);
  }

  /** Like `sh()`, but throws with the output unless the script exits 0. */
  async shOk(script: string, args: string[] = [], options: RunOptions = {}): Promise<RunResult> {
    const result = await this.sh(script, args, options);
    if (!result.success) throw new Error(`in the namespace: ${describeResult(result)}`);
    return result;
  }

  /** Addresses, links and routes, for failure messages. */
  async snapshot(): Promise<string> {
    const result = await this.sh("ip -o link; ip -o addr; ip route", [], { timeoutMs: 5000 });
    return result.stdout + result.stderr;
  }

  /**
   * Polls the shell `condition` inside the namespace every 10 ms until it succeeds. Throws after
   * `timeoutMs`, or at once if `proc` (the command under test) exits meanwhile.
   */
  async waitFor(
    what: string,
    condition: string,
    options: { timeoutMs: number; proc?: Proc },
  ): Promise<void> {
    const script = `
      end=$(( $(date +%s%N) / 1000000 + $2 ))
      while :; do
        if eval "$1" >/dev/null 2>&1; then exit 0; fi
        [ "$(( $(date +%s%N) / 1000000 ))" -ge "$end" ] && exit 1
        sleep 0.01
      done`;
    const abort = new AbortController();
    options.proc?.status.then(() => abort.abort()); // Stop polling at once if it dies.
    const result = await this.sh(script, [condition, String(options.timeoutMs)], {
      timeoutMs: options.timeoutMs + 5000,
      signal: abort.signal,
    });
    if (result.success) return;
    const died = options.proc && !options.proc.running;
    throw new Error(
      `${what}: ${
        died ? "the command under test exited first" : `not within ${options.timeoutMs} ms`
      }` +
        ` (condition: ${condition})\n${options.proc ? options.proc.describe() + "\n" : ""}` +
        `--- namespace ---\n${await this.snapshot()}`,
    );
  }

  /** Waits until the link exists in the namespace. */
  waitForLink(name: string, options: { timeoutMs?: number; proc?: Proc } = {}): Promise<void> {
    return this.waitFor(`link ${name} to appear`, `ip link show dev ${name}`, {
      timeoutMs: options.timeoutMs ?? 20_000,
      proc: options.proc,
    });
  }

  /** Waits until one ping to `address` is answered (each try waits 1 s for its reply). */
  waitForPing(
    address: string,
    options: { timeoutMs?: number; proc?: Proc; size?: number } = {},
  ): Promise<void> {
    const size = options.size === undefined ? "" : `-s ${options.size} `;
    return this.waitFor(`ping ${size}${address}`, `ping -n -q -c 1 -W 1 ${size}${address}`, {
      timeoutMs: options.timeoutMs ?? 10_000,
      proc: options.proc,
    });
  }

  /** Kills the holder; the namespace goes away with its last user. Idempotent. */
  async destroy(): Promise<void> {
    await this.#holder.stop();
  }
}

/**
 * Makes a namespace owned by the variant's user: root gets a plain network namespace, the
 * unprivileged user gets a user namespace (mapped to root inside) with a network namespace.
 * `owner: "root"` makes a root-owned one whatever the variant (needs root), for permission tests.
 */
export async function createNetns(
  v: Variant,
  options: { owner?: "variant" | "root" } = {},
): Promise<Netns> {
  const asRoot = options.owner === "root" || !v.rootless;
  if (asRoot && !isRoot()) throw new Error("a root-owned namespace needs the tests to run as root");
  const hold = ["sh", "-c", "echo ready; exec sleep infinity"];
  let holder: Proc;
  let ns: Netns;
  if (asRoot) {
    holder = spawn(["unshare", "--net", "--", ...hold], { name: "netns holder", cwd: "/" });
    v.defer(() => holder.stop());
    ns = new Netns(holder, false, (argv) => argv, { cwd: "/" });
  } else {
    const argv = ["unshare", "--user", "--map-root-user", "--net", "--", ...hold];
    holder = v.spawn(argv, { name: "netns holder" });
    ns = new Netns(holder, true, (a) => v.as(a), v.processOptions);
  }
  await holder.waitOutput("stdout", "ready", 10_000);
  return ns;
}

/**
 * Makes a persistent, root-owned namespace with `ip netns add` (a file under /run/netns that
 * anyone may open, but only root may join) and returns its path. Needs root.
 */
export async function createNamedNetns(v: Variant): Promise<string> {
  if (!isRoot()) throw new Error("ip netns add needs the tests to run as root");
  const name = `slirptest-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await runOk(["ip", "netns", "add", name]);
  v.defer(() => runOk(["ip", "netns", "delete", name]));
  return `/run/netns/${name}`;
}
