/**
 * The command under test. By default it is our cli.ts under `deno run`, with the permissions the
 * README gives. `SLIRP4NETNS_UNDER_TEST=/path/to/binary` runs another implementation instead, e.g.
 * `/usr/bin/slirp4netns`, the original whose behaviour these tests encode.
 */

/** The repository root, found from this file's location (tests/helpers/). */
export const REPO_ROOT: string = decodeURIComponent(new URL("../../", import.meta.url).pathname)
  .replace(/\/$/, "");

/** The environment variable that names another binary to test. */
export const UNDER_TEST_ENV = "SLIRP4NETNS_UNDER_TEST";

/** What our command needs at run time, relative to the root (copied for the unprivileged user). */
export const RUNTIME_FILES = ["cli.ts", "mod.ts", "deno.json", "deno.lock", "src", "native"];

/** Environment for every Deno process the tests start: no colours, no update check (no traffic). */
export const DENO_ENV: Record<string, string> = { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" };

/** The binary named by SLIRP4NETNS_UNDER_TEST, or null for our cli.ts. */
export function binaryUnderTest(): string | null {
  const path = Deno.env.get(UNDER_TEST_ENV);
  return path ? path : null;
}

/**
 * True when the command under test is the original slirp4netns (a binary outside this
 * repository), whose behaviour differs from ours where the reference says so: it dies by SIGTERM
 * and SIGINT instead of exiting 0, and accepts MTUs below 68 at parse time.
 */
export function isUpstream(): boolean {
  const path = binaryUnderTest();
  if (path === null) return false;
  let real = path;
  try {
    real = Deno.realPathSync(path);
  } catch {
    // A command name on PATH: not a file of this repository.
  }
  return !(real === REPO_ROOT || real.startsWith(REPO_ROOT + "/"));
}

/** Where to find the pieces of the command when it is not run from the repository itself. */
export interface Install {
  /** Directory holding cli.ts, src/, native/build/ (a copy of RUNTIME_FILES). */
  root: string;
  /** The deno executable. */
  deno: string;
}

/** The install of the repository itself, run by the deno that runs the tests. */
export function repoInstall(): Install {
  return { root: REPO_ROOT, deno: Deno.execPath() };
}

/**
 * The argv that runs the command under test with `args`.
 *
 * @example
 * ```ts
 * commandArgv(["--version"]);
 * // ["/usr/bin/deno", "run", "--allow-ffi", "--allow-net", "--allow-read=/repo", "/repo/cli.ts", "--version"]
 * ```
 */
export function commandArgv(args: string[], install: Install = repoInstall()): string[] {
  const binary = binaryUnderTest();
  if (binary !== null) return [binary, ...args];
  return [
    install.deno,
    "run",
    "--allow-ffi",
    "--allow-net",
    `--allow-read=${install.root}`,
    `${install.root}/cli.ts`,
    ...args,
  ];
}

/** A one-line description of the command under test, for the test log. */
export function describeCommandUnderTest(): string {
  const binary = binaryUnderTest();
  if (binary === null) return `our cli.ts (${REPO_ROOT}/cli.ts under deno run)`;
  return `${binary}${
    isUpstream() ? " (the original slirp4netns: its behaviour is the contract)" : ""
  }`;
}
