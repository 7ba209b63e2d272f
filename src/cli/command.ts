/**
 * The slirp4netns-compatible command: `[OPTIONS] PID|PATH|FD [TAPNAME]`, or
 * `--target-type=bess [OPTIONS] SOCKETPATH` (src/link/bess.ts). cli.ts runs it (and mod.ts when it
 * is the main module), from these sources in a checkout and from its bundle src/bundled/command.js
 * when fetched from a registry or compiled (cli.ts). The only place that exits the process is
 * cli.ts.
 *
 * Start-up is ordered for speed: only what parsing and making the tap need is imported statically
 * (loading the whole stack's modules takes longer than making the tap); the Workers are created
 * while the namespace-joining child makes the tap (it is waited for on a thread of the runtime's
 * blocking pool), and load their modules on their own threads while this one loads the stack
 * (`await import`). The ready byte comes once every Worker answers frames.
 *
 * With `--enable-sandbox` the process runs twice (src/sandbox/mod.ts): this first image opens the
 * tap and binds the API socket, then becomes the sandbox launcher by execve; the launcher builds
 * the sandbox and runs the runtime again with a handoff argument, and that continuation starts
 * the network inside.
 */
import { bannerLines } from "./banner.ts";
import { parseCommandLine } from "./options.ts";
import type { Config } from "../config.ts";
import { errnoText } from "../ffi/errno.ts";
import { interfaceIpv4, interfaceIpv6 } from "../ffi/interfaces.ts";
import { POLLHUP, PollSet } from "../ffi/poll.ts";
import { cString, loadShim, type Shim } from "../ffi/shim.ts";
import { prespawnWorker } from "../host/worker_thread.ts";
import type { CaptureShare } from "../link/capture.ts";
import { openTap, openTapAsync } from "../link/open_tap.ts";
import { log, setLogLevel, writeStderrLine } from "../log.ts";
import { type Handoff, takeHandoff } from "../sandbox/handoff.ts";
import { DNS_RESOLVER_URL, TAP_READER_URL, TCP_TABLE_URL } from "../workers/urls.ts";

const encoder = new TextEncoder();

function writeStdoutLine(line: string): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let done = 0;
  while (done < bytes.length) done += stream.writeSync(bytes.subarray(done));
}

/** Writes the single byte "1" that tells the caller everything is up, then closes the fd. */
function signalReady(shim: Shim, fd: number): void {
  if (shim.shim_fd_inherited(fd) < 0) {
    // Not ours: never write into a file the runtime opened at that number.
    log.warn(`ready-fd ${fd} is not an inherited open fd`);
    return;
  }
  const rc = shim.shim_write(fd, encoder.encode("1"), 1);
  if (rc < 0) log.warn(`ready-fd ${fd}: ${errnoText(shim, -rc)}`);
  shim.shim_close(fd);
}

/**
 * Resolves when the exit fd has any poll event, including POLLNVAL for an fd that is not open
 * (slirp4netns exits then too). An fd the caller did not pass counts as not open.
 */
async function exitFdEvent(shim: Shim, fd: number): Promise<void> {
  if (shim.shim_fd_inherited(fd) < 0) return;
  const polled = new PollSet([{ fd, events: POLLHUP }]);
  while ((await shim.shim_poll_async(polled.bytes, 1, -1)) <= 0) {
    // EINTR or a spurious wake-up: wait again.
  }
}

/** Runs the command with `argv` (no program name); resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  let shim: Shim;
  try {
    shim = await loadShim();
  } catch (error) {
    writeStderrLine(error instanceof Error ? error.message : String(error));
    return 1;
  }
  // In the sandbox's continuation (src/sandbox/mod.ts) the arguments follow the handoff.
  const { handoff, args, error } = takeHandoff(argv);
  if (error !== undefined) {
    writeStderrLine(error);
    return 1;
  }
  const outcome = parseCommandLine(args, {
    // The continuation cannot see the caller's paths (/proc/PID/ns/*); the first image checked them.
    pathExists: (path) => handoff !== null || shim.shim_access(cString(path)) === 0,
    interfaceIpv4: (name) => interfaceIpv4(shim, name),
    interfaceIpv6: (name) => interfaceIpv6(shim, name),
  });
  if (outcome.kind === "exit") {
    writeAll(Deno.stdout, outcome.stdout);
    writeAll(Deno.stderr, outcome.stderr);
    return outcome.code;
  }
  setLogLevel(outcome.logLevel);
  // The continuation's parse-time warnings were printed by the first image already.
  if (handoff === null) outcome.stdoutLines.forEach(writeStdoutLine);
  return await run(shim, outcome.config, args, handoff);
}

/**
 * From now on SIGTERM and SIGINT stay pending for the image the process execs
 * (`shim_hold_stop_signals`); false, with the reason printed, when that fails.
 */
function holdStopSignals(shim: Shim): boolean {
  const held = shim.shim_hold_stop_signals();
  if (held < 0) writeStderrLine(`cannot hold stop signals: ${errnoText(shim, -held)}`);
  return held >= 0;
}

/**
 * `--enable-sandbox` in the first image: binds the API socket while its path is still in view,
 * then hands the process to the sandbox launcher, which returns here only on failure. A stop
 * asked for before that ends the run here with exit 0.
 */
async function sandboxOrFail(
  shim: Shim,
  config: Config,
  tapFd: number,
  args: string[],
  capture: CaptureShare | undefined,
  stopped: Promise<string>,
): Promise<number> {
  // Stop signals are held (run): pending, they end the launcher or the continuation with exit 0
  // and the API socket removed. One the runtime's handler took just before they were held has
  // reached `stopped` by now (the tap was made since), and ends the run here.
  const turn = new Promise<null>((resolve) => setTimeout(() => resolve(null), 5));
  const stop = await Promise.race([stopped, turn]);
  if (stop !== null) {
    writeStderrLine(stop);
    return 0;
  }
  const [{ ApiSocketError, bindApiSocket, closeApiSocket }, { enterSandbox }] = await Promise.all([
    import("../api/mod.ts"),
    import("../sandbox/mod.ts"),
  ]);
  let api;
  if (config.apiSocket !== undefined) {
    try {
      api = bindApiSocket(shim, config.apiSocket);
    } catch (error) {
      if (!(error instanceof ApiSocketError)) throw error;
      writeStderrLine(error.message);
      return 1;
    }
  }
  (await enterSandbox(shim, config, tapFd, api, args, capture?.fd)).forEach(writeStderrLine);
  if (api !== undefined) closeApiSocket(shim, api);
  return 1;
}

/**
 * `--target-type=bess`: listens at `path` and waits for the one client (src/link/bess.ts). A stop
 * signal during the wait ends the run with exit 0, as it would later.
 */
async function waitForBess(
  shim: Shim,
  path: string,
  stopped: Promise<string>,
): Promise<
  { ok: true; fd: number; announce: string[] } | { ok: false; lines: string[]; exitCode: number }
> {
  const { acceptBess, listenBess } = await import("../link/bess.ts");
  const listener = listenBess(shim, path);
  if ("lines" in listener) return { ok: false, lines: listener.lines, exitCode: 1 };
  writeStderrLine(`Waiting for connection to ${path}`);
  const accepted = await acceptBess(shim, listener, stopped);
  if (accepted.kind === "accepted") {
    return { ok: true, fd: accepted.fd, announce: accepted.announce };
  }
  if (accepted.kind === "failed") return { ok: false, lines: accepted.lines, exitCode: 1 };
  return { ok: false, lines: [await stopped], exitCode: 0 };
}

/** Starts loading the modules the network needs once the tap exists. */
function importStack(config: Config, handoff: Handoff | null) {
  return Promise.all([
    import("../network.ts"),
    import("../api/mod.ts"),
    config.enableSeccomp || handoff !== null ? import("../sandbox/mod.ts") : null,
  ]);
}

/** Creates the Workers the network will start (src/host/worker_thread.ts prespawnWorker). */
function prespawnWorkers(config: Config): void {
  prespawnWorker(TAP_READER_URL);
  prespawnWorker(TCP_TABLE_URL);
  if (!config.disableDns) prespawnWorker(DNS_RESOLVER_URL);
}

async function run(
  shim: Shim,
  config: Config,
  args: string[],
  handoff: Handoff | null,
): Promise<number> {
  // Listen first: a caller may signal as soon as anything it waits for (the tap, the API socket)
  // appears, and a stop asked for during start-up takes effect once start-up is complete.
  const stopped = new Promise<string>((resolve) => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(signal, () => resolve(`${signal} received`));
    }
    if (config.exitFd !== undefined) {
      exitFdEvent(shim, config.exitFd).then(() => resolve("exitfd event"));
    }
  });
  // With --enable-sandbox this image hands itself to the launcher by execve (sandboxOrFail); a stop
  // signal is held from here for the launcher and the continuation, except while a BESS client is
  // awaited (the wait ends on `stopped`).
  const holdsStopSignals = config.enableSandbox && handoff === null;
  if (holdsStopSignals && config.target.kind !== "bess" && !holdStopSignals(shim)) return 1;
  let tapFd: number;
  let capture: CaptureShare | undefined;
  /** The stack's modules, loading; the Workers are created when this is set. */
  let stack: ReturnType<typeof importStack> | undefined;
  if (handoff !== null) {
    // Blocked by the first image across both execs; our listeners are in place now.
    shim.shim_unblock_stop_signals();
    tapFd = handoff.tapFd;
    if (handoff.pcapFd !== undefined) {
      const { adoptCapture } = await import("../link/capture.ts");
      capture = adoptCapture(handoff.pcapFd, config.pcap ?? "");
    }
  } else {
    if (config.pcap !== undefined) {
      // Before the tap: a file that cannot be written fails the start before the namespace is
      // touched.
      const { openCapture } = await import("../link/capture.ts");
      const opened = openCapture(shim, config.pcap);
      if ("error" in opened) {
        writeStderrLine(opened.error);
        return 1;
      }
      capture = opened;
    }
    let tap;
    if (config.target.kind === "bess") {
      tap = await waitForBess(shim, config.target.socketPath, stopped);
      if (tap.ok && holdsStopSignals && !holdStopSignals(shim)) return 1;
    } else if (config.target.kind === "tapfd" || config.enableSandbox) {
      tap = openTap(shim, config);
    } else {
      // The child makes the tap while this thread creates the Workers (each `new Worker` blocks
      // it for the worker runtime's creation) and starts loading the stack.
      const opening = openTapAsync(shim, config);
      stack = importStack(config, handoff);
      prespawnWorkers(config);
      tap = await opening;
    }
    if (!tap.ok) {
      tap.lines.forEach(writeStderrLine);
      return tap.exitCode;
    }
    tap.announce.forEach(writeStderrLine);
    bannerLines(config).forEach(writeStdoutLine);
    if (config.enableSandbox) {
      return await sandboxOrFail(shim, config, tap.fd, args, capture, stopped);
    }
    tapFd = tap.fd;
  }

  if (stack === undefined) {
    stack = importStack(config, handoff);
    prespawnWorkers(config);
  }
  const [{ Network }, { ApiSocketError }, sandbox] = await stack;
  const network = await Network.start(config, tapFd, capture);
  const failed = async (line: string) => {
    writeStderrLine(line);
    await network.stop();
    return 1;
  };
  if (config.apiSocket !== undefined) {
    const api = handoff?.api;
    try {
      network.openApi(
        api === undefined ? config.apiSocket : {
          path: config.apiSocket,
          fd: api.fd,
          dirFd: api.dirFd,
          name: api.name,
          dev: BigInt(api.dev),
          ino: BigInt(api.ino),
        },
      );
    } catch (error) {
      if (!(error instanceof ApiSocketError)) throw error;
      return await failed(error.message);
    }
  }
  if (handoff !== null) {
    const notSandboxed = sandbox!.checkSandbox(shim);
    if (notSandboxed !== null) return await failed(notSandboxed);
  }
  if (config.enableSeccomp) {
    // TSYNC: the Workers' threads, already running, get the filter too.
    const notInstalled = sandbox!.installSeccomp(shim);
    if (notInstalled !== null) return await failed(notInstalled);
    writeStdoutLine(sandbox!.blockedCallsLine());
  }
  if (!(await network.started)) return await failed("a Worker failed to start");
  if (config.readyFd !== undefined) signalReady(shim, config.readyFd);

  writeStderrLine(
    await Promise.race([stopped, network.hungUp.then(() => "the BESS client hung up")]),
  );
  await network.stop();
  log.debug(`counters: ${JSON.stringify(network.counterTotals())}`);
  return 0;
}

/**
 * Imports every module the command may import later (the stack, the API, the sandbox, `--pcap`,
 * BESS), so that they are in the module cache: the sandbox's continuation runs with
 * `--cached-only` (src/workers/module_loader.ts). In the bundle these are its chunks.
 */
export async function preloadCommandModules(): Promise<void> {
  await Promise.all([
    import("../network.ts"),
    import("../api/mod.ts"),
    import("../sandbox/mod.ts"),
    import("../link/capture.ts"),
    import("../link/bess.ts"),
  ]);
}
