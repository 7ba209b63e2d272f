/**
 * The memory layout of a {@link FrameRing}'s SharedArrayBuffer, in one place: a header of Int32
 * words, then the data region of variable-length records. The protocol that uses these words is
 * described at the top of `frame_ring.ts`; read it before changing anything here.
 *
 * @module
 */

/** Bytes per cache line. Words written by different threads live on different lines. */
export const CACHE_LINE = 64;

/** Int32 words per cache line. */
const LINE = CACHE_LINE / 4;

/**
 * Header word indices into an `Int32Array` over the whole buffer (byte offset = index × 4).
 *
 * ```
 *  line  bytes      written by            words
 *  0     0..63      create(); close()     MAGIC VERSION CAPACITY MAX_FRAME | CLOSED (either side)
 *  1     64..127    producer only         HEAD PRODUCER_SLEEPING PRODUCER_NEEDS
 *  2     128..191   consumer only         TAIL CONSUMER_SLEEPING
 *  3     192..255   producer, close()     CONSUMER_WAKE (futex word the consumer sleeps on)
 *  4     256..319   consumer, close()     PRODUCER_WAKE (futex word the producer sleeps on)
 *  5     320..383   producer only         STATS: FRAMES_PUSHED BYTES_PUSHED FRAMES_DROPPED
 *  6     384..447   consumer only         STATS: FRAMES_RELEASED BYTES_RELEASED
 *  7     448..511   (reserved, zero)
 *        512..      records               DATA_OFFSET + (counter & (capacity - 1))
 * ```
 *
 * `HEAD` and `TAIL` are free-running byte counters that wrap at 2^32 (stored as Int32, compared
 * with `| 0` arithmetic); the data offset of a counter is `counter & (capacity - 1)`.
 */
export const HEADER = {
  /** {@link RING_MAGIC}: tells `attach()` that the buffer holds a ring. */
  MAGIC: 0,
  /** {@link RING_VERSION}: the layout version. */
  VERSION: 1,
  /** Bytes in the data region: a power of two. */
  CAPACITY: 2,
  /** Largest payload, in bytes, that a record may hold. */
  MAX_FRAME: 3,
  /** Non-zero once either side called `close()`. */
  CLOSED: 4,

  /** Producer's byte counter: everything before it is published. */
  HEAD: LINE * 1,
  /** 1 while the producer is (about to be) asleep in `waitForSpace()`. */
  PRODUCER_SLEEPING: LINE * 1 + 1,
  /** Free bytes the sleeping producer waits for (a record plus any wrap skip). */
  PRODUCER_NEEDS: LINE * 1 + 2,

  /** Consumer's byte counter: everything before it is released. */
  TAIL: LINE * 2,
  /** 1 while the consumer is (about to be) asleep in `waitForData*()`. */
  CONSUMER_SLEEPING: LINE * 2 + 1,

  /** Bumped before every notify that is meant for the consumer. */
  CONSUMER_WAKE: LINE * 3,
  /** Bumped before every notify that is meant for the producer. */
  PRODUCER_WAKE: LINE * 4,
} as const;

/**
 * Statistics: indices into a `Float64Array` over the header (byte offset = index × 8), on cache
 * lines 5 (producer) and 6 (consumer). Each is written by one side only, with plain stores of
 * whole numbers, exact up to 2^53.
 */
export const STATS = {
  /** Frames committed by the producer. */
  FRAMES_PUSHED: (CACHE_LINE * 5) / 8,
  /** Payload bytes committed by the producer. */
  BYTES_PUSHED: (CACHE_LINE * 5) / 8 + 1,
  /** Frames the producer chose to drop. */
  FRAMES_DROPPED: (CACHE_LINE * 5) / 8 + 2,
  /** Frames released by the consumer. */
  FRAMES_RELEASED: (CACHE_LINE * 6) / 8,
  /** Payload bytes released by the consumer. */
  BYTES_RELEASED: (CACHE_LINE * 6) / 8 + 1,
} as const;

/** Byte offset of the data region; the header takes the bytes before it. */
export const DATA_OFFSET = CACHE_LINE * 8;

/** Value of {@link HEADER}.MAGIC: "FRNG" read as a little-endian u32. */
export const RING_MAGIC = 0x474e5246;

/** Value of {@link HEADER}.VERSION. Bump it when this file changes meaning. */
export const RING_VERSION = 1;

/**
 * One record in the data region, starting at an 8-byte-aligned offset:
 *
 * ```
 *  0                   4                          4 + length        record end (8-aligned)
 *  +-------------------+--------------------------+-----------------+
 *  | length: u32 (LE)  | payload: length bytes    | padding to 8    |
 *  +-------------------+--------------------------+-----------------+
 * ```
 *
 * A length of {@link WRAP_MARKER} is not a record: it says "the rest of the data region up to its
 * end is unused; the next record starts at offset 0".
 */
export const RECORD = {
  /** Offset of the u32 length word. */
  LENGTH: 0,
  /** Offset of the payload. */
  PAYLOAD: 4,
  /** Every record starts and ends on a multiple of this. */
  ALIGN: 8,
} as const;

/** The length word that marks a skip to the start of the data region. */
export const WRAP_MARKER = 0xffff_ffff;

/** Default largest payload: 64 KiB, enough for any frame on a tap with MTU 65520. */
export const DEFAULT_MAX_FRAME = 65536;

/** Largest data region: counters compare correctly while it stays below 2^31. */
export const MAX_CAPACITY = 2 ** 30;

/**
 * Bytes a record with a payload of `length` bytes takes in the data region.
 *
 * @example
 * ```ts
 * import { recordBytes } from "./layout.ts";
 * console.assert(recordBytes(0) === 8 && recordBytes(4) === 8 && recordBytes(5) === 16);
 * ```
 */
export function recordBytes(length: number): number {
  return (length + RECORD.PAYLOAD + RECORD.ALIGN - 1) & -RECORD.ALIGN;
}

/**
 * Smallest data region that holds a record of `maxFrame` bytes at any position: twice the largest
 * record, rounded up to a power of two. With it, an empty ring always accepts a maximal frame,
 * however its space is split by the end of the region.
 *
 * @example
 * ```ts
 * import { minCapacity } from "./layout.ts";
 * console.assert(minCapacity(65536) === 262144 && minCapacity(16) === 64);
 * ```
 */
export function minCapacity(maxFrame: number): number {
  const bytes = 2 * recordBytes(maxFrame);
  return 2 ** Math.ceil(Math.log2(bytes));
}
