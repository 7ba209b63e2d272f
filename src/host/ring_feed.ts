/**
 * Frames handed from one thread to a Worker that sleeps in epoll_wait (the TCP connection table,
 * the DNS resolver): a FrameRing, an eventfd in the worker's epoll set, and two shared words, one
 * saying whether the worker is (about to be) asleep and one whether it wants early wakes. Both
 * sides of that protocol live here.
 *
 * The producer (`RingFeed`) copies frames into the ring (FFI memcpy: TypedArray.set into a
 * SharedArrayBuffer is slower) and, once per batch (`flush`), writes the eventfd, but only while
 * the worker sleeps: a busy worker finds the frames on its next turn without a system call. The
 * worker (`waitForFeeds`) announces its sleep, looks at its rings, then sleeps. Dekker: the
 * producer publishes a frame and then loads the flag; the worker stores the flag and then loads the
 * ring's head (all `Atomics` are sequentially consistent), so either the producer sees the flag
 * and signals, or the worker sees the frame and does not block.
 *
 * Early wakes (`RingFeed.wakeEarly`, `EarlyWakes`): a worker that answers small requests asks to
 * be woken as soon as the producer knows input is coming (the tap reader, when poll() reports the
 * tap readable), before the producer has read and sorted it. On a VM the wake-up of a halted vCPU
 * takes tens of µs; started early, it overlaps the producer's read and dispatch instead of
 * following them, and the woken worker polls (BUSY_POLL_MS) until the frame is in its ring.
 */

import type { Shim } from "../ffi/shim.ts";
import { FrameRing } from "../ring/frame_ring.ts";

/** Int32 words of `EventfdWake.sleeping`: 1 while the worker is (about to be) asleep… */
const SLEEPING = 0;
/** …and 1 while it wants early wakes (`EarlyWakes`). */
const EARLY_WAKE = 1;
/** Size of `EventfdWake.sleeping`. */
export const WAKE_WORDS_BYTES = 8;

/** How to wake a worker that sleeps in epoll_wait: its flag words and eventfd. */
export interface EventfdWake {
  /** WAKE_WORDS_BYTES: whether the worker sleeps, whether it wants early wakes. */
  sleeping: SharedArrayBuffer;
  /** An eventfd in the worker's epoll set. */
  signalFd: number;
}

/** What a producer needs to feed a worker: the ring and how to wake the worker. */
export interface RingFeedChannel extends EventfdWake {
  ring: SharedArrayBuffer;
}

/** Creates a channel's ring and flag word (the eventfd is the worker owner's). */
export function createFeedChannel(
  ringBytes: number,
  maxFrame: number,
  signalFd: number,
  sleeping: SharedArrayBuffer = new SharedArrayBuffer(WAKE_WORDS_BYTES),
): RingFeedChannel {
  return { ring: FrameRing.create(ringBytes, { maxFrame }).buffer, sleeping, signalFd };
}

/**
 * The producer side, used by one thread. Without an `EventfdWake`, the consumer waits with the
 * ring's own `waitForData`/`waitForDataAsync`, which `commit` already wakes.
 *
 * @example
 * ```ts ignore
 * const feed = new RingFeed(shim, channel.ring, () => counters.bump(C["tcp.ring_full"]), channel);
 * for (const frame of batch) feed.push(frame);
 * feed.flush();
 * ```
 */
export class RingFeed {
  readonly #shim: Shim;
  readonly #ring: FrameRing;
  readonly #sleeping: Int32Array | null;
  readonly #signalFd: number;
  readonly #dropped: () => void;
  #pending = false;

  /** @param dropped called for each frame dropped because the ring was full */
  constructor(shim: Shim, ring: SharedArrayBuffer, dropped: () => void, wake?: EventfdWake) {
    this.#shim = shim;
    this.#ring = FrameRing.attach(ring);
    this.#sleeping = wake ? new Int32Array(wake.sleeping) : null;
    this.#signalFd = wake ? wake.signalFd : -1;
    this.#dropped = dropped;
  }

  /**
   * Copies one frame into the ring, behind one `tag` byte if given (a record of the consumer's
   * format: the frame at `frameAt`, after the tag by default); false (counted) when it does not
   * fit. Abandons a slot from {@link reserveAt}.
   */
  push(frame: Uint8Array, tag?: number, frameAt = tag === undefined ? 0 : 1): boolean {
    const ring = this.#ring;
    const length = frameAt + frame.length;
    const at = length <= ring.maxFrame ? ring.reserveAt(length) : -1;
    if (at < 0) {
      ring.countDrop();
      this.#dropped();
      return false;
    }
    if (tag !== undefined) ring.bytes[at] = tag;
    this.#shim.shim_copy(ring.bytes, at + frameAt, frame, 0, frame.length);
    ring.commit(length);
    this.#pending = this.#sleeping !== null;
    return true;
  }

  /** The ring's data region: the offsets from {@link reserveAt} index it. */
  get bytes(): Uint8Array {
    return this.#ring.bytes;
  }

  /**
   * A slot for a record of up to `maxLength` bytes to be written in place (a read straight into
   * the ring, saving the copy `push` makes): its offset in {@link bytes}, or -1 when the ring has
   * no room for that much (nothing is counted: the caller reads elsewhere and may still `push`).
   * Publish it with {@link commit}; a `push` or another `reserveAt` abandons it.
   */
  reserveAt(maxLength: number): number {
    return this.#ring.reserveAt(maxLength);
  }

  /** Publishes the first `length` bytes of the slot from {@link reserveAt} as one record. */
  commit(length: number): void {
    this.#ring.commit(length);
    this.#pending = this.#sleeping !== null;
  }

  /** Ends a batch: wakes the worker if frames were pushed since the last flush and it sleeps. */
  flush(): void {
    if (!this.#pending) return;
    this.#pending = false;
    if (Atomics.load(this.#sleeping!, SLEEPING) !== 0) {
      this.#shim.shim_eventfd_signal(this.#signalFd);
    }
  }

  /**
   * Input is on its way (not read yet, maybe not even for this worker): wakes the worker now if it
   * sleeps and asked for early wakes (see the top of this file).
   */
  wakeEarly(): void {
    const words = this.#sleeping;
    if (
      words !== null && Atomics.load(words, EARLY_WAKE) !== 0 &&
      Atomics.load(words, SLEEPING) !== 0
    ) {
      this.#shim.shim_eventfd_signal(this.#signalFd);
    }
  }
}

/**
 * How long a worker keeps looking for work (epoll_wait with no timeout, and its rings) after a
 * turn that had some, before it goes to sleep. Sleeping is the expensive part of a round trip on
 * a VM: the wake-up of a halted vCPU costs tens of µs, while the answer to a request (the host's
 * reply on a loopback socket, the guest's next segment) usually arrives within this window. A
 * single round trip through the TCP worker measured median 51 µs without and 29 µs with it
 * (slirp4netns 27 µs, same run). Costs at most this much CPU per burst of traffic. Each poll
 * yields the CPU first (`shim_epoll_poll_yield`): on a busy machine a poll that does not yield
 * keeps the very thread it waits for off the CPU (the host peer its send woke is queued behind
 * it). Round trips 1 ms apart, measured with the TCP table in the tap reader's thread (an
 * experiment of issue 13, not taken: the Workers stay apart), five interleaved runs each, others'
 * load on both cores: median 85 µs polling without yielding, 36 µs yielding, 39 µs not polling at
 * all, slirp4netns 40 µs.
 */
export const BUSY_POLL_MS = 0.05;

/**
 * The worker side: `epoll_wait` that a feed's `flush` interrupts, not blocking at all when one of
 * `rings` (all fed under the flag word `sleeping`) already holds a frame. Until `busyUntil`
 * (a `performance.now()` time) it polls without sleeping, yielding the CPU before each poll; with
 * `sleep` false it never sleeps (one poll after the busy window). Returns epoll_wait's result; the
 * caller drains the eventfd when it is reported and then the rings.
 */
export function waitForFeeds(
  shim: Shim,
  sleeping: Int32Array,
  rings: readonly FrameRing[],
  epoll: number,
  events: Uint32Array,
  maxEvents: number,
  timeoutMs: number,
  busyUntil = 0,
  sleep = true,
): number {
  while (timeoutMs !== 0 && performance.now() < busyUntil) {
    if (anyFrame(rings)) return 0;
    // Yielding first: the thread this one waits for may be queued on its CPU.
    const n = shim.shim_epoll_poll_yield(epoll, events, maxEvents);
    if (n !== 0) return n;
  }
  if (!sleep) return anyFrame(rings) ? 0 : shim.shim_epoll_wait(epoll, events, maxEvents, 0);
  Atomics.store(sleeping, SLEEPING, 1);
  if (anyFrame(rings)) timeoutMs = 0;
  const n = shim.shim_epoll_wait(epoll, events, maxEvents, timeoutMs);
  Atomics.store(sleeping, SLEEPING, 0);
  return n;
}

function anyFrame(rings: readonly FrameRing[]): boolean {
  for (const ring of rings) if (ring.peek() !== null) return true;
  return false;
}

/**
 * Wake-ups in a row that brought the worker no frame before it stops asking for early wakes: the
 * input its producer saw coming was for someone else (the guest pinging, say, while this worker's
 * connections are quiet), and each such wake-up costs a busy-poll window of CPU.
 */
const MAX_IDLE_WAKES = 8;

/**
 * The worker's side of early wakes: asks for them (`request`) while they pay, and stops asking on
 * its own after MAX_IDLE_WAKES eventfd wake-ups in a row that brought no frame; the worker asks
 * again when its traffic says so.
 */
export class EarlyWakes {
  readonly #words: Int32Array;
  /** Woken by the eventfd, no frame since. */
  #awaitingFrame = false;
  #idleWakes = 0;

  constructor(sleeping: SharedArrayBuffer) {
    this.#words = new Int32Array(sleeping);
  }

  /** Whether early wakes are asked for. */
  get requested(): boolean {
    return Atomics.load(this.#words, EARLY_WAKE) !== 0;
  }

  /** Asks for early wakes, or stops asking. */
  request(on: boolean): void {
    Atomics.store(this.#words, EARLY_WAKE, on ? 1 : 0);
    this.#awaitingFrame = false;
    this.#idleWakes = 0;
  }

  /** Accounts one turn of the worker's loop: whether the eventfd woke it, frames it took. */
  afterTurn(signalled: boolean, frames: number): void {
    if (frames > 0) {
      this.#awaitingFrame = false;
      this.#idleWakes = 0;
      return;
    }
    if (!signalled) return;
    if (this.#awaitingFrame && ++this.#idleWakes >= MAX_IDLE_WAKES && this.requested) {
      this.request(false);
    }
    this.#awaitingFrame = true;
  }
}
