/**
 * The command line of the sandbox launcher (native/launcher/sandbox_launcher.c): which files the
 * continuation needs inside the sandbox, where it finds them, and how it is started. Pure: the
 * facts about this process come in as `LaunchFacts`.
 *
 * Layout inside the sandbox (besides /etc, /run, /usr and the loader's /lib*, /proc/PID,
 * /dev/null and /dev/urandom, which the launcher adds itself):
 *
 * ```
 * /slirp4netns/deno      the runtime (deno run), read-only
 * /slirp4netns/app       the directory holding cli.ts, src/ and native/build/, read-only
 * /slirp4netns/shim.so   the shim, when SLIRP4NETNS_SHIM chose it
 * /slirp4netns/cache     a private 64 MiB tmpfs for the runtime's compile cache (DENO_DIR)
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

/** Facts about this process that decide the plan. */
export interface LaunchFacts {
  /** The runtime executable (the target of /proc/self/exe). */
  runtime: string;
  /** True for a `deno compile` binary: `runtime` is the whole program. */
  standalone: boolean;
  /** The directory holding the program's files (`deno run` only). */
  appRoot: string;
  /** The main module, relative to `appRoot` (e.g. "cli.ts"). */
  mainModule: string;
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
 *   runtime: "/usr/bin/deno", standalone: false, appRoot: "/opt/s4n", mainModule: "cli.ts",
 *   shimOverride: null, args: ["--enable-sandbox", "1234", "tap0"], handoff: { tapFd: 5 },
 * });
 * args.includes("/slirp4netns/app/cli.ts"); // true
 * ```
 */
export function launcherArgs(facts: LaunchFacts): string[] {
  const out: string[] = [];
  if (facts.userns !== undefined) out.push("--userns", facts.userns);
  const env = [`DENO_DIR=${CACHE_INSIDE}`, "DENO_NO_UPDATE_CHECK=1"];
  let program: string[];
  if (facts.standalone) {
    out.push("--bind", facts.runtime, BINARY_INSIDE);
    program = [BINARY_INSIDE];
  } else {
    out.push("--bind", facts.runtime, RUNTIME_INSIDE, "--bind", facts.appRoot, APP_INSIDE);
    const permissions = ["--allow-ffi", "--allow-net", `--allow-read=${APP_INSIDE}`];
    if (facts.shimOverride !== null) {
      out.push("--bind", facts.shimOverride, SHIM_INSIDE);
      env.push(`SLIRP4NETNS_SHIM=${SHIM_INSIDE}`);
      permissions.push("--allow-env=SLIRP4NETNS_SHIM");
    }
    program = [
      RUNTIME_INSIDE,
      "run",
      "--no-prompt",
      ...permissions,
      `${APP_INSIDE}/${facts.mainModule}`,
    ];
  }
  out.push("--scratch", CACHE_INSIDE);
  const api = facts.handoff.api;
  if (api !== undefined) out.push("--api-socket", String(api.dirFd), api.name, api.ino);
  for (const variable of env) out.push("--setenv", variable);
  out.push("--", ...program, handoffArgument(facts.handoff), ...facts.args);
  return out;
}
