/**
 * Interim IPv6 address helpers until the foundation's `readIpv6`/`writeIpv6` (src/wire/address.ts)
 * and the bigint `pseudoHeaderSum` (src/wire/checksum.ts) land; then this file goes.
 */
import { foldSum } from "./checksum.ts";

/** Reads a 16-byte IPv6 address as a 128-bit bigint (network order). */
export function readIpv6(bytes: Uint8Array, offset: number): bigint {
  let value = 0n;
  for (let i = 0; i < 16; i += 4) {
    value = (value << 32n) |
      BigInt(
        ((bytes[offset + i] << 24) | (bytes[offset + i + 1] << 16) |
          (bytes[offset + i + 2] << 8) | bytes[offset + i + 3]) >>> 0,
      );
  }
  return value;
}

/** Writes a 128-bit bigint as a 16-byte IPv6 address (network order). */
export function writeIpv6(bytes: Uint8Array, offset: number, address: bigint): void {
  for (let i = 15; i >= 0; i--) {
    bytes[offset + i] = Number(address & 0xffn);
    address >>= 8n;
  }
}

/** The RFC 8200 §8.1 pseudo-header sum. */
export function pseudoHeaderSum(
  src: bigint,
  dst: bigint,
  protocol: number,
  length: number,
): number {
  let sum = protocol + (length >>> 16) + (length & 0xffff);
  for (let shift = 0n; shift < 128n; shift += 16n) {
    sum += Number((src >> shift) & 0xffffn) + Number((dst >> shift) & 0xffffn);
  }
  return foldSum(sum);
}
