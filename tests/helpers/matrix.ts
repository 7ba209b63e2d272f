/**
 * Each integration scenario runs twice: as root (`[root]`) and as an unprivileged user
 * (`[rootless]`, see users.ts). A test gets a `Variant`, which runs programs with that variant's
 * credentials and owns a cleanup scope: every process, namespace and temporary directory made
 * through it is removed when the test ends, passes or fails, or runs past its time limit.
 */
import { commandArgv, DENO_ENV, type Install, repoInstall } from "./command.ts";
import {
  type Proc,
  type ProcessOptions,
  run,
  type RunOptions,
  type RunResult,
  spawn,
  type SpawnOptions,
  within,
} from "./process.ts";
import { isRoot, type RootlessSetup, rootlessSetup } from "./users.ts";

export type VariantName = "root" | "rootless";

/** Cleanup actions, run last-in first-out; a failing action does not stop the others. */
export class Scope {
  #actions: (() => unknown)[] = [];
  #closed = false;

  /** True once `close()` has started: nothing new may be started in this scope. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Registers an action to run when the scope closes. */
  defer(action: () => unknown): void {
    if (this.#closed) throw new Error("the test is over: its scope is closed");
    this.#actions.push(action);
  }

  /** Runs every action (newest first) and throws once at the end if any failed. */
  async close(): Promise<void> {
    this.#closed = true;
    const errors: unknown[] = [];
    while (this.#actions.length > 0) {
      const action = this.#actions.pop()!;
      try {
        await action();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, "cleanup failed");
  }
}

/** One credential set to run a scenario with, bound to the scope of one test. */
export class Variant {
  readonly name: VariantName;
  readonly scope = new Scope();
  readonly #wrap: string[];
  readonly #options: ProcessOptions;
  readonly #install: Install;

  private constructor(
    name: VariantName,
    wrap: string[],
    options: ProcessOptions,
    install: Install,
  ) {
    this.name = name;
    this.#wrap = wrap;
    this.#options = options;
    this.#install = install;
  }

  /** The variant for `name`, preparing the unprivileged user on first use. */
  static async create(name: VariantName): Promise<Variant> {
    if (name === "root") {
      return new Variant("root", [], { env: { ...DENO_ENV }, cwd: "/" }, repoInstall());
    }
    const setup: RootlessSetup = await rootlessSetup();
    return new Variant(
      "rootless",
      setup.wrap,
      { env: setup.env, clearEnv: setup.clearEnv, cwd: setup.home },
      setup.install,
    );
  }

  get rootless(): boolean {
    return this.name === "rootless";
  }

  /** Argv that runs `argv` with this variant's credentials. */
  as(argv: string[]): string[] {
    return [...this.#wrap, ...argv];
  }

  /** Environment and working directory of this variant's processes. */
  get processOptions(): ProcessOptions {
    return { ...this.#options };
  }

  /** The command under test with `args`, without the credential switch (to put behind nsenter). */
  commandArgv(args: string[]): string[] {
    return commandArgv(args, this.#install);
  }

  /** Runs a program to completion with this variant's credentials. */
  run(argv: string[], options: RunOptions = {}): Promise<RunResult> {
    if (this.scope.closed) throw new Error("the test is over: its scope is closed");
    return run(this.as(argv), { ...this.#options, ...options });
  }

  /** Starts a program with this variant's credentials; it is killed when the test ends. */
  spawn(argv: string[], options: SpawnOptions = {}): Proc {
    if (this.scope.closed) throw new Error("the test is over: its scope is closed");
    const proc = spawn(this.as(argv), { ...this.#options, ...options });
    this.scope.defer(() => proc.stop());
    return proc;
  }

  /** Runs the command under test to completion (for option errors, --help, --version). */
  runCommand(args: string[], options: RunOptions = {}): Promise<RunResult> {
    return this.run(this.commandArgv(args), options);
  }

  /** Starts the command under test; it is killed when the test ends. */
  start(args: string[], options: SpawnOptions = {}): Proc {
    return this.spawn(this.commandArgv(args), { name: "command under test", ...options });
  }

  /** A world-readable temporary directory, removed when the test ends. */
  async tempDir(): Promise<string> {
    const dir = await Deno.makeTempDir({ prefix: "slirptest-case-" });
    await Deno.chmod(dir, 0o755);
    this.scope.defer(() => Deno.remove(dir, { recursive: true }));
    return dir;
  }

  /** Registers a cleanup action for the end of the test. */
  defer(action: () => unknown): void {
    this.scope.defer(action);
  }
}

/** Options of `matrix()`. */
export interface MatrixOptions {
  /** Run only this variant (e.g. a scenario that only makes sense unprivileged). */
  only?: VariantName;
  /** Time limit for the whole test, cleanup excluded; default 60 s. */
  timeoutMs?: number;
  /** Skip the test (both variants), e.g. when a tool is missing; the string says why. */
  ignore?: false | string;
}

/**
 * Registers `name [root]` and `name [rootless]`. Not as root, the root variant is registered as
 * ignored, so the skip is visible in the test output.
 */
export function matrix(
  name: string,
  fn: (v: Variant, t: Deno.TestContext) => Promise<void>,
  options: MatrixOptions = {},
): void {
  const variants: VariantName[] = options.only ? [options.only] : ["root", "rootless"];
  for (const variant of variants) {
    const title = `${name} [${variant}]`;
    if (options.ignore) {
      Deno.test({ name: `${title} (skipped: ${options.ignore})`, ignore: true, fn() {} });
      continue;
    }
    if (variant === "root" && !isRoot()) {
      Deno.test({ name: `${title} (skipped: needs root)`, ignore: true, fn() {} });
      continue;
    }
    Deno.test(title, async (t) => {
      const v = await Variant.create(variant);
      const limit = options.timeoutMs ?? 60_000;
      const body = fn(v, t).then(() => "done" as const);
      body.catch(() => {}); // If the time limit wins, the body's late failure is not news.
      try {
        if ((await within(body, limit, "late")) === "late") {
          throw new Error(`${title}: timed out after ${limit} ms`);
        }
      } finally {
        await v.scope.close();
      }
    });
  }
}
