/**
 * The per-connection byte queues of the TCP relay: a circular buffer whose allocation grows by
 * doubling, on demand, up to a fixed limit, drawing on a budget shared by all connections. Offsets
 * are relative to the first queued byte; the bytes `[0, length)` are queued in order, and bytes
 * beyond `length` (up to `extent`) may hold out-of-order data the owner keeps track of.
 */

const EMPTY = new Uint8Array(0);

/**
 * Bytes of buffer memory all connections may hold together beyond their first allocation.
 *
 * @example
 * ```ts
 * import { ByteBudget } from "./byte_ring.ts";
 * const budget = new ByteBudget(1 << 20);
 * budget.tryTake(4096); // true
 * budget.give(4096);
 * ```
 */
export class ByteBudget {
  readonly limit: number;
  used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Takes `n` bytes if they are left. */
  tryTake(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  /** Takes `n` bytes whatever is left (a connection's first allocation). */
  take(n: number): void {
    this.used += n;
  }

  give(n: number): void {
    this.used -= n;
  }
}

function nextPowerOfTwo(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

/**
 * A growable circular byte queue.
 *
 * @example
 * ```ts
 * import { ByteRing } from "./byte_ring.ts";
 * const ring = new ByteRing(1 << 16, 1024);
 * ring.reserve(3);
 * ring.write(0, new Uint8Array([1, 2, 3]), 0, 3);
 * ring.setLength(3);
 * const out = new Uint8Array(2);
 * ring.copyOut(1, out, 0, 2); // out is [2, 3]
 * ring.consume(3);
 * ```
 */
export class ByteRing {
  /** Largest allocation (a power of two): the most bytes the queue ever holds. */
  readonly limit: number;
  readonly #initial: number;
  readonly #budget: ByteBudget | null;
  #buf: Uint8Array = EMPTY;
  #start = 0;
  #length = 0;
  #extent = 0;

  /**
   * @param limit largest allocation in bytes (rounded up to a power of two)
   * @param initial first allocation, made on first use (rounded up to a power of two)
   * @param budget shared budget for growth beyond the first allocation
   */
  constructor(limit: number, initial: number, budget: ByteBudget | null = null) {
    this.limit = nextPowerOfTwo(limit);
    this.#initial = Math.min(nextPowerOfTwo(initial), this.limit);
    this.#budget = budget;
  }

  /** Bytes allocated now. */
  get capacity(): number {
    return this.#buf.length;
  }

  /** Bytes queued in order from offset 0. */
  get length(): number {
    return this.#length;
  }

  /** One past the highest offset written (≥ length). */
  get extent(): number {
    return this.#extent;
  }

  /** The allocation, for I/O straight into or out of it (see `position`). */
  get bytes(): Uint8Array {
    return this.#buf;
  }

  /** Index in `bytes` of queue offset `offset` (< capacity). */
  position(offset: number): number {
    return (this.#start + offset) & (this.#buf.length - 1);
  }

  /** Contiguous bytes in `bytes` from queue offset `offset`, at most `n`. */
  contiguous(offset: number, n: number): number {
    return Math.min(n, this.#buf.length - this.position(offset));
  }

  /**
   * Makes offsets `[0, end)` addressable, growing the allocation if needed and allowed: `end` must
   * not exceed `limit`, and growth beyond the first allocation must fit the budget. Returns the
   * usable end: `end`, or less when the allocation could not grow that far.
   */
  reserve(end: number): number {
    const capacity = this.#buf.length;
    if (end <= capacity) return end;
    if (capacity === 0) {
      const size = this.#initial;
      this.#budget?.take(size);
      this.#buf = new Uint8Array(size);
      this.#start = 0;
      if (end <= size) return end;
    }
    let size = this.#buf.length;
    const wanted = Math.min(nextPowerOfTwo(end), this.limit);
    while (size < wanted && (this.#budget === null || this.#budget.tryTake(size))) size *= 2;
    if (size > this.#buf.length) this.#grow(size);
    return Math.min(end, size);
  }

  /** Copies `n` bytes of `src` to queue offset `offset`; `[offset, offset + n)` must be reserved. */
  write(offset: number, src: Uint8Array, srcOffset: number, n: number): void {
    if (n <= 0) return;
    const at = this.position(offset);
    const first = Math.min(n, this.#buf.length - at);
    this.#buf.set(src.subarray(srcOffset, srcOffset + first), at);
    if (first < n) this.#buf.set(src.subarray(srcOffset + first, srcOffset + n), 0);
    if (offset + n > this.#extent) this.#extent = offset + n;
  }

  /** Copies `n` queued bytes from offset `offset` to `dst[dstOffset..]`. */
  copyOut(offset: number, dst: Uint8Array, dstOffset: number, n: number): void {
    if (n <= 0) return;
    const at = this.position(offset);
    const first = Math.min(n, this.#buf.length - at);
    dst.set(this.#buf.subarray(at, at + first), dstOffset);
    if (first < n) dst.set(this.#buf.subarray(0, n - first), dstOffset + first);
  }

  /** Declares `[0, length)` queued in order (data written straight into `bytes` included). */
  setLength(length: number): void {
    this.#length = length;
    if (length > this.#extent) this.#extent = length;
  }

  /** Drops `n` bytes from the front. */
  consume(n: number): void {
    if (n <= 0) return;
    this.#length -= n;
    this.#extent -= n;
    if (this.#extent <= 0) {
      // Empty: start over at 0 so that the next I/O gets the longest contiguous span.
      this.#extent = 0;
      this.#start = 0;
    } else {
      this.#start = (this.#start + n) & (this.#buf.length - 1);
    }
  }

  /** Frees the allocation when nothing is queued (an idle connection); returns whether it did. */
  trim(): boolean {
    if (this.#extent !== 0 || this.#buf.length === 0) return false;
    this.release();
    return true;
  }

  /** Frees the allocation and forgets the contents (the connection is gone). */
  release(): void {
    if (this.#buf.length > 0) {
      // The first allocation was taken unconditionally; growth was taken from the budget.
      this.#budget?.give(this.#buf.length);
    }
    this.#buf = EMPTY;
    this.#start = 0;
    this.#length = 0;
    this.#extent = 0;
  }

  #grow(size: number): void {
    const old = this.#buf;
    const next = new Uint8Array(size);
    const keep = this.#extent;
    if (keep > 0) {
      const first = Math.min(keep, old.length - this.#start);
      next.set(old.subarray(this.#start, this.#start + first), 0);
      if (first < keep) next.set(old.subarray(0, keep - first), first);
    }
    this.#buf = next;
    this.#start = 0;
  }
}
