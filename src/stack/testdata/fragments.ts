/** Cutting guest frames into IPv4 fragments, and putting frames the stack sent back together. */

import { internetChecksum } from "../../wire/checksum.ts";

/** One fragment of `frame` (Ethernet + 20-byte IPv4 header): payload bytes [offset, offset+length). */
export function fragmentOf(
  frame: Uint8Array,
  offset: number,
  length: number,
  more: boolean,
  options: { id?: number } = {},
): Uint8Array {
  const out = new Uint8Array(34 + length);
  out.set(frame.subarray(0, 34));
  out.set(frame.subarray(34 + offset, 34 + offset + length), 34);
  const total = 20 + length;
  out[16] = total >> 8;
  out[17] = total & 0xff;
  const word = (more ? 0x2000 : 0) | (offset >> 3);
  out[20] = word >> 8;
  out[21] = word & 0xff;
  if (options.id !== undefined) {
    out[18] = options.id >> 8;
    out[19] = options.id & 0xff;
  }
  out[24] = out[25] = 0;
  const sum = internetChecksum(out, 14, 20);
  out[24] = sum >> 8;
  out[25] = sum & 0xff;
  return out;
}

/** Cuts `frame` into fragments of `size` payload bytes (a multiple of 8), in order. */
export function fragment(
  frame: Uint8Array,
  size: number,
  options: { id?: number } = {},
): Uint8Array[] {
  const payload = frame.length - 34;
  const out: Uint8Array[] = [];
  for (let offset = 0; offset < payload; offset += size) {
    const length = Math.min(size, payload - offset);
    out.push(fragmentOf(frame, offset, length, offset + length < payload, options));
  }
  return out;
}

/**
 * Puts fragments the stack sent (in order, 20-byte headers) back into one frame, checking each
 * header checksum, the offsets and the MF bits on the way.
 */
export function joinFragments(frames: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let expected = 0;
  frames.forEach((f, i) => {
    if (internetChecksum(f, 14, 20) !== 0) throw new Error(`fragment ${i}: bad header checksum`);
    const word = (f[20] << 8) | f[21];
    const offset = (word & 0x1fff) * 8;
    const more = (word & 0x2000) !== 0;
    if (offset !== expected) {
      throw new Error(`fragment ${i}: offset ${offset}, expected ${expected}`);
    }
    if (more !== (i < frames.length - 1)) throw new Error(`fragment ${i}: wrong MF`);
    const total = (f[16] << 8) | f[17];
    parts.push(f.subarray(34, 14 + total));
    expected += total - 20;
  });
  const out = new Uint8Array(34 + expected);
  out.set(frames[0].subarray(0, 34));
  let at = 34;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  out[16] = (20 + expected) >> 8;
  out[17] = (20 + expected) & 0xff;
  out[20] = out[21] = 0;
  out[24] = out[25] = 0;
  const sum = internetChecksum(out, 14, 20);
  out[24] = sum >> 8;
  out[25] = sum & 0xff;
  return out;
}

/** A seeded generator (mulberry32) for shuffles. */
export function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
