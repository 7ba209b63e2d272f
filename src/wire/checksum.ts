/**
 * The internet checksum: RFC 1071 (computation), RFC 1624 (incremental update), and the TCP/UDP
 * pseudo-header (RFC 768; RFC 9293 §3.1; RFC 8200 §8.1 for IPv6). Read RFC 1071 §2 and RFC 1624 §3 before editing.
 *
 * A *sum* here is the 16-bit one's complement sum of big-endian words, kept folded in 0..0xffff
 * so that sums can be chained: `sumBytes(b, o, n, sumBytes(a, p, m))`. Every piece but the last
 * must have an even length (RFC 1071 §2(A): odd bytes are padded at the end only). The
 * *checksum* that goes on the wire is the complement of the final sum (`finishChecksum`). A
 * received header or segment is valid when the sum over it, checksum field included, finishes
 * to 0.
 */

import { type IpAddress, readIpv4 } from "./address.ts";

// One DataView per underlying buffer, rebuilt only when a different buffer comes in: frames
// arrive from one ring and replies are built in one scratch buffer, so in steady state this
// allocates nothing. DataView reads are big-endian, work on SharedArrayBuffer, and need no
// alignment.
let cachedBuffer: ArrayBufferLike | null = null;
let cachedView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

function viewOf(bytes: Uint8Array): DataView<ArrayBufferLike> {
  if (bytes.buffer !== cachedBuffer) {
    cachedBuffer = bytes.buffer;
    cachedView = new DataView(bytes.buffer);
  }
  return cachedView;
}

/** Folds a non-negative sum below 2^53 into 16 bits with end-around carry (RFC 1071 §4.1). */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * One's complement sum of `bytes[offset, offset + length)` as big-endian 16-bit words, added to
 * `initial`, folded to 16 bits. An odd trailing byte counts as its high half (RFC 1071 §4.1).
 * Reads 32 bits at a time; nothing is allocated. Out-of-range bytes are not read: the range is
 * clamped to the buffer.
 *
 * @example
 * ```ts
 * import { sumBytes } from "./checksum.ts";
 * if (sumBytes(new Uint8Array([0x12, 0x34, 0x56]), 0, 3) !== 0x6834) throw new Error("bad sum");
 * ```
 */
export function sumBytes(bytes: Uint8Array, offset: number, length: number, initial = 0): number {
  if (offset < 0) offset = 0;
  if (offset + length > bytes.length) length = bytes.length - offset;
  if (!(length > 0)) return foldSum(initial);
  const view = viewOf(bytes);
  let i = bytes.byteOffset + offset;
  const end = i + length;
  // Each 32-bit word is two 16-bit words: (hi << 16) + lo ≡ hi + lo (mod 0xffff), so summing
  // whole 32-bit words and folding at the end gives the same one's complement sum.
  // Up to 2^21 iterations of 4 × (2^32 - 1) stay below 2^53.
  let sum = initial;
  const end16 = end - 15;
  for (; i < end16; i += 16) {
    sum += view.getUint32(i) + view.getUint32(i + 4) + view.getUint32(i + 8) +
      view.getUint32(i + 12);
  }
  for (; i + 1 < end; i += 2) sum += view.getUint16(i);
  if (i < end) sum += view.getUint8(i) << 8;
  return foldSum(sum);
}

/** The checksum to put on the wire for a final sum: its one's complement, 0..0xffff. */
export function finishChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/**
 * The internet checksum of a byte range: write it into a zeroed checksum field, or, computed over
 * a received header with its checksum field, 0 means valid.
 *
 * @example
 * ```ts
 * import { internetChecksum } from "./checksum.ts";
 * // RFC 1071 §3 example words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d.
 * const data = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
 * if (internetChecksum(data, 0, 8) !== 0x220d) throw new Error("bad checksum");
 * ```
 */
export function internetChecksum(bytes: Uint8Array, offset: number, length: number): number {
  return finishChecksum(sumBytes(bytes, offset, length));
}

/**
 * Sum of the pseudo-header used by TCP, UDP and ICMPv6: for IPv4 addresses (numbers) source,
 * destination, zero, protocol and the upper-layer length (RFC 768; RFC 9293 §3.1); for IPv6
 * addresses (bigints) source, destination, the 32-bit upper-layer length, three zero bytes and
 * the next header (RFC 8200 §8.1).
 */
export function pseudoHeaderSum(
  src: IpAddress,
  dst: IpAddress,
  protocol: number,
  length: number,
): number {
  if (typeof src === "bigint" || typeof dst === "bigint") {
    return foldSum(
      ipv6WordSum(BigInt(src)) + ipv6WordSum(BigInt(dst)) + protocol + (length >>> 16) +
        (length & 0xffff),
    );
  }
  return foldSum(
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length,
  );
}

/** The sum of the eight 16-bit words of an IPv6 address, unfolded. */
function ipv6WordSum(address: bigint): number {
  let sum = 0;
  for (let i = 0; i < 4; i++) {
    const word = Number(address & 0xffffffffn);
    sum += (word >>> 16) + (word & 0xffff);
    address >>= 32n;
  }
  return sum;
}

/**
 * Pseudo-header sum with the addresses read from the IPv4 or IPv6 header at `ipOffset` (the
 * version nibble says which); `protocol` and `length` are the upper layer's.
 */
export function pseudoHeaderSumAt(
  bytes: Uint8Array,
  ipOffset: number,
  protocol: number,
  length: number,
): number {
  if (bytes[ipOffset] >>> 4 === 6) {
    // Source and destination are the 32 bytes at offset 8 of the fixed header.
    return sumBytes(bytes, ipOffset + 8, 32, protocol + (length >>> 16) + (length & 0xffff));
  }
  return pseudoHeaderSum(
    readIpv4(bytes, ipOffset + 12),
    readIpv4(bytes, ipOffset + 16),
    protocol,
    length,
  );
}

/**
 * Updates a checksum after one 16-bit word of the covered data changed from `oldWord` to
 * `newWord`, per RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
 *
 * One corner case remains: when every covered byte other than the checksum is zero, a full
 * computation gives 0xffff (the sum is +0) but this gives 0x0000, which receivers reject. That
 * cannot happen under an IPv4 header or a TCP/UDP pseudo-header (never all zero); for an ICMP
 * message it can, so recompute in full when this returns 0.
 *
 * @example
 * ```ts
 * import { updateChecksum16 } from "./checksum.ts";
 * // ICMP echo request (type 8) becomes an echo reply (type 0): the first word 0x0800 → 0x0000.
 * if (updateChecksum16(0x6997, 0x0800, 0x0000) !== 0x7197) throw new Error("bad update");
 * ```
 */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  return ~foldSum((~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/** Updates a checksum after a 32-bit field (e.g. an address) changed; see `updateChecksum16`. */
export function updateChecksum32(checksum: number, oldValue: number, newValue: number): number {
  return ~foldSum(
    (~checksum & 0xffff) + (~oldValue >>> 16 & 0xffff) + (~oldValue & 0xffff) +
      (newValue >>> 16 & 0xffff) + (newValue & 0xffff),
  ) & 0xffff;
}
