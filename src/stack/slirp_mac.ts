/**
 * The MAC addresses of the emulated hosts, by the libslirp convention: `52:55:` followed by the
 * four bytes of the IPv4 address (gateway 10.0.2.2 is 52:55:0a:00:02:02). 52 has the
 * locally-administered bit set and the group bit clear.
 */

import { writeIpv4 } from "../wire/address.ts";

/** First byte of every emulated MAC. */
export const SLIRP_MAC_0 = 0x52;
/** Second byte of every emulated IPv4 host MAC. */
export const SLIRP_MAC_1 = 0x55;

/**
 * Writes the emulated MAC of `ipv4` at `offset`.
 *
 * @example
 * ```ts
 * import { writeSlirpMac } from "./slirp_mac.ts";
 * const mac = new Uint8Array(6);
 * writeSlirpMac(mac, 0, 0x0a000202);
 * // mac is now 52:55:0a:00:02:02
 * ```
 */
export function writeSlirpMac(bytes: Uint8Array, offset: number, ipv4: number): void {
  bytes[offset] = SLIRP_MAC_0;
  bytes[offset + 1] = SLIRP_MAC_1;
  writeIpv4(bytes, offset + 2, ipv4);
}

/** A new 6-byte array holding the emulated MAC of `ipv4` (for set-up code, not per frame). */
export function slirpMac(ipv4: number): Uint8Array {
  const mac = new Uint8Array(6);
  writeSlirpMac(mac, 0, ipv4);
  return mac;
}

/** Whether the MAC at `offset` is an emulated host's (52:55:…). */
export function isSlirpMac(bytes: Uint8Array, offset: number): boolean {
  return bytes[offset] === SLIRP_MAC_0 && bytes[offset + 1] === SLIRP_MAC_1;
}
