/**
 * IPv6 fixed headers (RFC 8200 §3) and the address classes the stack tells apart (RFC 4291 §2.4).
 * Read RFC 8200 §3-§4 and RFC 4291 §2 before editing.
 */

import { readIpv6, writeIpv6 } from "./address.ts";
import { ByteView, writeU16, writeU32 } from "./view.ts";

/*
 * IPv6 header (RFC 8200 §3):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version| Traffic Class |           Flow Label                  |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Payload Length        |  Next Header  |   Hop Limit   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               |
 *  +                         Source Address (128 bits)             +
 *  |                                                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               |
 *  +                      Destination Address (128 bits)           +
 *  |                                                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
/** Field offsets of the IPv6 fixed header. */
export const IPV6 = {
  VERSION_CLASS_FLOW: 0,
  PAYLOAD_LENGTH: 4,
  NEXT_HEADER: 6,
  HOP_LIMIT: 7,
  SRC: 8,
  DST: 24,
} as const;

/** Length of the IPv6 fixed header. */
export const IPV6_HEADER_LEN = 40;

/** The smallest MTU every IPv6 link has (RFC 8200 §5). */
export const IPV6_MIN_MTU = 1280;

/** Next-header values of the upper layers and extension headers (IANA). */
export const Ipv6NextHeader = {
  HOP_BY_HOP: 0,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ICMPV6: 58,
  NO_NEXT_HEADER: 59,
  DESTINATION_OPTIONS: 60,
} as const;

/** What `Ipv6Packet.check()` reports. */
export type Ipv6Check = "ok" | "truncated" | "bad_version" | "payload_length_exceeds_buffer";

/**
 * A view of an IPv6 packet. After `check()` returned `"ok"`, the fixed header and
 * `payloadLength` bytes behind it lie inside the view, so every accessor is safe. Bytes after the
 * payload (Ethernet padding) are ignored. A payload length of 0 with a hop-by-hop header (a
 * jumbogram, RFC 2675) is reported as a 0-byte payload: links here never carry one.
 *
 * @example
 * ```ts
 * import { emitIpv6Header, Ipv6NextHeader, Ipv6Packet } from "./ipv6.ts";
 * const bytes = new Uint8Array(48);
 * emitIpv6Header(bytes, 0, 8, Ipv6NextHeader.UDP, 64, 0xfd00n << 112n | 2n, 0xfd00n << 112n | 100n);
 * const ip = new Ipv6Packet().wrap(bytes);
 * if (ip.check() !== "ok" || ip.payloadLength !== 8 || ip.dst !== (0xfd00n << 112n | 100n)) {
 *   throw new Error("bad IPv6 header");
 * }
 * ```
 */
export class Ipv6Packet extends ByteView {
  /** Checks the lengths: version 6, fixed header and payload inside the view (RFC 8200 §3). */
  check(): Ipv6Check {
    if (this.length < IPV6_HEADER_LEN) return "truncated";
    if (this.version !== 6) return "bad_version";
    if (IPV6_HEADER_LEN + this.payloadLength > this.length) return "payload_length_exceeds_buffer";
    return "ok";
  }

  get version(): number {
    return this.bytes[this.offset] >>> 4;
  }

  get trafficClass(): number {
    return (this.u16(IPV6.VERSION_CLASS_FLOW) >>> 4) & 0xff;
  }

  get flowLabel(): number {
    return this.u32(IPV6.VERSION_CLASS_FLOW) & 0xfffff;
  }

  /** Bytes behind the fixed header: extension headers and the upper-layer payload. */
  get payloadLength(): number {
    return this.u16(IPV6.PAYLOAD_LENGTH);
  }

  get nextHeader(): number {
    return this.bytes[this.offset + IPV6.NEXT_HEADER];
  }

  get hopLimit(): number {
    return this.bytes[this.offset + IPV6.HOP_LIMIT];
  }
  set hopLimit(value: number) {
    this.bytes[this.offset + IPV6.HOP_LIMIT] = value;
  }

  get src(): bigint {
    return readIpv6(this.bytes, this.offset + IPV6.SRC);
  }

  get dst(): bigint {
    return readIpv6(this.bytes, this.offset + IPV6.DST);
  }

  /** Absolute offset of the first byte behind the fixed header. */
  get payloadOffset(): number {
    return this.offset + IPV6_HEADER_LEN;
  }
}

/**
 * Writes a 40-byte IPv6 fixed header at `offset` (flow label 0) for a payload of `payloadLength`
 * bytes that starts with `nextHeader`.
 */
export function emitIpv6Header(
  bytes: Uint8Array,
  offset: number,
  payloadLength: number,
  nextHeader: number,
  hopLimit: number,
  src: bigint,
  dst: bigint,
  trafficClass = 0,
): void {
  writeU32(bytes, offset + IPV6.VERSION_CLASS_FLOW, (0x60000000 | (trafficClass << 20)) >>> 0);
  writeU16(bytes, offset + IPV6.PAYLOAD_LENGTH, payloadLength);
  bytes[offset + IPV6.NEXT_HEADER] = nextHeader;
  bytes[offset + IPV6.HOP_LIMIT] = hopLimit;
  writeIpv6(bytes, offset + IPV6.SRC, src);
  writeIpv6(bytes, offset + IPV6.DST, dst);
}

/** Whether an address is in ff00::/8 (multicast, RFC 4291 §2.7). */
export function isMulticastIpv6(address: bigint): boolean {
  return (address >> 120n) === 0xffn;
}

/** Whether an address is in fe80::/10 (link-local unicast, RFC 4291 §2.5.6). */
export function isLinkLocalIpv6(address: bigint): boolean {
  return (address >> 118n) === 0x3fan;
}

/** Whether an address is in ::ffff:0:0/96 (IPv4-mapped, RFC 4291 §2.5.5.2). */
export function isIpv4MappedIpv6(address: bigint): boolean {
  return (address >> 32n) === 0xffffn;
}

/**
 * Whether an address can never be a unicast peer on the network: unspecified (::), loopback (::1),
 * IPv4-mapped or multicast (RFC 4291 §2.5.2, §2.5.3, §2.5.5.2, §2.7).
 */
export function isSpecialIpv6(address: bigint): boolean {
  return address <= 1n || isIpv4MappedIpv6(address) || isMulticastIpv6(address);
}
