/**
 * The lifecycle of one of our Workers as seen from the main thread: start it with one message,
 * log what it reports, and stop it. Our workers block in poll/epoll_wait through FFI, which
 * `terminate()` cannot interrupt, so stopping is cooperative (the caller signals the worker's stop
 * fd first) and `terminate()` is only the fallback after a timeout.
 *
 * A worker reports {@link WorkerEvent}s: "started" once, "error" with a message any number of
 * times, "stopped" last.
 *
 * `new Worker` blocks its caller while the worker's runtime is created (about 10 ms here, the
 * caller idle meanwhile), and the worker then loads its modules on its own thread. A program that
 * knows early which workers it will start can create them with {@link prespawnWorker} (they load
 * their modules and wait for their start message) and load the rest of its own modules meanwhile;
 * {@link WorkerThread.start} then adopts the waiting worker for that module.
 */
import { log } from "../log.ts";

/** What one of our workers reports. */
export type WorkerEvent =
  | { kind: "started" }
  | { kind: "error"; message: string }
  | { kind: "stopped" }
  /** The tap reader's link was closed by its peer (a BESS client hung up); it stops next. */
  | { kind: "hangup" }
  /** An answer to a snapshot request (snapshot.ts). */
  | { kind: "snapshot"; seq: number; value: unknown };

const STOP_TIMEOUT_MS = 2000;

/** A worker created ahead of its start message, and an error it reported meanwhile. */
interface Prespawned {
  worker: Worker;
  error: string | null;
}

/** Prespawned workers by module URL, oldest first. */
const prespawned = new Map<string, Prespawned[]>();

/**
 * Creates a worker for the module at `url` now; the next {@link WorkerThread.start} for the same
 * URL adopts it instead of creating one.
 */
export function prespawnWorker(url: URL): void {
  const entry: Prespawned = { worker: new Worker(url.href, { type: "module" }), error: null };
  // Until adopted: an error (a module that failed to load) is kept, not thrown at this thread.
  entry.worker.onerror = (event) => {
    event.preventDefault();
    entry.error ??= event.message;
  };
  const waiting = prespawned.get(url.href) ?? [];
  waiting.push(entry);
  prespawned.set(url.href, waiting);
}

/**
 * A running worker.
 *
 * @example
 * ```ts ignore
 * const thread = WorkerThread.start("tap reader", new URL("../workers/tap_reader.ts", import.meta.url), start);
 * await thread.started;
 * // signal its stop fd, then:
 * await thread.stop();
 * ```
 */
export class WorkerThread {
  /**
   * Resolves true when the worker has started; false when it failed to (the reason is logged) or
   * was stopped first.
   */
  readonly started: Promise<boolean>;
  /** Receives the worker's snapshot answers (snapshot.ts). */
  onSnapshot: ((seq: number, value: unknown) => void) | null = null;
  /** Called when the worker reports "hangup". */
  onHangup: (() => void) | null = null;
  readonly #stopped: Promise<void>;
  readonly #startedOrNever: (ok: boolean) => void;
  #worker: Worker | null = null;
  #spawn: ReturnType<typeof setTimeout> | undefined;

  private constructor(name: string, url: URL, start: unknown) {
    let started!: (ok: boolean) => void;
    let stopped!: () => void;
    this.started = new Promise((resolve) => started = resolve);
    this.#startedOrNever = started;
    this.#stopped = new Promise((resolve) => stopped = resolve);
    const adopt = (worker: Worker, earlyError: string | null) => {
      this.#worker = worker;
      worker.onmessage = (event: MessageEvent<WorkerEvent>) => {
        const message = event.data;
        if (message.kind === "started") started(true);
        if (message.kind === "error") log.error(`${name}: ${message.message}`);
        if (message.kind === "snapshot") this.onSnapshot?.(message.seq, message.value);
        if (message.kind === "hangup") this.onHangup?.();
        if (message.kind === "stopped") {
          started(false);
          stopped();
        }
      };
      const failed = (message: string) => {
        log.error(`${name}: ${message}`);
        started(false);
        stopped();
      };
      worker.onerror = (event) => {
        event.preventDefault();
        failed(event.message);
      };
      if (earlyError !== null) failed(earlyError);
      else worker.postMessage(start);
    };
    const waiting = prespawned.get(url.href)?.shift();
    if (waiting) {
      adopt(waiting.worker, waiting.error);
      return;
    }
    // Not prespawned: `new Worker` blocks this thread while the worker's runtime is created, so
    // it happens on a later turn of the event loop and the caller's start-up goes on meanwhile.
    this.#spawn = setTimeout(() => {
      this.#spawn = undefined;
      adopt(new Worker(url.href, { type: "module" }), null);
    }, 0);
  }

  /**
   * Starts the worker module at `url` (a prespawned one, else a new one on a later turn) and
   * sends it `start`.
   */
  static start(name: string, url: URL, start: unknown): WorkerThread {
    return new WorkerThread(name, url, start);
  }

  /**
   * Waits for the worker to report "stopped" (the caller has told it to stop), at most a few
   * seconds, then terminates it. A worker not created yet never is.
   */
  async stop(): Promise<void> {
    if (this.#spawn !== undefined) {
      clearTimeout(this.#spawn);
      this.#spawn = undefined;
      this.#startedOrNever(false);
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#stopped,
      new Promise((resolve) => timer = setTimeout(resolve, STOP_TIMEOUT_MS)),
    ]);
    clearTimeout(timer);
    this.#worker?.terminate();
  }
}
