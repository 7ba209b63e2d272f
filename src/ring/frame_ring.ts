/**
 * A single-producer single-consumer ring of variable-length frames in one SharedArrayBuffer: the
 * threading plumbing between the tap reader, the stack and the tap writer. The layout is in
 * `layout.ts`; read the theory of operation below before editing either file.
 *
 * # Theory of operation
 *
 * ## Records and counters
 * The data region holds records `u32 length | payload | pad to 8` (see `RECORD`). `HEAD` and `TAIL`
 * are free-running byte counters (Int32 words that wrap at 2^32): `HEAD - TAIL` bytes are in use,
 * and a counter's data offset is `counter & (capacity - 1)`. A record never straddles the end of
 * the data region: when it does not fit before the end, the producer writes `WRAP_MARKER` in place
 * of a length and the record starts at offset 0; the skipped bytes count as used until the consumer
 * steps over the marker.
 *
 * ## Invariants
 * 1. Only the producer writes `HEAD`, `PRODUCER_SLEEPING`, `PRODUCER_NEEDS` and the producer
 *    statistics; only the consumer writes `TAIL`, `CONSUMER_SLEEPING` and the consumer statistics.
 *    `CONSUMER_WAKE` and `PRODUCER_WAKE` are only incremented (`Atomics.add`) and `CLOSED` is only
 *    set to 1, by a side or by `close()`. Each side keeps its own index in a local variable too
 *    (it is the only writer), so one `FrameRing` object per side must do all of that side's work.
 * 2. `0 <= HEAD - TAIL <= capacity`. Bytes in `[TAIL, HEAD)` belong to the consumer, all others to
 *    the producer. The producer writes a record (marker, length, payload) completely before it
 *    publishes it with one `Atomics.store(HEAD)`; the consumer reads a record only below a `HEAD`
 *    it loaded, and gives the bytes back with an `Atomics.store(TAIL)` after it is done with them
 *    (`drain()` gives back up to `DRAIN_PUBLISH_EVERY` records with one store).
 * 3. A marker is published in the same `HEAD` store as the record after it, so `HEAD !== TAIL`
 *    means that at least one frame is readable.
 * 4. `capacity >= 2 × recordBytes(maxFrame)`, so an empty ring accepts a frame of `maxFrame` bytes
 *    wherever `HEAD` points: either the bytes up to the end or those from offset 0 are enough.
 * 5. A full ring changes nothing: `reserve()`/`push()` return `null`/`false` and write no byte the
 *    consumer may read. Dropping is the producer's decision and is counted with `countDrop()`.
 *
 * ## Cost
 * In Deno 2.9 an `Atomics` call is not inlined: it costs 10–25 ns on the 2-vCPU test VM, and
 * creating a view about 20 ns. So the fast paths make as few calls as the protocol allows:
 * `commit()` stores `HEAD` and loads `CONSUMER_SLEEPING`; `release()` stores `TAIL` and loads
 * `PRODUCER_SLEEPING` (`drain()` does so once per `DRAIN_PUBLISH_EVERY` frames and on return);
 * `reserve()` and `peek()` load the other side's index only when the copy they loaded last says
 * the ring is full or empty. `reserveAt()`/`peekAt()` return offsets into {@link FrameRing.bytes}
 * instead of views, for loops that must not allocate.
 *
 * ## Sleeping without lost wake-ups (Dekker pattern)
 * Every `Atomics` operation is sequentially consistent. A sleeper announces itself, then checks:
 *
 * ```
 *  consumer, waitForData()                  producer, commit()
 *  store CONSUMER_SLEEPING = 1              store HEAD = new head
 *  w = load CONSUMER_WAKE                   if load CONSUMER_SLEEPING == 1:
 *  if load HEAD != TAIL or CLOSED: return       add CONSUMER_WAKE, 1; notify CONSUMER_WAKE
 *  wait(CONSUMER_WAKE, w, timeout)
 *  store CONSUMER_SLEEPING = 0
 * ```
 *
 * Either the producer's load of the flag comes after the consumer's store in the single total
 * order, so it bumps the wake word after the consumer read `w`: the `wait` sees a changed word or
 * is woken by the notify. Or it comes before, so `HEAD` was stored before the consumer set its
 * flag and the consumer's check sees the frame. `close()` sets `CLOSED` and then bumps and notifies
 * both wake words, which is the same argument with `CLOSED` in place of `HEAD`. That is why
 * sleepers wait on a wake word rather than on `HEAD`/`TAIL`: `close()` may not write those.
 *
 * The producer mirrors this in `waitForSpace()` with `PRODUCER_SLEEPING`, `PRODUCER_WAKE` and
 * `TAIL`, and first stores `PRODUCER_NEEDS`, the free bytes it waits for (computed from its `HEAD`,
 * which does not move while it sleeps). After storing `TAIL`, the consumer notifies only when the
 * producer sleeps *and* enough bytes are free, so a producer that waits for 64 KiB is not woken for
 * every small frame. When the producer is asleep, `HEAD` does not move and `PRODUCER_NEEDS` was
 * stored before the flag, so the consumer's test is exact.
 *
 * Waits are bounded by the caller's timeout and re-check in a loop, so a spurious wake-up only
 * costs a loop turn; no operation is ever retried after it succeeded (no double push).
 *
 * ## Statistics
 * Each counter is a Float64 in the header (`STATS`), written by one side with plain stores from a
 * local total, so it costs no `Atomics` call. An aligned 8-byte store is one instruction on x86-64
 * and arm64, so readers see whole values, but no ordering: a snapshot from the other thread may
 * lag by the frames in flight. Counts are exact up to 2^53.
 *
 * ## Closing
 * `CLOSED` tells both sides to stop. The producer polls `closed` (or learns it from
 * `waitForSpace()`, which returns `"closed"`); to stay cheap, `reserve()`/`push()` check it only
 * when the ring is full, and then fail. Frames already published can still be read:
 * `waitForData*()` returns `"ready"` while any are left and `"closed"` once the ring is empty.
 *
 * @module
 */

import {
  DATA_OFFSET,
  DEFAULT_MAX_FRAME,
  HEADER,
  MAX_CAPACITY,
  minCapacity,
  RECORD,
  recordBytes,
  RING_MAGIC,
  RING_VERSION,
  STATS,
  WRAP_MARKER,
} from "./layout.ts";

/** How a wait ended: a frame (or space) is available, the ring was closed, or time ran out. */
export type WaitResult = "ready" | "closed" | "timed-out";

/** Options for {@link FrameRing.create}. */
export interface FrameRingOptions {
  /** Largest payload in bytes (default 65536). The capacity must be at least `minCapacity()`. */
  maxFrame?: number;
}

/** A snapshot of a ring's counters, readable from either side. */
export interface FrameRingStats {
  /** Frames committed by the producer. */
  framesPushed: number;
  /** Payload bytes committed by the producer. */
  bytesPushed: number;
  /** Frames the producer chose to drop, as counted with {@link FrameRing.countDrop}. */
  framesDropped: number;
  /** Frames released by the consumer. */
  framesReleased: number;
  /** Payload bytes released by the consumer. */
  bytesReleased: number;
}

/** {@link FrameRing.drain} publishes released space at least this often (in frames). */
export const DRAIN_PUBLISH_EVERY = 32;

/**
 * A single-producer single-consumer ring of frames of up to `maxFrame` bytes in one
 * SharedArrayBuffer. Create it on one thread, send {@link FrameRing.buffer} to another with
 * `postMessage`, and {@link FrameRing.attach} it there. One thread produces, one consumes; any
 * thread may read the statistics or close the ring.
 *
 * @example
 * ```ts
 * import { FrameRing } from "./frame_ring.ts";
 *
 * const producer = FrameRing.create(1 << 20);
 * const consumer = FrameRing.attach(producer.buffer); // normally in a Worker
 *
 * const slot = producer.reserve(1514); // e.g. FFI read(fd, slot, 1514) writes here
 * if (slot !== null) {
 *   slot.set([1, 2, 3]);
 *   producer.commit(3);
 * }
 * producer.push(new Uint8Array([4, 5]));
 *
 * const seen: number[] = [];
 * consumer.drain((frame) => seen.push(frame.length));
 * console.assert(seen.join() === "3,2");
 * ```
 */
export class FrameRing {
  /** The SharedArrayBuffer holding header and data; send it to the other side. */
  readonly buffer: SharedArrayBuffer;
  /** Bytes in the data region (a power of two). */
  readonly capacity: number;
  /** Largest payload in bytes. */
  readonly maxFrame: number;

  /**
   * The data region as bytes: the offsets from {@link reserveAt} and {@link peekAt} index it, and
   * an FFI call may take it as a `"buffer"` argument together with such an offset.
   */
  readonly bytes: Uint8Array;

  readonly #ctl: Int32Array;
  readonly #stats: Float64Array;
  readonly #words: Uint32Array;
  readonly #mask: number;

  // Producer-local state: HEAD (only the producer writes it) and what it last saw of TAIL.
  #head: number;
  #tailSeen: number; // never ahead of the real TAIL
  #reservedAt = -1; // data offset of the reserved record, or -1
  #reservedSkip = 0; // bytes skipped by a wrap marker before it
  #reservedMax = 0; // payload bytes reserved
  #framesPushed: number;
  #bytesPushed: number;
  #framesDropped: number;

  // Consumer-local state: TAIL (only the consumer writes it) and what it last saw of HEAD.
  #tail: number;
  #headSeen: number; // never ahead of the real HEAD
  #peekedAt = -1; // data offset of the peeked record, or -1
  #peekedLength = 0;
  #tailPublished: number; // the TAIL last stored; drain() stores less often than it consumes
  #framesReleased: number;
  #bytesReleased: number;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    const ctl = new Int32Array(buffer, 0, DATA_OFFSET / 4);
    this.#ctl = ctl;
    this.#stats = new Float64Array(buffer, 0, DATA_OFFSET / 8);
    this.capacity = ctl[HEADER.CAPACITY];
    this.maxFrame = ctl[HEADER.MAX_FRAME];
    this.#mask = this.capacity - 1;
    this.bytes = new Uint8Array(buffer, DATA_OFFSET, this.capacity);
    this.#words = new Uint32Array(buffer, DATA_OFFSET, this.capacity / 4);
    this.#head = this.#headSeen = Atomics.load(ctl, HEADER.HEAD);
    this.#tail = this.#tailSeen = this.#tailPublished = Atomics.load(ctl, HEADER.TAIL);
    this.#framesPushed = this.#stats[STATS.FRAMES_PUSHED];
    this.#bytesPushed = this.#stats[STATS.BYTES_PUSHED];
    this.#framesDropped = this.#stats[STATS.FRAMES_DROPPED];
    this.#framesReleased = this.#stats[STATS.FRAMES_RELEASED];
    this.#bytesReleased = this.#stats[STATS.BYTES_RELEASED];
  }

  /**
   * Allocates a ring with a data region of `capacityBytes` bytes: a power of two, at least
   * `minCapacity(maxFrame)` (256 KiB for the default 64 KiB frames) and at most 1 GiB.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(16 << 20);
   * const small = FrameRing.create(64, { maxFrame: 16 });
   * console.assert(ring.maxFrame === 65536 && small.capacity === 64);
   * ```
   */
  static create(capacityBytes: number, options: FrameRingOptions = {}): FrameRing {
    const maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
    if (!Number.isInteger(maxFrame) || maxFrame < 1 || maxFrame > MAX_CAPACITY / 4) {
      throw new RangeError(`Cannot create a frame ring: maxFrame ${maxFrame} is out of range`);
    }
    const least = minCapacity(maxFrame);
    if (
      !Number.isInteger(capacityBytes) || capacityBytes < least || capacityBytes > MAX_CAPACITY ||
      (capacityBytes & (capacityBytes - 1)) !== 0
    ) {
      throw new RangeError(
        `Cannot create a frame ring: capacity ${capacityBytes} must be a power of two from ` +
          `${least} (twice the largest record) to ${MAX_CAPACITY}`,
      );
    }
    const buffer = new SharedArrayBuffer(DATA_OFFSET + capacityBytes);
    const ctl = new Int32Array(buffer, 0, DATA_OFFSET / 4);
    ctl[HEADER.MAGIC] = RING_MAGIC;
    ctl[HEADER.VERSION] = RING_VERSION;
    ctl[HEADER.CAPACITY] = capacityBytes;
    ctl[HEADER.MAX_FRAME] = maxFrame;
    return new FrameRing(buffer);
  }

  /**
   * Re-attaches a ring from its buffer, e.g. in a Worker that received `ring.buffer`.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * // worker side: self.onmessage = (e) => { const ring = FrameRing.attach(e.data); ... }
   * console.assert(FrameRing.attach(ring.buffer).capacity === ring.capacity);
   * ```
   */
  static attach(buffer: SharedArrayBuffer): FrameRing {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < DATA_OFFSET) {
      throw new TypeError(
        "Cannot attach a frame ring: the buffer is not a ring's SharedArrayBuffer",
      );
    }
    const ctl = new Int32Array(buffer, 0, DATA_OFFSET / 4);
    if (ctl[HEADER.MAGIC] !== RING_MAGIC || ctl[HEADER.VERSION] !== RING_VERSION) {
      throw new TypeError(
        `Cannot attach a frame ring: magic ${ctl[HEADER.MAGIC]} version ${
          ctl[HEADER.VERSION]
        } is not a version ${RING_VERSION} ring`,
      );
    }
    if (buffer.byteLength !== DATA_OFFSET + ctl[HEADER.CAPACITY]) {
      throw new TypeError(
        "Cannot attach a frame ring: the buffer length does not match its header",
      );
    }
    return new FrameRing(buffer);
  }

  // ---------------------------------------------------------------- producer

  /**
   * Producer: returns a writable view of `maxLength` bytes inside the ring, or `null` when the ring
   * is full (or closed and full). Fill it (for example with an FFI `read()` straight into it), then
   * call {@link commit}. A later `reserve()` without `commit()` abandons the reservation.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * const slot = ring.reserve(1514);
   * if (slot !== null) {
   *   const n = 60; // bytes that read() returned
   *   slot.fill(0xa5, 0, n);
   *   ring.commit(n);
   * }
   * ```
   */
  reserve(maxLength: number): Uint8Array | null {
    const at = this.reserveAt(maxLength);
    return at < 0 ? null : new Uint8Array(this.buffer, DATA_OFFSET + at, maxLength);
  }

  /**
   * Producer: like {@link reserve}, but returns the offset in {@link bytes} where the payload goes,
   * or -1, and allocates nothing.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * const at = ring.reserveAt(1514);
   * if (at >= 0) {
   *   ring.bytes.fill(1, at, at + 60); // or: read(fd, ring.bytes, at, 1514) through FFI
   *   ring.commit(60);
   * }
   * ```
   */
  reserveAt(maxLength: number): number {
    if (!(maxLength >= 0 && maxLength <= this.maxFrame) || (maxLength | 0) !== maxLength) {
      throw new RangeError(`Cannot reserve ${maxLength} bytes: frames are 0..${this.maxFrame}`);
    }
    const head = this.#head;
    const offset = head & this.#mask;
    const record = recordBytes(maxLength);
    const room = this.capacity - offset;
    const skip = room < record ? room : 0;
    if (this.capacity - ((head - this.#tailSeen) | 0) < skip + record) {
      this.#tailSeen = Atomics.load(this.#ctl, HEADER.TAIL);
      if (
        this.capacity - ((head - this.#tailSeen) | 0) < skip + record ||
        Atomics.load(this.#ctl, HEADER.CLOSED) !== 0
      ) {
        this.#reservedAt = -1;
        return -1;
      }
    }
    // The marker lies at HEAD, beyond what the consumer may read until the next HEAD store.
    if (skip !== 0) this.#words[offset >>> 2] = WRAP_MARKER;
    const at = skip === 0 ? offset : 0;
    this.#reservedAt = at;
    this.#reservedSkip = skip;
    this.#reservedMax = maxLength;
    return at + RECORD.PAYLOAD;
  }

  /**
   * Producer: publishes the first `length` bytes of the last {@link reserve}d view as one frame and
   * wakes the consumer if it sleeps.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * ring.reserve(100)?.fill(7, 0, 10);
   * ring.commit(10);
   * console.assert(ring.peek()?.length === 10);
   * ```
   */
  commit(length: number): void {
    const at = this.#reservedAt;
    if (at < 0) throw new Error("Cannot commit a frame: nothing is reserved");
    if (!(length >= 0 && length <= this.#reservedMax) || (length | 0) !== length) {
      throw new RangeError(`Cannot commit ${length} bytes: ${this.#reservedMax} were reserved`);
    }
    this.#reservedAt = -1;
    this.#words[at >>> 2] = length;
    this.#stats[STATS.FRAMES_PUSHED] = ++this.#framesPushed;
    this.#stats[STATS.BYTES_PUSHED] = this.#bytesPushed += length;
    const ctl = this.#ctl;
    this.#head = (this.#head + this.#reservedSkip + recordBytes(length)) | 0;
    Atomics.store(ctl, HEADER.HEAD, this.#head);
    if (Atomics.load(ctl, HEADER.CONSUMER_SLEEPING) !== 0) {
      Atomics.add(ctl, HEADER.CONSUMER_WAKE, 1);
      Atomics.notify(ctl, HEADER.CONSUMER_WAKE);
    }
  }

  /**
   * Producer: copies `frame` into the ring; `false` when the ring is full (or closed and full),
   * and then nothing was written. Prefer {@link reserve}/{@link commit} for syscalls: copies into a
   * SharedArrayBuffer with `TypedArray.set` run at only about 5 GB/s.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * if (!ring.push(new Uint8Array(60))) ring.countDrop();
   * ```
   */
  push(frame: Uint8Array): boolean {
    const at = this.reserveAt(frame.length);
    if (at < 0) return false;
    this.bytes.set(frame, at);
    this.commit(frame.length);
    return true;
  }

  /**
   * Producer: counts `frames` frames that the producer dropped (e.g. because the ring was full).
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * ring.countDrop();
   * console.assert(ring.dropped === 1);
   * ```
   */
  countDrop(frames = 1): void {
    if (!(frames >= 0) || !Number.isInteger(frames)) {
      throw new RangeError(`Cannot count ${frames} dropped frames`);
    }
    this.#stats[STATS.FRAMES_DROPPED] = this.#framesDropped += frames;
  }

  /**
   * Producer: blocks (with `Atomics.wait`, so in a Worker) until a frame of `frameLength` bytes
   * (default {@link maxFrame}) fits, the ring is closed, or `timeoutMs` passes. Then retry
   * {@link reserve}; the wait itself reserves nothing.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * let slot = ring.reserve(1514);
   * while (slot === null && ring.waitForSpace(100, 1514) !== "closed") slot = ring.reserve(1514);
   * ```
   */
  waitForSpace(timeoutMs: number, frameLength: number = this.maxFrame): WaitResult {
    if (!(frameLength >= 0 && frameLength <= this.maxFrame) || !Number.isInteger(frameLength)) {
      throw new RangeError(`Cannot wait for ${frameLength} bytes: frames are 0..${this.maxFrame}`);
    }
    const ctl = this.#ctl;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (Atomics.load(ctl, HEADER.CLOSED) !== 0) return "closed";
      const head = this.#head;
      const need = this.#bytesNeeded(head, frameLength);
      if (this.#freeBytes(head) >= need) return "ready";
      Atomics.store(ctl, HEADER.PRODUCER_NEEDS, need);
      Atomics.store(ctl, HEADER.PRODUCER_SLEEPING, 1);
      const wake = Atomics.load(ctl, HEADER.PRODUCER_WAKE);
      const remaining = deadline - performance.now();
      if (
        Atomics.load(ctl, HEADER.CLOSED) === 0 && this.#freeBytes(head) < need && remaining > 0
      ) {
        Atomics.wait(ctl, HEADER.PRODUCER_WAKE, wake, remaining);
      }
      Atomics.store(ctl, HEADER.PRODUCER_SLEEPING, 0);
      if (remaining <= 0) {
        if (Atomics.load(ctl, HEADER.CLOSED) !== 0) return "closed";
        return this.#freeBytes(head) >= need ? "ready" : "timed-out";
      }
    }
  }

  // ---------------------------------------------------------------- consumer

  /**
   * Consumer: the oldest frame as a view into ring memory, or `null` when the ring is empty. The
   * view stays valid, and later calls return the same frame, until {@link release}.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * ring.push(new Uint8Array([1, 2, 3]));
   * const frame = ring.peek();
   * if (frame !== null) {
   *   console.assert(frame[2] === 3); // e.g. await conn.write(frame) before releasing
   *   ring.release();
   * }
   * ```
   */
  peek(): Uint8Array | null {
    const at = this.peekAt();
    return at < 0 ? null : new Uint8Array(this.buffer, DATA_OFFSET + at, this.#peekedLength);
  }

  /**
   * Consumer: like {@link peek}, but returns the offset of the payload in {@link bytes}, or -1,
   * and allocates nothing; the frame has {@link peekedLength} bytes.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * ring.push(new Uint8Array([9, 8, 7]));
   * const at = ring.peekAt();
   * if (at >= 0) {
   *   console.assert(ring.peekedLength === 3 && ring.bytes[at] === 9); // or write(fd, ring.bytes, at, n)
   *   ring.release();
   * }
   * ```
   */
  peekAt(): number {
    let at = this.#peekedAt;
    if (at < 0) {
      let tail = this.#tail;
      for (;;) {
        if (tail === this.#headSeen) {
          this.#headSeen = Atomics.load(this.#ctl, HEADER.HEAD);
          if (tail === this.#headSeen) return -1;
        }
        at = tail & this.#mask;
        const length = this.#words[at >>> 2];
        if (length === WRAP_MARKER) {
          tail = (tail + this.capacity - at) | 0;
          this.#publishTail(tail);
          continue;
        }
        if (length > this.maxFrame) {
          throw new Error(`Frame ring is corrupt: the record at ${at} claims ${length} bytes`);
        }
        this.#peekedAt = at;
        this.#peekedLength = length;
        break;
      }
    }
    return at + RECORD.PAYLOAD;
  }

  /**
   * Consumer: the length of the frame at {@link peekAt}, or -1 when none is peeked.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * console.assert(FrameRing.create(1 << 18).peekedLength === -1);
   * ```
   */
  get peekedLength(): number {
    return this.#peekedAt < 0 ? -1 : this.#peekedLength;
  }

  /**
   * Consumer: gives the frame returned by {@link peek} back to the producer, and wakes the
   * producer if it sleeps and now has room.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * ring.push(new Uint8Array(10));
   * if (ring.peek() !== null) ring.release();
   * console.assert(ring.peek() === null);
   * ```
   */
  release(): void {
    if (this.#peekedAt < 0) throw new Error("Cannot release a frame: none was peeked");
    this.#consume();
    this.#publishTail(this.#tail);
  }

  /**
   * Consumer: calls `fn` with each available frame, in order, as a view valid only during the
   * call, and releases it afterwards (also when `fn` throws). Stops after `limit` frames; returns
   * how many frames it handled. It publishes the released space every
   * {@link DRAIN_PUBLISH_EVERY} frames and when it returns, rather than after every frame.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * ring.push(new Uint8Array(60));
   * ring.push(new Uint8Array(70));
   * let bytes = 0;
   * console.assert(ring.drain((frame) => bytes += frame.length, 64) === 2 && bytes === 130);
   * ```
   */
  drain(fn: (frame: Uint8Array) => void, limit = Infinity): number {
    let handled = 0;
    try {
      while (handled < limit) {
        const frame = this.peek();
        if (frame === null) break;
        try {
          fn(frame);
        } finally {
          this.#consume();
        }
        if (++handled % DRAIN_PUBLISH_EVERY === 0) this.#publishTail(this.#tail);
      }
    } finally {
      if (this.#tail !== this.#tailPublished) this.#publishTail(this.#tail);
    }
    return handled;
  }

  /**
   * Consumer: blocks (with `Atomics.wait`, so in a Worker) until a frame is available
   * (`"ready"`, also after a close), the ring is closed and empty (`"closed"`), or `timeoutMs`
   * passes (`"timed-out"`).
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * ring.push(new Uint8Array(1));
   * if (ring.waitForData(100) === "ready") ring.drain(() => {});
   * ```
   */
  waitForData(timeoutMs: number): WaitResult {
    const ctl = this.#ctl;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const result = this.#dataOrClosed();
      if (result !== null) return result;
      Atomics.store(ctl, HEADER.CONSUMER_SLEEPING, 1);
      const wake = Atomics.load(ctl, HEADER.CONSUMER_WAKE);
      const remaining = deadline - performance.now();
      if (this.#dataOrClosed() === null && remaining > 0) {
        Atomics.wait(ctl, HEADER.CONSUMER_WAKE, wake, remaining);
      }
      Atomics.store(ctl, HEADER.CONSUMER_SLEEPING, 0);
      if (remaining <= 0) return this.#dataOrClosed() ?? "timed-out";
    }
  }

  /**
   * Consumer: like {@link waitForData}, but with `Atomics.waitAsync`, so the main thread's event
   * loop keeps running while it waits. A finite timeout also arms a timer, so the promise settles
   * even when nothing else keeps the event loop alive.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * ring.push(new Uint8Array(1));
   * while ((await ring.waitForDataAsync(100)) === "ready") ring.drain(() => {}); // until timeout
   * ```
   */
  async waitForDataAsync(timeoutMs: number): Promise<WaitResult> {
    const ctl = this.#ctl;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const result = this.#dataOrClosed();
      if (result !== null) return result;
      Atomics.store(ctl, HEADER.CONSUMER_SLEEPING, 1);
      const wake = Atomics.load(ctl, HEADER.CONSUMER_WAKE);
      const remaining = deadline - performance.now();
      if (this.#dataOrClosed() === null && remaining > 0) {
        const waiting = Atomics.waitAsync(ctl, HEADER.CONSUMER_WAKE, wake, remaining);
        if (waiting.async) {
          if (remaining === Infinity) {
            await waiting.value;
          } else {
            let timer: ReturnType<typeof setTimeout> | undefined;
            await Promise.race([
              waiting.value,
              new Promise((resolve) => timer = setTimeout(resolve, Math.ceil(remaining))),
            ]);
            clearTimeout(timer);
          }
        }
      }
      Atomics.store(ctl, HEADER.CONSUMER_SLEEPING, 0);
      if (deadline - performance.now() <= 0) return this.#dataOrClosed() ?? "timed-out";
    }
  }

  // ---------------------------------------------------------------- either side

  /**
   * Either side: tells the other side to stop and wakes both sleepers. Idempotent. Frames already
   * published can still be read (see the module documentation).
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * ring.close();
   * console.assert(ring.closed && ring.waitForData(1000) === "closed");
   * ```
   */
  close(): void {
    const ctl = this.#ctl;
    Atomics.store(ctl, HEADER.CLOSED, 1);
    Atomics.add(ctl, HEADER.CONSUMER_WAKE, 1);
    Atomics.notify(ctl, HEADER.CONSUMER_WAKE);
    Atomics.add(ctl, HEADER.PRODUCER_WAKE, 1);
    Atomics.notify(ctl, HEADER.PRODUCER_WAKE);
  }

  /**
   * Whether either side called {@link close}.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * console.assert(!FrameRing.create(1 << 18).closed);
   * ```
   */
  get closed(): boolean {
    return Atomics.load(this.#ctl, HEADER.CLOSED) !== 0;
  }

  /**
   * Bytes in use now, including record headers, padding and skipped tails (a snapshot).
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * ring.push(new Uint8Array(5));
   * console.assert(ring.usedBytes === 16);
   * ```
   */
  get usedBytes(): number {
    const ctl = this.#ctl;
    const tail = Atomics.load(ctl, HEADER.TAIL);
    return (Atomics.load(ctl, HEADER.HEAD) - tail) | 0;
  }

  /**
   * Frames the producer dropped, as counted with {@link countDrop}.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * console.assert(FrameRing.create(1 << 18).dropped === 0);
   * ```
   */
  get dropped(): number {
    return this.#stats[STATS.FRAMES_DROPPED];
  }

  /**
   * A snapshot of the counters. Values written by the other thread may lag by the frames in flight.
   *
   * @example
   * ```ts
   * import { FrameRing } from "./frame_ring.ts";
   * const ring = FrameRing.create(1 << 18);
   * ring.push(new Uint8Array(60));
   * const { framesPushed, bytesPushed } = ring.stats();
   * console.assert(framesPushed === 1 && bytesPushed === 60);
   * ```
   */
  stats(): FrameRingStats {
    const stats = this.#stats;
    return {
      framesPushed: stats[STATS.FRAMES_PUSHED],
      bytesPushed: stats[STATS.BYTES_PUSHED],
      framesDropped: stats[STATS.FRAMES_DROPPED],
      framesReleased: stats[STATS.FRAMES_RELEASED],
      bytesReleased: stats[STATS.BYTES_RELEASED],
    };
  }

  // ---------------------------------------------------------------- internals

  /** Free bytes the producer needs at `head` for a frame of `length` bytes, wrap skip included. */
  #bytesNeeded(head: number, length: number): number {
    const room = this.capacity - (head & this.#mask);
    const record = recordBytes(length);
    return room < record ? room + record : record;
  }

  /** Free bytes as the producer sees them at `head` (loads TAIL). */
  #freeBytes(head: number): number {
    this.#tailSeen = Atomics.load(this.#ctl, HEADER.TAIL);
    return this.capacity - ((head - this.#tailSeen) | 0);
  }

  /** Consumer: `"ready"` when a frame is readable, `"closed"` when none is and the ring is closed. */
  #dataOrClosed(): WaitResult | null {
    const ctl = this.#ctl;
    if (Atomics.load(ctl, HEADER.HEAD) !== this.#tail) return "ready";
    return Atomics.load(ctl, HEADER.CLOSED) !== 0 ? "closed" : null;
  }

  /** Consumer: steps the local tail over the peeked record and counts it; publishes nothing. */
  #consume(): void {
    const length = this.#peekedLength;
    this.#peekedAt = -1;
    this.#tail = (this.#tail + recordBytes(length)) | 0;
    this.#stats[STATS.FRAMES_RELEASED] = ++this.#framesReleased;
    this.#stats[STATS.BYTES_RELEASED] = this.#bytesReleased += length;
  }

  /** Consumer: stores TAIL and wakes the producer if it sleeps and now has the room it needs. */
  #publishTail(tail: number): void {
    const ctl = this.#ctl;
    this.#tail = this.#tailPublished = tail;
    Atomics.store(ctl, HEADER.TAIL, tail);
    if (
      Atomics.load(ctl, HEADER.PRODUCER_SLEEPING) !== 0 &&
      this.capacity - ((Atomics.load(ctl, HEADER.HEAD) - tail) | 0) >=
        Atomics.load(ctl, HEADER.PRODUCER_NEEDS)
    ) {
      Atomics.add(ctl, HEADER.PRODUCER_WAKE, 1);
      Atomics.notify(ctl, HEADER.PRODUCER_WAKE);
    }
  }
}
