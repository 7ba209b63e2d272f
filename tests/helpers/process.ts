/**
 * Running programs from tests: `run()` for a command that finishes, `spawn()` for one that keeps
 * running (the command under test, a namespace holder, a DNS server). Every wait has a deadline and
 * every spawned process is killed by PID when its `Proc` is stopped, so a test cannot hang forever.
 *
 * Extra file descriptors (the ready-fd and exit-fd of slirp4netns) are set up by spawning through
 * `bash -c 'exec "$@" REDIRECTIONS'`: bash opens or closes the fds, then execs the program, which
 * keeps bash's PID. The only fd a test can close later is a pipe on stdin, moved to the chosen fd.
 */

/** Options shared by `run()` and `spawn()`. */
export interface ProcessOptions {
  /** Variables added to the environment (or the whole environment with `clearEnv`). */
  env?: Record<string, string>;
  clearEnv?: boolean;
  cwd?: string;
}

/** How `run()` runs a command. */
export interface RunOptions extends ProcessOptions {
  /** Killed with SIGKILL after this long; default 20 s. */
  timeoutMs?: number;
  /** Text written to stdin, which is then closed. Without it stdin is /dev/null. */
  stdin?: string;
  /** Aborting kills the command (used to stop a wait early). */
  signal?: AbortSignal;
}

/** What a finished command did. */
export interface RunResult {
  argv: string[];
  code: number;
  signal: Deno.Signal | null;
  success: boolean;
  stdout: string;
  stderr: string;
  /** True when the command was killed because it ran past its timeout. */
  timedOut: boolean;
}

const DEFAULT_RUN_TIMEOUT_MS = 20_000;

/** Runs a command to completion and captures its output; never throws for a non-zero exit. */
export async function run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: options.env,
    clearEnv: options.clearEnv,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, options.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS);
  options.signal?.addEventListener("abort", kill);
  if (options.signal?.aborted) kill();
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(new TextEncoder().encode(options.stdin));
        await writer.close();
      } catch {
        // The command exited without reading its input; its status tells what happened.
      }
    }
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      argv,
      code: output.code,
      signal: output.signal,
      success: output.success,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", kill);
  }
}

/** A multi-line description of a finished command, for assertion messages. */
export function describeResult(result: RunResult): string {
  const how = result.timedOut
    ? "timed out"
    : result.signal
    ? `killed by ${result.signal}`
    : `exit ${result.code}`;
  return `$ ${
    result.argv.join(" ")
  }\n(${how})\n--- stdout ---\n${result.stdout}--- stderr ---\n${result.stderr}`;
}

/** Runs a command and throws, with its output, unless it exits 0. */
export async function runOk(argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(argv, options);
  if (!result.success) throw new Error(`command failed: ${describeResult(result)}`);
  return result;
}

/** What a spawned process finds at an extra file descriptor. */
export type FdSpec =
  /** Opened for writing (created, truncated), as `N>path`. */
  | { kind: "write-file"; path: string }
  /** The read end of a pipe; the test holds the write end and closes it with `Proc.closePipe()`. */
  | { kind: "pipe" }
  /** Explicitly not open, as `N<&-`, even if the test runner inherited something there. */
  | { kind: "closed" };

/** How `spawn()` starts a background process. */
export interface SpawnOptions extends ProcessOptions {
  /** Extra descriptors, keyed by number (>= 3). At most one may be a pipe. */
  fds?: Record<number, FdSpec>;
  /** A short name for messages; default the program name. */
  name?: string;
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Turns the fd table into bash redirections; a pipe is taken from stdin, which becomes /dev/null. */
function redirections(fds: Record<number, FdSpec>): { text: string; pipe: boolean } {
  const parts: string[] = [];
  let pipe = false;
  for (const [key, spec] of Object.entries(fds)) {
    const fd = Number(key);
    if (!Number.isInteger(fd) || fd < 3) {
      throw new Error(`extra fd must be an integer >= 3: ${key}`);
    }
    if (spec.kind === "write-file") parts.push(`${fd}>${shellQuote(spec.path)}`);
    else if (spec.kind === "closed") parts.push(`${fd}<&-`);
    else {
      if (pipe) throw new Error("only one extra fd can be a pipe");
      pipe = true;
      parts.push(`${fd}<&0`);
    }
  }
  if (pipe) parts.push("0</dev/null");
  return { text: parts.join(" "), pipe };
}

/** A background process whose output is collected as it comes. */
export class Proc {
  readonly name: string;
  readonly argv: string[];
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly status: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #stdout = "";
  #stderr = "";
  #exit: Deno.CommandStatus | null = null;
  #drained: Promise<void>;
  #pipe: WritableStreamDefaultWriter<Uint8Array> | null;

  constructor(argv: string[], options: SpawnOptions = {}) {
    this.name = options.name ?? argv[0];
    let command = argv;
    let pipe = false;
    if (options.fds && Object.keys(options.fds).length > 0) {
      const redirect = redirections(options.fds);
      pipe = redirect.pipe;
      command = ["bash", "-c", `exec "$@" ${redirect.text}`, "bash", ...argv];
    }
    this.argv = argv;
    this.#child = new Deno.Command(command[0], {
      args: command.slice(1),
      env: options.env,
      clearEnv: options.clearEnv,
      cwd: options.cwd,
      stdin: pipe ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#child.pid;
    this.#pipe = pipe ? this.#child.stdin.getWriter() : null;
    this.#drained = Promise.all([
      this.#collect(this.#child.stdout, (text) => this.#stdout += text),
      this.#collect(this.#child.stderr, (text) => this.#stderr += text),
    ]).then(() => {});
    this.status = this.#child.status.then((status) => this.#exit = status);
  }

  async #collect(stream: ReadableStream<Uint8Array>, add: (text: string) => void): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) add(decoder.decode(chunk, { stream: true }));
    } catch {
      // The stream was cancelled by stop().
    }
  }

  /** Everything written to stdout so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** The exit status, or null while the process runs. */
  get exitStatus(): Deno.CommandStatus | null {
    return this.#exit;
  }

  get running(): boolean {
    return this.#exit === null;
  }

  /** A description with the output so far, for assertion messages. */
  describe(): string {
    const state = this.#exit === null
      ? "running"
      : this.#exit.signal
      ? `killed by ${this.#exit.signal}`
      : `exit ${this.#exit.code}`;
    return `${this.name} (pid ${this.pid}, ${state})\n$ ${
      this.argv.join(" ")
    }\n--- stdout ---\n${this.#stdout}--- stderr ---\n${this.#stderr}`;
  }

  /** Sends a signal; does nothing if the process has already exited. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#exit !== null) return;
    try {
      this.#child.kill(signal);
    } catch {
      // It exited between the check and the kill.
    }
  }

  /** Closes the write end of the pipe given as an extra fd (see `FdSpec`). */
  async closePipe(): Promise<void> {
    if (!this.#pipe) throw new Error(`${this.name} has no pipe fd`);
    const writer = this.#pipe;
    this.#pipe = null;
    try {
      await writer.close();
    } catch {
      // The process already exited: the pipe is closed either way.
    }
  }

  /** Waits for the exit; returns null if it is still running after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<Deno.CommandStatus | null> {
    const status = await within(this.status, timeoutMs, null);
    if (status) await within(this.#drained, 2000, null);
    return status;
  }

  /** Waits until `pattern` appears in stdout or stderr; throws if the process exits first. */
  async waitOutput(
    stream: "stdout" | "stderr",
    pattern: RegExp | string,
    timeoutMs: number,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const found = () => {
      const text = stream === "stdout" ? this.#stdout : this.#stderr;
      if (typeof pattern === "string") return text.includes(pattern) ? pattern : null;
      return text.match(pattern)?.[0] ?? null;
    };
    for (;;) {
      const match = found();
      if (match !== null) return match;
      if (this.#exit) {
        await within(this.#drained, 2000, null);
        const late = found();
        if (late !== null) return late;
        throw new Error(`${String(pattern)} never appeared on ${stream}: ${this.describe()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${String(pattern)} did not appear on ${stream} in ${timeoutMs} ms: ${this.describe()}`,
        );
      }
      await sleep(20);
    }
  }

  /**
   * Kills the process (SIGKILL) if it still runs and waits for it and its output. Idempotent.
   * Output readers are cancelled if a leftover grandchild keeps the pipes open.
   */
  async stop(): Promise<void> {
    if (this.#pipe) await this.closePipe();
    this.kill("SIGKILL");
    await this.status;
    if ((await within(this.#drained.then(() => "drained"), 2000, "late")) === "late") {
      await Promise.allSettled([this.#child.stdout.cancel(), this.#child.stderr.cancel()]);
      await this.#drained;
    }
  }
}

/** Starts a background process. Stop it with `Proc.stop()` (the matrix scope does this). */
export function spawn(argv: string[], options: SpawnOptions = {}): Proc {
  return new Proc(argv, options);
}

/** Settles like `promise`, or resolves to `fallback` after `ms` milliseconds if that is sooner. */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<F>((resolve) => timer = setTimeout(() => resolve(fallback), ms));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `probe` until it returns a value other than null/false, at most until the deadline. If
 * `failIf` returns a message (e.g. the process under test died), gives up at once with it.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | false>,
  options: { timeoutMs: number; intervalMs?: number; failIf?: () => string | null },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== false) return value;
    const dead = options.failIf?.();
    if (dead) throw new Error(`gave up waiting for ${what}: ${dead}`);
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`);
    }
    await sleep(options.intervalMs ?? 50);
  }
}
