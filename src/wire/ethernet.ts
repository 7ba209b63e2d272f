/**
 * Ethernet II frames as a tap device delivers them (RFC 894: IP datagrams over Ethernet; no
 * preamble, no FCS). 802.1Q/802.1ad tagged frames are recognised by their EtherType only; the stack
 * drops them as unsupported.
 */

import { ByteView, copyBytes, writeU16 } from "./view.ts";

/*
 * Ethernet II header (RFC 894, IEEE 802.3 clause 3):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                Destination MAC address (6 octets)             |
 *  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                               |                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *  |                  Source MAC address (6 octets)                |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |           EtherType           |  Payload ...
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
/** Field offsets of the Ethernet II header. */
export const ETHERNET = {
  DST: 0,
  SRC: 6,
  ETHERTYPE: 12,
  PAYLOAD: 14,
} as const;

/** Length of the Ethernet II header. */
export const ETHERNET_HEADER_LEN = 14;
/** Length of a MAC address. */
export const MAC_LEN = 6;
/** Minimum frame length without FCS (IEEE 802.3 clause 3.2.8): shorter frames are padded. */
export const ETHERNET_MIN_FRAME_LEN = 60;

/** EtherType values (IEEE registry). Values below 0x0600 are 802.3 lengths, not types. */
export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  IPV6: 0x86dd,
  QINQ: 0x88a8,
} as const;

/** ff:ff:ff:ff:ff:ff. Never written to. */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** What `EthernetFrame.check()` reports. */
export type EthernetCheck = "ok" | "truncated";

/**
 * A view of an Ethernet II frame. Accessors are safe after `check()` returned `"ok"`.
 *
 * @example
 * ```ts
 * import { EthernetFrame, EtherType } from "./ethernet.ts";
 * const bytes = new Uint8Array(60);
 * bytes[12] = 0x08; bytes[13] = 0x06;
 * const eth = new EthernetFrame().wrap(bytes);
 * if (eth.check() !== "ok" || eth.ethertype !== EtherType.ARP) throw new Error("not ARP");
 * ```
 */
export class EthernetFrame extends ByteView {
  /** `"truncated"` when the view is shorter than the 14-byte header. */
  check(): EthernetCheck {
    return this.length < ETHERNET_HEADER_LEN ? "truncated" : "ok";
  }

  /** Absolute offset of the destination MAC in `bytes`. */
  get dstOffset(): number {
    return this.offset + ETHERNET.DST;
  }

  /** Absolute offset of the source MAC in `bytes`. */
  get srcOffset(): number {
    return this.offset + ETHERNET.SRC;
  }

  get ethertype(): number {
    return this.u16(ETHERNET.ETHERTYPE);
  }
  set ethertype(value: number) {
    this.setU16(ETHERNET.ETHERTYPE, value);
  }

  /** Absolute offset of the payload in `bytes`. */
  get payloadOffset(): number {
    return this.offset + ETHERNET.PAYLOAD;
  }

  /** Payload length, including any padding up to the 60-byte minimum. */
  get payloadLength(): number {
    return this.length - ETHERNET.PAYLOAD;
  }
}

/** Whether the MAC at `offset` is ff:ff:ff:ff:ff:ff. */
export function isBroadcastMac(bytes: Uint8Array, offset: number): boolean {
  return (bytes[offset] & bytes[offset + 1] & bytes[offset + 2] & bytes[offset + 3] &
    bytes[offset + 4] & bytes[offset + 5]) === 0xff;
}

/** Whether the MAC at `offset` has the group bit set (multicast or broadcast). */
export function isMulticastMac(bytes: Uint8Array, offset: number): boolean {
  return (bytes[offset] & 1) === 1;
}

/** Whether the MAC at `offset` is 00:00:00:00:00:00. */
export function isZeroMac(bytes: Uint8Array, offset: number): boolean {
  return (bytes[offset] | bytes[offset + 1] | bytes[offset + 2] | bytes[offset + 3] |
    bytes[offset + 4] | bytes[offset + 5]) === 0;
}

/** Whether two MAC addresses are equal. */
export function macEquals(a: Uint8Array, aOffset: number, b: Uint8Array, bOffset: number): boolean {
  for (let i = 0; i < MAC_LEN; i++) if (a[aOffset + i] !== b[bOffset + i]) return false;
  return true;
}

/**
 * Writes a 14-byte Ethernet II header at `offset`. The MACs are copied from `dst[dstOffset..]`
 * and `src[srcOffset..]`, which may lie in the same buffer as long as they do not overlap the
 * header being written.
 *
 * @example
 * ```ts
 * import { BROADCAST_MAC, emitEthernetHeader, EtherType } from "./ethernet.ts";
 * const frame = new Uint8Array(60);
 * const mac = new Uint8Array([0x52, 0x55, 10, 0, 2, 2]);
 * emitEthernetHeader(frame, 0, BROADCAST_MAC, 0, mac, 0, EtherType.ARP);
 * ```
 */
export function emitEthernetHeader(
  bytes: Uint8Array,
  offset: number,
  dst: Uint8Array,
  dstOffset: number,
  src: Uint8Array,
  srcOffset: number,
  ethertype: number,
): void {
  copyBytes(bytes, offset + ETHERNET.DST, dst, dstOffset, MAC_LEN);
  copyBytes(bytes, offset + ETHERNET.SRC, src, srcOffset, MAC_LEN);
  writeU16(bytes, offset + ETHERNET.ETHERTYPE, ethertype);
}
