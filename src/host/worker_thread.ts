/**
 * The lifecycle of one of our Workers as seen from the main thread: start it with one message,
 * log what it reports, and stop it. Our workers block in poll/epoll_wait through FFI, which
 * `terminate()` cannot interrupt, so stopping is cooperative (the caller signals the worker's stop
 * fd first) and `terminate()` is only the fallback after a timeout.
 *
 * A worker reports {@link WorkerEvent}s: "started" once, "error" with a message any number of
 * times, "stopped" last.
 */
import { log } from "../log.ts";

/** What one of our workers reports. */
export type WorkerEvent =
  | { kind: "started" }
  | { kind: "error"; message: string }
  | { kind: "stopped" };

const STOP_TIMEOUT_MS = 2000;

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
  /** Resolves when the worker has started, has failed to, or was stopped before it was created. */
  readonly started: Promise<void>;
  readonly #stopped: Promise<void>;
  readonly #startedOrNever: () => void;
  #worker: Worker | null = null;
  #spawn: ReturnType<typeof setTimeout> | undefined;

  private constructor(name: string, url: URL, start: unknown) {
    let started!: () => void;
    let stopped!: () => void;
    this.started = new Promise((resolve) => started = resolve);
    this.#startedOrNever = started;
    this.#stopped = new Promise((resolve) => stopped = resolve);
    // `new Worker` blocks this thread while the worker's isolate boots (about 15 ms here), so it
    // happens on a later turn of the event loop: start-up reports ready without waiting for it,
    // and the worker then finds the frames the kernel queued meanwhile.
    this.#spawn = setTimeout(() => {
      this.#spawn = undefined;
      const worker = new Worker(url.href, { type: "module" });
      this.#worker = worker;
      worker.onmessage = (event: MessageEvent<WorkerEvent>) => {
        const message = event.data;
        if (message.kind === "started") started();
        if (message.kind === "error") log.error(`${name}: ${message.message}`);
        if (message.kind === "stopped") {
          started();
          stopped();
        }
      };
      worker.onerror = (event) => {
        event.preventDefault();
        log.error(`${name}: ${event.message}`);
        started();
        stopped();
      };
      worker.postMessage(start);
    }, 0);
  }

  /** Starts the worker module at `url` (on a later turn) and sends it `start`. */
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
      this.#startedOrNever();
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
