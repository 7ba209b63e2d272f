/**
 * Snapshots of a worker's state for get_stats, asked for off the packet path. The TCP and DNS
 * workers loop in epoll_wait through FFI and never return to their event loop, so a message
 * posted to them would never be delivered; posting *from* them works. So:
 *
 * ```
 *  main thread                               worker (between two turns of its loop)
 *  ASKED += 1, FLAGS |= f ── shared memory ─▶ ASKED != answered? build(FLAGS), answered = ASKED
 *  eventfd_signal(signalFd) ─── wakes it ──▶ ───── postMessage({kind: "snapshot", seq, value}) ─▶
 *  every request with seq <= answered resolves with that value
 * ```
 *
 * The worker looks at one shared word per turn (an `Atomics.load`); a snapshot is built only when
 * asked, after the turn's frames and host events, so a request waits at most one turn (a turn is
 * bounded: 1024 frames in the TCP worker) plus the wake-up.
 */
import type { Shim } from "../ffi/shim.ts";
import type { WorkerEvent } from "./worker_thread.ts";

/** Int32 slots of the shared request word. */
export const SNAPSHOT = {
  /** The number of the newest request (the main thread bumps it). */
  ASKED: 0,
  /** `SnapshotFlag`s of the requests not answered yet, OR-ed. */
  FLAGS: 1,
  BYTES: 8,
} as const;

/** What a request asks for beyond the summary. */
export const SnapshotFlag = {
  /** The list of open flows (get_stats `"connections": true`). */
  FLOWS: 1,
} as const;

/**
 * The worker side: call `serve()` once per turn of the loop.
 *
 * @example
 * ```ts ignore
 * const snapshots = new SnapshotServer(start.snapshot, (flags) => relayStats(relay, flags), report);
 * for (;;) { waitForFeeds(...); ...; snapshots.serve(); }
 * ```
 */
export class SnapshotServer {
  readonly #request: Int32Array;
  #answered = 0;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly build: (flags: number) => unknown,
    private readonly post: (event: WorkerEvent) => void,
  ) {
    this.#request = new Int32Array(buffer);
  }

  /** Answers the newest request, if one came since the last answer. */
  serve(): void {
    const asked = Atomics.load(this.#request, SNAPSHOT.ASKED);
    if (asked === this.#answered) return;
    this.#answered = asked;
    const flags = Atomics.exchange(this.#request, SNAPSHOT.FLAGS, 0);
    this.post({ kind: "snapshot", seq: asked, value: this.build(flags) });
  }
}

/**
 * The main-thread side. `received` is fed by the worker's lifecycle (WorkerThread.onSnapshot).
 */
export class SnapshotClient {
  readonly buffer = new SharedArrayBuffer(SNAPSHOT.BYTES);
  readonly #request = new Int32Array(this.buffer);
  readonly #pending = new Map<number, (value: unknown) => void>();

  /** @param wake wakes the worker (signals its eventfd) */
  constructor(private readonly wake: () => void) {}

  /**
   * Asks for a snapshot with `flags`; resolves with the worker's answer, or null when none came
   * within `timeoutMs` (the worker is gone or stuck).
   */
  request(flags: number, timeoutMs: number): Promise<unknown> {
    Atomics.or(this.#request, SNAPSHOT.FLAGS, flags);
    const seq = Atomics.add(this.#request, SNAPSHOT.ASKED, 1) + 1;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        resolve(null);
      }, timeoutMs);
      this.#pending.set(seq, (value) => {
        clearTimeout(timer);
        resolve(value);
      });
      this.wake();
    });
  }

  /** The worker's answer to every request up to `seq`. */
  received(seq: number, value: unknown): void {
    for (const [pending, resolve] of this.#pending) {
      if (pending > seq) continue;
      this.#pending.delete(pending);
      resolve(value);
    }
  }
}

/** A client whose worker signals with `signalFd` (the ring-feed eventfd in its epoll set). */
export function eventfdSnapshotClient(shim: Shim, signalFd: number): SnapshotClient {
  return new SnapshotClient(() => shim.shim_eventfd_signal(signalFd));
}
