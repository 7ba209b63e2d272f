/**
 * The base of every wire view: a window `[offset, offset + length)` over a byte buffer that can
 * be re-pointed at the next frame without allocating. Read the module doc of each protocol file
 * for when its accessors are safe.
 */

const EMPTY = new Uint8Array(0);

/**
 * A re-pointable window over a byte buffer. Subclasses add one getter (and setter) per header
 * field, with offsets relative to `offset`.
 *
 * Contract: `wrap()` never throws. Out-of-range windows become empty (length 0), so the
 * protocol's `check()` reports them as truncated. Accessors are only meaningful after `check()`
 * returned `"ok"`; before that they may read `undefined` bytes (which arithmetic turns into 0) but
 * still never throw.
 */
export class ByteView {
  /** The buffer the view looks into (may be backed by a SharedArrayBuffer). */
  bytes: Uint8Array = EMPTY;
  /** Start of the view in `bytes`. */
  offset = 0;
  /** Number of bytes in the view. */
  length = 0;

  /**
   * Points the view at `bytes[offset, offset + length)`; `length` defaults to the rest of the
   * buffer. An out-of-range window becomes empty.
   *
   * @example
   * ```ts
   * import { ByteView } from "./view.ts";
   * const view = new ByteView().wrap(new Uint8Array(10), 4);
   * if (view.length !== 6) throw new Error("length mismatch");
   * ```
   */
  wrap(bytes: Uint8Array, offset = 0, length: number = bytes.length - offset): this {
    this.bytes = bytes;
    if (
      !(offset >= 0) || !(length >= 0) || offset + length > bytes.length ||
      !Number.isInteger(offset) || !Number.isInteger(length)
    ) {
      this.offset = 0;
      this.length = 0;
    } else {
      this.offset = offset;
      this.length = length;
    }
    return this;
  }

  /** Reads the big-endian 16-bit field at `at` (relative to the view). */
  protected u16(at: number): number {
    const i = this.offset + at;
    return (this.bytes[i] << 8) | this.bytes[i + 1];
  }

  /** Writes a big-endian 16-bit field at `at` (relative to the view). */
  protected setU16(at: number, value: number): void {
    writeU16(this.bytes, this.offset + at, value);
  }

  /** Reads the big-endian 32-bit field at `at` (relative to the view), as an unsigned number. */
  protected u32(at: number): number {
    return readU32(this.bytes, this.offset + at);
  }

  /** Writes a big-endian 32-bit field at `at` (relative to the view). */
  protected setU32(at: number, value: number): void {
    writeU32(this.bytes, this.offset + at, value);
  }
}

/** Reads a big-endian 16-bit number at an absolute offset. */
export function readU16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] << 8) | bytes[offset + 1];
}

/** Writes a big-endian 16-bit number at an absolute offset. */
export function writeU16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 8) & 0xff;
  bytes[offset + 1] = value & 0xff;
}

/** Reads a big-endian unsigned 32-bit number at an absolute offset. */
export function readU32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) |
    bytes[offset + 3]) >>> 0;
}

/** Writes a big-endian 32-bit number at an absolute offset. */
export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 24) & 0xff;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

/**
 * Copies `length` bytes between buffers (or within one, front to back) without creating
 * subarray views, so a reply can be built from a request with no allocation.
 *
 * @example
 * ```ts
 * import { copyBytes } from "./view.ts";
 * const dst = new Uint8Array(4);
 * copyBytes(dst, 1, new Uint8Array([7, 8]), 0, 2);
 * if (dst[2] !== 8) throw new Error("copy failed");
 * ```
 */
export function copyBytes(
  dst: Uint8Array,
  dstOffset: number,
  src: Uint8Array,
  srcOffset: number,
  length: number,
): void {
  for (let i = 0; i < length; i++) dst[dstOffset + i] = src[srcOffset + i];
}
