/**
 * The main-thread side of a Worker fed with frames by the tap reader (the TCP connection table,
 * the DNS resolver): the worker's input channel (a FrameRing, its sleep flag and signal eventfd,
 * see ring_feed.ts), a stop eventfd, and the worker's lifecycle. The tap reader attaches the
 * producer side to {@link RingWorker.feed}. Stopping is cooperative: the stop eventfd, then
 * `terminate()` as a fallback (it cannot interrupt a worker blocked in epoll_wait).
 *
 * The worker speaks WorkerEvents (src/workers/lifecycle.ts) and takes a start message that
 * includes its channel ({@link RingWorkerChannel}).
 */

import { errnoText } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import { createFeedChannel, type RingFeedChannel } from "./ring_feed.ts";
import { eventfdSnapshotClient, type SnapshotClient } from "./snapshot.ts";
import { WorkerThread } from "./worker_thread.ts";

/** The part of the start message every such worker gets. */
export interface RingWorkerChannel extends RingFeedChannel {
  /** An eventfd; readable means stop. */
  stopFd: number;
  /** The snapshot request word (snapshot.ts), woken through `signalFd`. */
  snapshot: SharedArrayBuffer;
}

/** How to start one. */
export interface RingWorkerOptions {
  shim: Shim;
  /** For log lines, e.g. "TCP worker". */
  name: string;
  /** The worker module. */
  url: URL;
  ringBytes: number;
  maxFrame: number;
  /** The start message, given the channel. */
  start(channel: RingWorkerChannel): RingWorkerChannel;
}

/**
 * A running worker and its input channel.
 *
 * @example
 * ```ts ignore
 * const worker = RingWorker.start({ shim, name: "TCP worker", url, ringBytes: 16 << 20,
 *   maxFrame: 65549, start: (channel) => ({ ...channel, mtu }) });
 * // the tap reader: new RingFeed(shim, worker.feed, dropped)
 * await worker.stop();
 * ```
 */
export class RingWorker {
  /** The worker's input, for the producer to attach a `RingFeed` to. */
  readonly feed: RingFeedChannel;
  /** Resolves true when the worker has started, false when it failed to (the reason is logged). */
  readonly started: Promise<boolean>;
  readonly #shim: Shim;
  readonly #stopFd: number;
  readonly #worker: WorkerThread;
  readonly #snapshots: SnapshotClient;
  #stopping: Promise<void> | undefined;

  private constructor(options: RingWorkerOptions, signalFd: number, stopFd: number) {
    this.#shim = options.shim;
    this.#stopFd = stopFd;
    this.feed = createFeedChannel(options.ringBytes, options.maxFrame, signalFd);
    const snapshots = eventfdSnapshotClient(options.shim, signalFd);
    this.#snapshots = snapshots;
    this.#worker = WorkerThread.start(
      options.name,
      options.url,
      options.start({ ...this.feed, stopFd, snapshot: snapshots.buffer }),
    );
    this.#worker.onSnapshot = (seq, value) => snapshots.received(seq, value);
    this.started = this.#worker.started;
  }

  /**
   * The worker's snapshot (snapshot.ts) with `flags`, or null if it gave none in `timeoutMs`
   * (or is stopping).
   */
  snapshot(flags: number, timeoutMs: number): Promise<unknown> {
    if (this.#stopping !== undefined) return Promise.resolve(null);
    return this.#snapshots.request(flags, timeoutMs);
  }

  /** Starts the worker; throws if its eventfds cannot be created. */
  static start(options: RingWorkerOptions): RingWorker {
    const shim = options.shim;
    const signalFd = shim.shim_eventfd();
    if (signalFd < 0) throw new Error(`Cannot create an eventfd: ${errnoText(shim, -signalFd)}`);
    const stopFd = shim.shim_eventfd();
    if (stopFd < 0) {
      shim.shim_close(signalFd);
      throw new Error(`Cannot create an eventfd: ${errnoText(shim, -stopFd)}`);
    }
    return new RingWorker(options, signalFd, stopFd);
  }

  /** Stops the worker and closes the eventfds. Idempotent. Stop the producer first. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#shim.shim_eventfd_signal(this.#stopFd);
    await this.#worker.stop();
    this.#shim.shim_close(this.feed.signalFd);
    this.#shim.shim_close(this.#stopFd);
  }
}
