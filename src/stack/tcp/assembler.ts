/**
 * Out-of-order bookkeeping for data from the guest (RFC 9293 §3.10.7.4: segments "beyond the
 * next expected" may be held): up to a few disjoint sequence ranges above RCV.NXT whose bytes are
 * already in the receive queue. Like smoltcp's assembler, it is bounded: a segment that would
 * need one more hole is refused and the guest retransmits it.
 */

import { seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from "./seq.ts";

/** Most disjoint out-of-order ranges kept per connection. */
export const MAX_RANGES = 16;

/**
 * Disjoint, sorted ranges `[start, end)` of sequence numbers.
 *
 * @example
 * ```ts
 * import { Assembler } from "./assembler.ts";
 * const ranges = new Assembler();
 * ranges.add(200, 300);
 * ranges.advance(100); // 100: still a hole at 100..200
 * ranges.advance(200); // 300: the range joined the in-order data
 * ```
 */
export class Assembler {
  readonly #starts = new Array<number>(MAX_RANGES).fill(0);
  readonly #ends = new Array<number>(MAX_RANGES).fill(0);
  #count = 0;

  /** Number of ranges held. */
  get count(): number {
    return this.#count;
  }

  /** Forgets every range. */
  clear(): void {
    this.#count = 0;
  }

  /**
   * Records `[start, end)`, merging it with ranges it overlaps or touches. Returns false (and
   * records nothing) when that would need more than {@link MAX_RANGES} ranges.
   */
  add(start: number, end: number): boolean {
    const starts = this.#starts;
    const ends = this.#ends;
    let i = 0;
    while (i < this.#count && seqLt(ends[i], start)) i++;
    // Ranges i..j-1 overlap or touch [start, end).
    let j = i;
    let mergedStart = start;
    let mergedEnd = end;
    while (j < this.#count && seqLe(starts[j], end)) {
      if (seqLt(starts[j], mergedStart)) mergedStart = starts[j];
      mergedEnd = seqMax(mergedEnd, ends[j]);
      j++;
    }
    const removed = j - i;
    if (removed === 0 && this.#count === MAX_RANGES) return false;
    // Replace ranges i..j-1 by one range.
    const shift = 1 - removed;
    if (shift > 0) {
      for (let k = this.#count - 1; k >= j; k--) {
        starts[k + shift] = starts[k];
        ends[k + shift] = ends[k];
      }
    } else if (shift < 0) {
      for (let k = j; k < this.#count; k++) {
        starts[k + shift] = starts[k];
        ends[k + shift] = ends[k];
      }
    }
    starts[i] = mergedStart;
    ends[i] = mergedEnd;
    this.#count += shift;
    return true;
  }

  /**
   * The new RCV.NXT once in-order data reaches `next`: ranges starting at or before it are
   * absorbed (and forgotten); returns `next` or the end of the last absorbed range.
   */
  advance(next: number): number {
    let absorbed = 0;
    while (absorbed < this.#count && seqLe(this.#starts[absorbed], next)) {
      next = seqMax(next, this.#ends[absorbed]);
      absorbed++;
    }
    if (absorbed > 0) {
      for (let k = absorbed; k < this.#count; k++) {
        this.#starts[k - absorbed] = this.#starts[k];
        this.#ends[k - absorbed] = this.#ends[k];
      }
      this.#count -= absorbed;
    }
    return next;
  }

  /** Whether any range reaches `seq` or beyond (data held past it). */
  holdsBeyond(seq: number): boolean {
    return this.#count > 0 && seqGt(this.#ends[this.#count - 1], seq);
  }

  /** Bytes from `base` to the end of the highest range (0 when empty). */
  extentFrom(base: number): number {
    return this.#count === 0 ? 0 : Math.max(0, seqDiff(this.#ends[this.#count - 1], base));
  }

  /** Whether `[start, end)` is entirely covered by one range. */
  covers(start: number, end: number): boolean {
    for (let i = 0; i < this.#count; i++) {
      if (seqLe(this.#starts[i], start) && seqGe(this.#ends[i], end)) return true;
    }
    return false;
  }
}
