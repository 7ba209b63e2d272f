/**
 * The command line of the sandbox launcher (native/launcher/sandbox_launcher.c): which files the
 * continuation needs inside the sandbox, where it finds them, and how it is started. Pure: the
 * facts about this process come in as `LaunchFacts`.
 *
 * Layout inside the sandbox (besides /etc, /run, /usr and the loader's /lib*, /proc/PID,
 * /dev/null and /dev/urandom, which the launcher adds itself), per way the program runs:
 *
 * ```
 * checkout (deno run cli.ts):
 *   /slirp4netns/deno          the runtime, read-only
 *   /slirp4netns/app           the directory holding cli.ts, src/ and native/, read-only
 * registry (deno run https://…/mod.ts, jsr:…):
 *   /slirp4netns/deno          the runtime, read-only
 *   /slirp4netns/cache/remote/SCHEME/HOST
 *                              the runtime's module cache for the program's host (its directory
 *                              of the caller's DENO_DIR only), read-only; run with --cached-only
 * compiled (deno compile):
 *   /slirp4netns/slirp4netns   the binary, runtime and program in one, read-only
 * all:
 *   /slirp4netns/shim.so       the shim, when SLIRP4NETNS_SHIM chose it (not compiled)
 *   /slirp4netns/cache         a private 64 MiB tmpfs, the runtime's DENO_DIR (compile cache)
 * ```
 */
import { type Handoff, handoffArgument } from "./handoff.ts";

/** The directory of our own paths inside the sandbox. */
export const INSIDE = "/slirp4netns";
export const RUNTIME_INSIDE = `${INSIDE}/deno`;
export const APP_INSIDE = `${INSIDE}/app`;
export const SHIM_INSIDE = `${INSIDE}/shim.so`;
export const CACHE_INSIDE = `${INSIDE}/cache`;
/** A compiled binary (`deno compile`) is runtime and program in one file. */
export const BINARY_INSIDE = `${INSIDE}/slirp4netns`;

/** How the program runs, and where its modules are. */
export type Program =
  /** `deno run` of a checkout's files. */
  | {
    kind: "checkout";
    /** The directory holding the program's files. */
    appRoot: string;
    /** The main module, relative to `appRoot` (e.g. "cli.ts"). */
    mainModule: string;
  }
  /** `deno run` of the package from a registry (or any http(s) URL). */
  | {
    kind: "remote";
    /** The main module as the runtime names it (`Deno.mainModule`). */
    mainModule: string;
    /** The caller's module cache directory for the program's host, e.g. `~/.cache/deno/remote/https/jsr.io`. */
    moduleCache: string;
    /** That directory relative to a DENO_DIR, e.g. `remote/https/jsr.io`. */
    moduleCacheSubdir: string;
    /** The host to pass to `--allow-import` (granted to this process), or null for none. */
    allowImport: string | null;
  }
  /** A `deno compile` binary. */
  | { kind: "standalone" };

/** Facts about this process that decide the plan. */
export interface LaunchFacts {
  /** The runtime executable (the target of /proc/self/exe): a compiled binary is the program. */
  runtime: string;
  program: Program;
  /** The shim file when SLIRP4NETNS_SHIM chose it. */
  shimOverride: string | null;
  /** The user namespace to join when the launcher lacks CAP_SYS_ADMIN. */
  userns?: string;
  /** The slirp4netns arguments, as given. */
  args: readonly string[];
  handoff: Handoff;
}

/**
 * The launcher's arguments (without the launcher itself as argv[0]).
 *
 * @example
 * ```ts
 * import { launcherArgs } from "./launch_plan.ts";
 * const args = launcherArgs({
 *   runtime: "/usr/bin/deno",
 *   program: { kind: "checkout", appRoot: "/opt/s4n", mainModule: "cli.ts" },
 *   shimOverride: null, args: ["--enable-sandbox", "1234", "tap0"], handoff: { tapFd: 5 },
 * });
 * args.includes("/slirp4netns/app/cli.ts"); // true
 * ```
 */
export function launcherArgs(facts: LaunchFacts): string[] {
  const out: string[] = [];
  if (facts.userns !== undefined) out.push("--userns", facts.userns);
  const env = [`DENO_DIR=${CACHE_INSIDE}`, "DENO_NO_UPDATE_CHECK=1"];
  const program = facts.program;
  let command: string[];
  if (program.kind === "standalone") {
    out.push("--bind", facts.runtime, BINARY_INSIDE);
    command = [BINARY_INSIDE];
  } else {
    out.push("--bind", facts.runtime, RUNTIME_INSIDE);
    // --allow-ffi amounts to everything; the rest only say what is used.
    const permissions = ["--allow-ffi", "--allow-net"];
    let main: string;
    if (program.kind === "checkout") {
      out.push("--bind", program.appRoot, APP_INSIDE);
      permissions.push(`--allow-read=${APP_INSIDE}`);
      main = `${APP_INSIDE}/${program.mainModule}`;
    } else {
      // Below the scratch DENO_DIR, which stays writable for the compile cache.
      out.push("--bind", program.moduleCache, `${CACHE_INSIDE}/${program.moduleCacheSubdir}`);
      // Everything was fetched by the first image: nothing is, and nothing can be, inside.
      permissions.unshift("--cached-only");
      if (program.allowImport !== null) permissions.push(`--allow-import=${program.allowImport}`);
      main = program.mainModule;
    }
    if (facts.shimOverride !== null) {
      out.push("--bind", facts.shimOverride, SHIM_INSIDE);
      env.push(`SLIRP4NETNS_SHIM=${SHIM_INSIDE}`);
      permissions.push("--allow-env=SLIRP4NETNS_SHIM");
    }
    command = [RUNTIME_INSIDE, "run", "--no-prompt", ...permissions, main];
  }
  out.push("--scratch", CACHE_INSIDE);
  const api = facts.handoff.api;
  if (api !== undefined) out.push("--api-socket", String(api.dirFd), api.name, api.ino);
  for (const variable of env) out.push("--setenv", variable);
  out.push("--", ...command, handoffArgument(facts.handoff), ...facts.args);
  return out;
}

/**
 * Where the runtime keeps modules fetched from `url`, relative to its DENO_DIR (Deno's HTTP
 * cache: `remote/SCHEME/HOST[_PORTn]/SHA256(path and query)`): the directory, and the file.
 * Null for a URL that is not http(s).
 *
 * @example
 * ```ts
 * import { remoteCachePath } from "./launch_plan.ts";
 * const where = await remoteCachePath("http://127.0.0.1:4507/a.ts");
 * where?.dir; // "remote/http/127.0.0.1_PORT4507"
 * ```
 */
export async function remoteCachePath(
  url: string,
): Promise<{ dir: string; file: string } | null> {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
  const host = parsed.port === "" ? parsed.hostname : `${parsed.hostname}_PORT${parsed.port}`;
  const dir = `remote/${parsed.protocol.slice(0, -1)}/${host}`;
  const key = new TextEncoder().encode(parsed.pathname + parsed.search);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", key));
  const name = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  return { dir, file: `${dir}/${name}` };
}

/**
 * The runtime's DENO_DIR as Deno derives it: `DENO_DIR` (relative to the working directory),
 * else `$XDG_CACHE_HOME/deno` (when absolute), else `$HOME/.cache/deno`. Null when none applies.
 *
 * @example
 * ```ts
 * import { denoDir } from "./launch_plan.ts";
 * denoDir({ HOME: "/home/me" }, "/"); // "/home/me/.cache/deno"
 * ```
 */
export function denoDir(
  env: { DENO_DIR?: string; XDG_CACHE_HOME?: string; HOME?: string },
  cwd: string,
): string | null {
  const custom = env.DENO_DIR;
  if (custom !== undefined && custom !== "") {
    return custom.startsWith("/") ? custom : `${cwd.replace(/\/$/, "")}/${custom}`;
  }
  const xdg = env.XDG_CACHE_HOME;
  if (xdg !== undefined && xdg.startsWith("/")) return `${xdg.replace(/\/$/, "")}/deno`;
  const home = env.HOME;
  if (home !== undefined && home.startsWith("/")) return `${home.replace(/\/$/, "")}/.cache/deno`;
  return null;
}
