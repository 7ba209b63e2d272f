/**
 * `--enable-sandbox` and `--enable-seccomp` for every thread of the process (reference §4.3,
 * §4.4; Deno facts: deno-runtime.md §9).
 *
 * Theory of Operation
 *
 * Linux keeps the mount namespace, the root directory, the capability sets and no_new_privs per
 * thread, and a Deno process has a dozen threads before its first line of TypeScript (V8
 * platform workers, the runtime's I/O and blocking pools) and starts more later (one per Worker,
 * blocking-pool threads on demand for `nonblocking` FFI calls). Building slirp4netns's sandbox in
 * the main thread would leave all of them outside; unshare(CLONE_NEWNS) even fails with EINVAL in
 * a multithreaded process. So the process is rebuilt inside the sandbox instead, by execve, which
 * keeps the PID and the fds and leaves exactly one thread:
 *
 * ```
 *  image 1: deno cli.ts              image 2: slirp4netns-sandbox        image 3: deno cli.ts
 *  (many threads, caller's view)     (one thread, C)                     (inside; all threads)
 *  parse options, print warnings     join the target's userns if no      parse the same options
 *  open + configure the tap          CAP_SYS_ADMIN; unshare(NEWNS),      adopt tap + API socket
 *  print the banner                  / rslave; tmpfs on /tmp with /etc,  check the sandbox holds
 *  bind + listen the API socket ──▶  /run (+ escaped resolv.conf), /usr, start the network
 *  clear CLOEXEC, block TERM/INT     loader dirs, /proc/PID, /dev/null ─▶ seccomp, TSYNC (opt.)
 *  execve(launcher) ─── same PID ──▶ /dev/urandom, runtime, app (all ro) write the ready byte
 *                                    pivot_root, ro root, NNP, caps      Workers start: inside,
 *                                    = {NET_BIND_SERVICE}; execve ─────▶ under the filter
 * ```
 *
 * - What crosses: the tap fd, the API socket's listening fd and an O_PATH handle on its directory
 *   (so the file can be removed at exit although its path is out of view), the `--pcap` file
 *   (opened for appending, its header written), the caller's ready and exit fds, stdio. They are
 *   named in `--sandbox-continuation=<JSON>` (handoff.ts), the first argument of image 3, ahead
 *   of the unchanged slirp4netns arguments. Image 3 does not print the
 *   parse-time warnings or the banner again.
 * - The launcher (image 2) is the local build in a checkout that has one, else the static
 *   executable the package ships for this architecture (native/prebuilt/launcher_ARCH.ts, `deno
 *   task prepublish`), written into a sealed memfd and executed as /proc/self/fd/N: a registry
 *   run, a compiled binary or a checkout without a compiler. It never reads its own path, and
 *   the memfd (close-on-exec) is gone once it runs.
 * - How image 3 runs the program, by how image 1 ran (launch_plan.ts `Program`):
 *   - a checkout (`deno run cli.ts`): the program's directory bound at /slirp4netns/app;
 *   - a registry (`deno run jsr:@x/slirp4netns`, or an http(s) URL): the same specifier with
 *     `--cached-only`, from the runtime's module cache, of which only the directory of the
 *     package's host (DENO_DIR/remote/SCHEME/HOST, DENO_DIR found as Deno finds it) is bound,
 *     read-only, below the scratch DENO_DIR; `--allow-import` for that host if image 1 had it.
 *     Deno fetches a main module's static graph (and literal dynamic imports) up front, but a
 *     Worker's modules only when it starts: image 1 therefore imports every module the
 *     continuation will (module_cache.ts) in a throwaway Worker before the execve. Image 3 has
 *     no way to fetch anything and no view of the caller's files;
 *   - a compiled binary (`deno compile`): the binary bound at /slirp4netns/slirp4netns and run
 *     directly (its modules are inside it).
 * - What image 3 sees (launch_plan.ts): a read-only tmpfs root with /etc and /run (read-only
 *   rbinds, slaves of the caller's mounts: changes there, such as a replaced resolv.conf, show
 *   through; nothing of ours propagates back), a resolv.conf that escapes them bound at its real
 *   path (§4.3 step 4), and what the runtime needs: /usr and the loader's /lib* (shared
 *   libraries), /proc/PID only (glibc reads /proc/self/maps for the main thread's stack; /proc/self
 *   is a symlink to it), /dev/null, /dev/urandom (V8's randomization seed), the runtime and the
 *   program's directory at neutral paths under /slirp4netns, and a private 64 MiB tmpfs as the
 *   runtime's compile cache (without a writable one Deno retries for 150 ms). No /home, /root,
 *   /var, /tmp. Every bind is read-only recursively (mount_setattr), so /run's submounts too.
 * - Credentials: with CAP_SYS_ADMIN (root, or root of a user namespace as Podman runs us) the
 *   launcher builds at once. Without, it joins the target's user namespace (`--userns-path`, else
 *   /proc/PID/ns/user) like slirp4netns, and where there is none to join (slirp4netns #317:
 *   `--netns-type=path` or tapfd without `--userns-path`) it makes one of its own. Then
 *   no_new_privs and eff = prm = inh = bounding = {CAP_NET_BIND_SERVICE}; across the last execve a
 *   uid 0 keeps exactly that, any other uid through the ambient set.
 * - Failure: any step that fails prints `sandbox: <step>: <error>` and `create_sandbox failed`,
 *   removes the API socket and exits 1, before the ready byte. Image 3 checks no_new_privs, the
 *   capability sets and the read-only root before it reports ready (`checkSandbox`), so a half-
 *   built sandbox never says ready.
 * - Signals: image 1 holds SIGTERM and SIGINT as soon as its listeners are in place (after the
 *   client connected, for BESS) (`shim_hold_stop_signals`: blocked on the thread that will
 *   execve, and forwarded to it from any other, so they stay pending across both execs) and ends
 *   with exit 0 if the runtime had taken one in between; the launcher exits 0 (removing the API socket) if one is pending when
 *   it is done, and image 3 unblocks them once its listeners are in place.
 * - Seccomp (seccomp.ts) is installed by image 3 (it could not execve under it), after the sandbox
 *   check and before the ready byte, on all threads at once with SECCOMP_FILTER_FLAG_TSYNC; without
 *   the sandbox, image 1 installs it the same way. Threads started later inherit it.
 * - Cost, start to the ready byte (median of 7, idle 2-core VM): 45 ms plain, 128 ms sandboxed:
 *   a second runtime start with an empty compile cache (the program's paths differ inside, so
 *   the caller's cache never matches); the launcher itself takes under 5 ms.
 */
import type { ApiSocketFile } from "../api/mod.ts";
import type { Config } from "../config.ts";
import { errnoText } from "../ffi/errno.ts";
import { locateLauncher } from "../ffi/locate.ts";
import {
  cString,
  environmentVariable,
  memfdPath,
  type Shim,
  shimOverridePath,
} from "../ffi/shim.ts";
import type { Handoff } from "./handoff.ts";
import { denoDir, launcherArgs, type Program, remoteCachePath } from "./launch_plan.ts";
import { cacheContinuationModules } from "./module_cache.ts";

export { CONTINUATION_FLAG, type Handoff, takeHandoff } from "./handoff.ts";
export { blockedCallsLine, installSeccomp } from "./seccomp.ts";

const CAP_NET_BIND_SERVICE_BIT = 1 << 10;

function readLink(shim: Shim, path: string): string | null {
  const buf = new Uint8Array(4096);
  const n = shim.shim_readlink(cString(path), buf, buf.length);
  return n < 0 ? null : new TextDecoder().decode(buf.subarray(0, n));
}

/** The user namespace slirp4netns would join for the sandbox (and, unlike it, `--userns-path`). */
function usernsFor(config: Config): string | undefined {
  if (config.userNsPath !== undefined) return config.userNsPath;
  return config.target.kind === "pid" ? `/proc/${config.target.pid}/ns/user` : undefined;
}

/** The program as a checkout's files: the directory above src/, and the main module below it. */
function checkoutProgram(): Program | string {
  const appRoot = decodeURIComponent(new URL("../../", import.meta.url).pathname).replace(
    /\/$/,
    "",
  );
  const main = Deno.mainModule.startsWith("file:")
    ? decodeURIComponent(new URL(Deno.mainModule).pathname)
    : "";
  if (!main.startsWith(appRoot + "/")) {
    return `the main module ${Deno.mainModule} is not below ${appRoot}`;
  }
  return { kind: "checkout", appRoot, mainModule: main.slice(appRoot.length + 1) };
}

/**
 * The program as a registry run: every module the continuation will import fetched now, and the
 * directory of the runtime's module cache that holds them (checked: this module's file is there).
 */
async function remoteProgram(shim: Shim): Promise<Program | string> {
  const ours = await remoteCachePath(import.meta.url);
  const main = Deno.mainModule;
  const mainOrigin = main.startsWith("jsr:") ? null : new URL(main).origin;
  if (ours === null || (mainOrigin !== null && mainOrigin !== new URL(import.meta.url).origin)) {
    return `the main module ${main} is not from the package's server (${import.meta.url})`;
  }
  const notCached = await cacheContinuationModules();
  if (notCached !== null) return notCached;
  const cwd = readLink(shim, "/proc/self/cwd") ?? "/";
  const root = denoDir({
    DENO_DIR: environmentVariable("DENO_DIR"),
    XDG_CACHE_HOME: environmentVariable("XDG_CACHE_HOME"),
    HOME: environmentVariable("HOME"),
  }, cwd);
  if (root === null || shim.shim_access(cString(`${root}/${ours.file}`)) < 0) {
    return `the runtime's module cache was not found (looked in ${
      root ?? "no DENO_DIR, " +
          "XDG_CACHE_HOME or HOME"
    }); set DENO_DIR`;
  }
  const host = new URL(import.meta.url).host;
  const granted = Deno.permissions.querySync({ name: "import", host }).state === "granted";
  return {
    kind: "remote",
    mainModule: main,
    moduleCache: `${root}/${ours.dir}`,
    moduleCacheSubdir: ours.dir,
    allowImport: granted ? host : null,
  };
}

/** How this process runs (checkout, registry, compiled binary), or why the sandbox cannot run it. */
async function thisProgram(shim: Shim): Promise<Program | string> {
  if (Deno.build.standalone) return { kind: "standalone" };
  const protocol = new URL(import.meta.url).protocol;
  if (protocol === "file:") return checkoutProgram();
  if (protocol === "http:" || protocol === "https:") return await remoteProgram(shim);
  return `cannot run the program from ${import.meta.url} in the sandbox`;
}

/** The launcher's path: the local build, else the shipped executable in a memfd. */
async function launcherPath(): Promise<string> {
  const location = await locateLauncher();
  if (location.kind === "file") return location.path;
  return memfdPath(location.bytes, "slirp4netns-sandbox", true);
}

/**
 * Hands the process over to the sandbox launcher: execve, so this returns only when that failed,
 * with the lines to print before exiting 1. `args` are the slirp4netns arguments as given.
 */
export async function enterSandbox(
  shim: Shim,
  config: Config,
  tapFd: number,
  api: ApiSocketFile | undefined,
  args: readonly string[],
  pcapFd?: number,
): Promise<string[]> {
  const fail = (reason: string) => [`sandbox: ${reason}`, "create_sandbox failed"];
  const program = await thisProgram(shim);
  if (typeof program === "string") return fail(program);
  let launcher: string;
  try {
    launcher = await launcherPath();
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  const runtime = readLink(shim, "/proc/self/exe");
  if (runtime === null) return fail("cannot find the runtime (/proc/self/exe)");
  const handoff: Handoff = { tapFd };
  if (pcapFd !== undefined) handoff.pcapFd = pcapFd;
  if (api !== undefined) {
    handoff.api = {
      fd: api.fd,
      dirFd: api.dirFd,
      name: api.name,
      dev: String(api.dev),
      ino: String(api.ino),
    };
  }
  for (const fd of [tapFd, api?.fd, api?.dirFd, pcapFd]) {
    if (fd === undefined) continue;
    const rc = shim.shim_set_cloexec(fd, 0);
    if (rc < 0) return fail(`fcntl(${fd}): ${errnoText(shim, -rc)}`);
  }
  const argv = [
    "slirp4netns-sandbox",
    ...launcherArgs({
      runtime,
      program,
      shimOverride: shimOverridePath(),
      userns: usernsFor(config),
      args,
      handoff,
    }),
  ];
  const block = new TextEncoder().encode(argv.map((a) => a + "\0").join(""));
  const rc = shim.shim_exec(cString(launcher), block, argv.length);
  return fail(`cannot execute ${launcher}: ${errnoText(shim, -rc)}`);
}

/**
 * In the continuation: whether this thread is really sandboxed (no_new_privs, no capability but
 * CAP_NET_BIND_SERVICE in any set, read-only root). Null when it is, else the reason; every
 * thread started from here on inherits the same credentials.
 */
export function checkSandbox(shim: Shim): string | null {
  const state = new Uint32Array(11);
  const rc = shim.shim_sandbox_state(new Uint8Array(state.buffer));
  if (rc < 0) return `sandbox: cannot read this process's state: ${errnoText(shim, -rc)}`;
  const [nnp, effLow, effHigh, prmLow, prmHigh, inhLow, inhHigh, bndLow, bndHigh, rootRo] = state;
  const only = (low: number, high: number) => high === 0 && (low & ~CAP_NET_BIND_SERVICE_BIT) === 0;
  if (nnp !== 1) return "sandbox: not in effect after the re-exec: no_new_privs is not set";
  if (
    !only(effLow, effHigh) || !only(prmLow, prmHigh) || !only(inhLow, inhHigh) ||
    !only(bndLow, bndHigh)
  ) {
    return "sandbox: not in effect after the re-exec: capabilities beyond CAP_NET_BIND_SERVICE";
  }
  if (rootRo !== 1) return "sandbox: not in effect after the re-exec: / is writable";
  return null;
}
