/**
 * The main-thread side of a Worker fed with frames by the dispatcher (the TCP connection table,
 * the DNS resolver): a FrameRing the dispatcher's forwarder copies frames into (FFI memcpy;
 * TypedArray.set into a SharedArrayBuffer is slower), a signal eventfd written once per drained
 * batch (a microtask queued by the batch's first frame runs after the dispatcher's synchronous
 * drain), a stop eventfd, and the worker's lifecycle. Stopping is cooperative: the stop eventfd,
 * then `terminate()` as a fallback (it cannot interrupt a worker blocked in epoll_wait).
 *
 * The worker speaks {@link RingWorkerEvent}s and takes a start message that includes the ring and
 * both eventfds ({@link RingWorkerChannel}).
 */

import { errnoText } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import { FrameRing } from "../ring/frame_ring.ts";
import { type WorkerEvent, WorkerThread } from "./worker_thread.ts";

/** What such a worker reports. */
export type RingWorkerEvent = WorkerEvent;

/** The part of the start message every such worker gets. */
export interface RingWorkerChannel {
  /** Frames from the dispatcher (the worker consumes). */
  ring: SharedArrayBuffer;
  /** An eventfd the dispatcher signals after pushing a batch. */
  signalFd: number;
  /** An eventfd; readable means stop. */
  stopFd: number;
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
  /** Whether a batch must be signalled (e.g. only while the worker sleeps); default: always. */
  needsSignal?: () => boolean;
  /** Called for each frame dropped because the ring was full (or the frame too long). */
  dropped(): void;
}

/**
 * A running worker and its ring.
 *
 * @example
 * ```ts ignore
 * const worker = RingWorker.start({ shim, name: "TCP worker", url, ringBytes: 16 << 20,
 *   maxFrame: 65549, start: (channel) => ({ ...channel, mtu }), dropped: () => {} });
 * forwarders.tcp = worker.forward;
 * await worker.stop();
 * ```
 */
export class RingWorker {
  /** Copies one frame into the ring (false: dropped, the ring is full); the dispatcher's forwarder. */
  readonly forward: (frame: Uint8Array, now: number) => boolean;
  /** Resolves when the worker has started (or failed to). */
  readonly started: Promise<void>;
  readonly #shim: Shim;
  readonly #ring: FrameRing;
  readonly #signalFd: number;
  readonly #stopFd: number;
  readonly #worker: WorkerThread;
  #signalQueued = false;
  #stopping: Promise<void> | undefined;

  private constructor(options: RingWorkerOptions, signalFd: number, stopFd: number) {
    const { shim, name, maxFrame } = options;
    this.#shim = shim;
    this.#signalFd = signalFd;
    this.#stopFd = stopFd;
    const ring = FrameRing.create(options.ringBytes, { maxFrame });
    this.#ring = ring;
    const needsSignal = options.needsSignal ?? (() => true);
    const dropped = options.dropped;
    const signal = () => {
      this.#signalQueued = false;
      // The ring's HEAD store came before this (sequentially consistent) look at the worker.
      if (needsSignal()) shim.shim_eventfd_signal(signalFd);
    };
    this.forward = (frame) => {
      const length = frame.length;
      const slot = length <= maxFrame ? ring.reserve(length) : null;
      if (slot === null) {
        ring.countDrop();
        dropped();
        return false;
      }
      shim.shim_copy(slot, 0, frame, 0, length);
      ring.commit(length);
      if (!this.#signalQueued) {
        this.#signalQueued = true;
        queueMicrotask(signal);
      }
      return true;
    };

    this.#worker = WorkerThread.start(
      name,
      options.url,
      options.start({ ring: ring.buffer, signalFd, stopFd }),
    );
    this.started = this.#worker.started;
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

  /** Stops the worker and closes the eventfds. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#shim.shim_eventfd_signal(this.#stopFd);
    this.#ring.close();
    await this.#worker.stop();
    this.#shim.shim_close(this.#signalFd);
    this.#shim.shim_close(this.#stopFd);
  }
}
