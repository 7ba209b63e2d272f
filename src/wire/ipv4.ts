/**
 * IPv4 headers (RFC 791 §3.1), with the header checksum (RFC 1071) and the option list walk
 * (RFC 791 §3.1 "Options"). Read RFC 791 §3.1 and RFC 1122 §3.2.1 before editing.
 */

import { readIpv4, writeIpv4 } from "./address.ts";
import { internetChecksum } from "./checksum.ts";
import { ByteView, writeU16 } from "./view.ts";

/*
 * IPv4 header (RFC 791 §3.1):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version|  IHL  |Type of Service|          Total Length         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Identification        |Flags|      Fragment Offset    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Time to Live |    Protocol   |         Header Checksum       |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                       Source Address                          |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Destination Address                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Options                    |    Padding    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *  Flags: bit 0 reserved (must be zero), bit 1 DF (don't fragment), bit 2 MF (more fragments).
 */
/** Field offsets of the IPv4 header. */
export const IPV4 = {
  VERSION_IHL: 0,
  TOS: 1,
  TOTAL_LENGTH: 2,
  IDENTIFICATION: 4,
  FLAGS_FRAGMENT: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
  OPTIONS: 20,
} as const;

/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LEN = 20;
/** Largest IPv4 header: IHL 15. */
export const IPV4_MAX_HEADER_LEN = 60;

/** Bits of the flags/fragment-offset word. */
export const Ipv4Flag = {
  RESERVED: 0x8000,
  DONT_FRAGMENT: 0x4000,
  MORE_FRAGMENTS: 0x2000,
  OFFSET_MASK: 0x1fff,
} as const;

/** IP protocol numbers (IANA). */
export const IpProtocol = {
  ICMP: 1,
  TCP: 6,
  UDP: 17,
} as const;

/** Option types with a special layout (RFC 791 §3.1 "Options"); all others are type-length-value. */
export const Ipv4Option = {
  END: 0,
  NOP: 1,
} as const;

/** What `Ipv4Packet.check()` reports. */
export type Ipv4Check =
  | "ok"
  | "truncated"
  | "bad_version"
  | "bad_header_length"
  | "total_length_exceeds_buffer";

/**
 * A view of an IPv4 datagram. After `check()` returned `"ok"`, the header (options included) and
 * `totalLength` bytes lie inside the view, so every accessor and `payloadOffset`/`payloadLength`
 * are safe. Bytes after `totalLength` (Ethernet padding) are ignored. The checksum is verified
 * separately (`verifyChecksum`).
 *
 * @example
 * ```ts
 * import { emitIpv4Header, IpProtocol, Ipv4Packet } from "./ipv4.ts";
 * const bytes = new Uint8Array(28);
 * emitIpv4Header(bytes, 0, 28, 1, false, 64, IpProtocol.UDP, 0x0a000202, 0x0a00020f);
 * const ip = new Ipv4Packet().wrap(bytes);
 * if (ip.check() !== "ok" || !ip.verifyChecksum() || ip.payloadLength !== 8) {
 *   throw new Error("bad IPv4 header");
 * }
 * ```
 */
export class Ipv4Packet extends ByteView {
  /**
   * Checks the lengths: version 4, IHL ≥ 5, header ≤ total length ≤ bytes in the view
   * (RFC 791 §3.1; RFC 1122 §3.2.1.1 says to discard a datagram whose version is not 4).
   */
  check(): Ipv4Check {
    if (this.length < IPV4_HEADER_LEN) return "truncated";
    if (this.version !== 4) return "bad_version";
    const headerLength = this.headerLength;
    const totalLength = this.totalLength;
    if (headerLength < IPV4_HEADER_LEN || headerLength > totalLength) return "bad_header_length";
    if (totalLength > this.length) return "total_length_exceeds_buffer";
    return "ok";
  }

  get version(): number {
    return this.bytes[this.offset] >>> 4;
  }

  /** Header length in bytes (IHL × 4). */
  get headerLength(): number {
    return (this.bytes[this.offset] & 0x0f) << 2;
  }

  get tos(): number {
    return this.bytes[this.offset + IPV4.TOS];
  }

  get totalLength(): number {
    return this.u16(IPV4.TOTAL_LENGTH);
  }

  get identification(): number {
    return this.u16(IPV4.IDENTIFICATION);
  }

  get dontFragment(): boolean {
    return (this.u16(IPV4.FLAGS_FRAGMENT) & Ipv4Flag.DONT_FRAGMENT) !== 0;
  }

  get moreFragments(): boolean {
    return (this.u16(IPV4.FLAGS_FRAGMENT) & Ipv4Flag.MORE_FRAGMENTS) !== 0;
  }

  /** Fragment offset in bytes (the field counts 8-octet units). */
  get fragmentOffset(): number {
    return (this.u16(IPV4.FLAGS_FRAGMENT) & Ipv4Flag.OFFSET_MASK) << 3;
  }

  /** Whether this datagram is a fragment: MF set or a non-zero offset (RFC 791 §2.3). */
  get isFragment(): boolean {
    return (this.u16(IPV4.FLAGS_FRAGMENT) & (Ipv4Flag.MORE_FRAGMENTS | Ipv4Flag.OFFSET_MASK)) !== 0;
  }

  get ttl(): number {
    return this.bytes[this.offset + IPV4.TTL];
  }
  set ttl(value: number) {
    this.bytes[this.offset + IPV4.TTL] = value;
  }

  get protocol(): number {
    return this.bytes[this.offset + IPV4.PROTOCOL];
  }

  get checksum(): number {
    return this.u16(IPV4.CHECKSUM);
  }

  get src(): number {
    return readIpv4(this.bytes, this.offset + IPV4.SRC);
  }
  set src(value: number) {
    writeIpv4(this.bytes, this.offset + IPV4.SRC, value);
  }

  get dst(): number {
    return readIpv4(this.bytes, this.offset + IPV4.DST);
  }
  set dst(value: number) {
    writeIpv4(this.bytes, this.offset + IPV4.DST, value);
  }

  /** Absolute offset of the payload in `bytes`. */
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }

  /** Payload length from the header: total length minus header length. */
  get payloadLength(): number {
    return this.totalLength - this.headerLength;
  }

  /** Whether the header checksum is correct (the sum over the header finishes to 0). */
  verifyChecksum(): boolean {
    return internetChecksum(this.bytes, this.offset, this.headerLength) === 0;
  }

  /** Recomputes and writes the header checksum. */
  fillChecksum(): void {
    this.setU16(IPV4.CHECKSUM, 0);
    this.setU16(IPV4.CHECKSUM, internetChecksum(this.bytes, this.offset, this.headerLength));
  }

  /**
   * Whether the option list is well formed (RFC 791 §3.1 "Options"): End and No-Operation are
   * single octets; every other option has a length octet of at least 2 that stays inside the
   * header. Bytes after End-of-Option-List are padding and not inspected.
   */
  optionsValid(): boolean {
    const end = this.offset + this.headerLength;
    let i = this.offset + IPV4.OPTIONS;
    while (i < end) {
      const type = this.bytes[i];
      if (type === Ipv4Option.END) return true;
      if (type === Ipv4Option.NOP) {
        i++;
        continue;
      }
      if (i + 1 >= end) return false;
      const length = this.bytes[i + 1];
      if (length < 2 || i + length > end) return false;
      i += length;
    }
    return true;
  }
}

/**
 * Writes a 20-byte IPv4 header (no options) at `offset`, with its checksum. The flags are DF or
 * nothing; the fragment offset is 0.
 */
export function emitIpv4Header(
  bytes: Uint8Array,
  offset: number,
  totalLength: number,
  identification: number,
  dontFragment: boolean,
  ttl: number,
  protocol: number,
  src: number,
  dst: number,
  tos = 0,
): void {
  bytes[offset + IPV4.VERSION_IHL] = 0x45;
  bytes[offset + IPV4.TOS] = tos;
  writeU16(bytes, offset + IPV4.TOTAL_LENGTH, totalLength);
  writeU16(bytes, offset + IPV4.IDENTIFICATION, identification);
  writeU16(bytes, offset + IPV4.FLAGS_FRAGMENT, dontFragment ? Ipv4Flag.DONT_FRAGMENT : 0);
  bytes[offset + IPV4.TTL] = ttl;
  bytes[offset + IPV4.PROTOCOL] = protocol;
  writeU16(bytes, offset + IPV4.CHECKSUM, 0);
  writeIpv4(bytes, offset + IPV4.SRC, src);
  writeIpv4(bytes, offset + IPV4.DST, dst);
  writeU16(bytes, offset + IPV4.CHECKSUM, internetChecksum(bytes, offset, IPV4_HEADER_LEN));
}

/** Whether an address is in 224.0.0.0/4 (RFC 5771). */
export function isMulticastIpv4(address: number): boolean {
  return (address >>> 28) === 0xe;
}

/** 255.255.255.255, the limited broadcast address (RFC 919 §7). */
export const LIMITED_BROADCAST = 0xffffffff;

/** Whether an address is in 0.0.0.0/8 ("this network", RFC 1122 §3.2.1.3 (a)). */
export function isThisNetworkIpv4(address: number): boolean {
  return (address >>> 24) === 0;
}

/** Whether an address is in 127.0.0.0/8 (RFC 1122 §3.2.1.3 (g)). */
export function isLoopbackIpv4(address: number): boolean {
  return (address >>> 24) === 127;
}
