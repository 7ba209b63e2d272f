/**
 * TCP sequence number arithmetic (RFC 9293 §3.4): 32-bit numbers compared modulo 2^32, valid while
 * the two numbers are less than 2^31 apart. Sequence numbers are kept as unsigned numbers
 * (0..2^32-1); `seqAdd` wraps, `seqDiff` gives the signed distance.
 */

/**
 * `a + n` modulo 2^32, as an unsigned number.
 *
 * @example
 * ```ts
 * import { seqAdd } from "./seq.ts";
 * seqAdd(0xffffffff, 2); // 1
 * ```
 */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/**
 * The signed distance `a - b` modulo 2^32, in -2^31..2^31-1.
 *
 * @example
 * ```ts
 * import { seqDiff } from "./seq.ts";
 * seqDiff(1, 0xffffffff); // 2
 * ```
 */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** `a < b` in sequence space. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** `a <= b` in sequence space. */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** `a > b` in sequence space. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** `a >= b` in sequence space. */
export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of two sequence numbers. */
export function seqMax(a: number, b: number): number {
  return ((a - b) | 0) >= 0 ? a : b;
}
