/**
 * ICMPv6 (RFC 4443): echo request/reply and the error messages (destination unreachable, packet
 * too big, time exceeded, parameter problem), and Neighbor Discovery (RFC 4861): router and
 * neighbour solicitations and advertisements with their options (link-layer address, prefix
 * information, MTU) and the recursive DNS server option (RFC 8106). Read RFC 4443 §2-4, RFC 4861
 * §4 and §6-7, and RFC 8106 §5.1 before editing.
 *
 * The checksum covers the RFC 8200 §8.1 pseudo-header (source, destination, upper-layer length,
 * next header 58): receivers pass its sum (`pseudoHeaderSum(src, dst, 58, length)`, or
 * `pseudoHeaderSumAt` straight from the IPv6 header's bytes); builders take the addresses.
 */

import { readIpv6, writeIpv6 } from "./address.ts";
import { finishChecksum, pseudoHeaderSum, sumBytes } from "./checksum.ts";
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, Ipv6NextHeader } from "./ipv6.ts";
import { ByteView, copyBytes, readU16, readU32, writeU16, writeU32 } from "./view.ts";

/*
 * ICMPv6 header (RFC 4443 §2.1); echo (§4.1, §4.2) has identifier and sequence number in the
 * second word, errors (§3) a 32-bit field (unused, the MTU, or a pointer) and then as much of the
 * offending packet as fits in the minimum MTU:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |     Code      |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |           Identifier          |        Sequence Number        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Data ...
 *  +-+-+-+-+-
 *
 * Neighbor Discovery messages (RFC 4861 §4.1-4.4), after type, code and checksum:
 *   Router Solicitation (133):    reserved (4)                                        options @8
 *   Router Advertisement (134):   cur hop limit (1), M|O flags (1), router lifetime (2),
 *                                 reachable time (4), retrans timer (4)              options @16
 *   Neighbor Solicitation (135):  reserved (4), target address (16)                  options @24
 *   Neighbor Advertisement (136): R|S|O flags (1), reserved (3), target address (16) options @24
 */
/** Field offsets of ICMPv6 messages. */
export const ICMPV6 = {
  TYPE: 0,
  CODE: 1,
  CHECKSUM: 2,
  IDENTIFIER: 4,
  SEQUENCE: 6,
  /** Errors: unused, the MTU (packet too big) or the pointer (parameter problem). */
  REST_OF_HEADER: 4,
  DATA: 8,
  /** Router Advertisement fields. */
  CUR_HOP_LIMIT: 4,
  ROUTER_FLAGS: 5,
  ROUTER_LIFETIME: 6,
  REACHABLE_TIME: 8,
  RETRANS_TIMER: 12,
  /** Neighbor Solicitation and Advertisement fields. */
  NEIGHBOR_FLAGS: 4,
  TARGET: 8,
} as const;

/** Length of the ICMPv6 header (type, code, checksum and the second word). */
export const ICMPV6_HEADER_LEN = 8;
/** Length of a Router Solicitation without options. */
export const ROUTER_SOLICITATION_LEN = 8;
/** Length of a Router Advertisement without options. */
export const ROUTER_ADVERTISEMENT_LEN = 16;
/** Length of a Neighbor Solicitation or Advertisement without options. */
export const NEIGHBOR_MESSAGE_LEN = 24;
/** Length of a Redirect without options (RFC 4861 §4.5). */
export const REDIRECT_LEN = 40;
/** Largest quote of an offending packet: 1280 − IPv6 header − ICMPv6 header (RFC 4443 §2.4 (c)). */
export const ICMPV6_MAX_QUOTE = IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;
/** The hop limit every Neighbor Discovery message is sent and must be received with. */
export const NDP_HOP_LIMIT = 255;

/** ICMPv6 types (RFC 4443 §2.1; RFC 4861 §4; RFC 2710 and RFC 3810 for MLD). */
export const Icmpv6Type = {
  DEST_UNREACHABLE: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAMETER_PROBLEM: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  MLD_QUERY: 130,
  MLD_REPORT: 131,
  MLD_DONE: 132,
  ROUTER_SOLICITATION: 133,
  ROUTER_ADVERTISEMENT: 134,
  NEIGHBOR_SOLICITATION: 135,
  NEIGHBOR_ADVERTISEMENT: 136,
  REDIRECT: 137,
  MLDV2_REPORT: 143,
} as const;

/** Codes of destination unreachable (RFC 4443 §3.1). */
export const Icmpv6Unreachable = {
  NO_ROUTE: 0,
  ADMIN_PROHIBITED: 1,
  BEYOND_SCOPE: 2,
  ADDRESS: 3,
  PORT: 4,
  SOURCE_POLICY: 5,
  REJECT_ROUTE: 6,
} as const;

/** Codes of time exceeded (RFC 4443 §3.3). */
export const Icmpv6TimeExceeded = {
  HOP_LIMIT: 0,
  REASSEMBLY: 1,
} as const;

/** Codes of parameter problem (RFC 4443 §3.4). */
export const Icmpv6ParameterProblem = {
  HEADER_FIELD: 0,
  NEXT_HEADER: 1,
  OPTION: 2,
} as const;

/** Router Advertisement flags (RFC 4861 §4.2): managed and other configuration. */
export const RouterFlag = {
  MANAGED: 0x80,
  OTHER: 0x40,
} as const;

/** Neighbor Advertisement flags (RFC 4861 §4.4): router, solicited, override (first byte). */
export const NeighborFlag = {
  ROUTER: 0x80,
  SOLICITED: 0x40,
  OVERRIDE: 0x20,
} as const;

/** Neighbor Discovery option types (RFC 4861 §4.6; RFC 7527 nonce; RFC 8106 RDNSS). */
export const NdpOption = {
  SOURCE_LINK_LAYER: 1,
  TARGET_LINK_LAYER: 2,
  PREFIX_INFORMATION: 3,
  REDIRECTED_HEADER: 4,
  MTU: 5,
  NONCE: 14,
  RDNSS: 25,
} as const;

/*
 * Option layouts (RFC 4861 §4.6; RFC 8106 §5.1); Length counts units of 8 octets, type and length
 * included, and 0 is invalid:
 *   link-layer address:  type, length 1, MAC (6)
 *   prefix information:  type, length 4, prefix length, L|A flags, valid lifetime (4),
 *                        preferred lifetime (4), reserved (4), prefix (16)
 *   MTU:                 type, length 1, reserved (2), MTU (4)
 *   RDNSS:               type, length 1 + 2n, reserved (2), lifetime (4), n addresses (16 each)
 */
/** Field offsets inside an option. */
export const NDP_OPTION = {
  TYPE: 0,
  LENGTH: 1,
  LINK_LAYER_ADDRESS: 2,
  PREFIX_LENGTH: 2,
  PREFIX_FLAGS: 3,
  VALID_LIFETIME: 4,
  PREFERRED_LIFETIME: 8,
  PREFIX: 16,
  MTU: 4,
  RDNSS_LIFETIME: 4,
  RDNSS_ADDRESSES: 8,
} as const;

/** Bytes of a link-layer address option for a MAC (length 1). */
export const LINK_LAYER_OPTION_LEN = 8;
/** Bytes of a prefix information option (length 4). */
export const PREFIX_OPTION_LEN = 32;
/** Bytes of an MTU option (length 1). */
export const MTU_OPTION_LEN = 8;

/** Prefix information flags (RFC 4861 §4.6.2): on-link and autonomous address configuration. */
export const PrefixFlag = {
  ON_LINK: 0x80,
  AUTONOMOUS: 0x40,
} as const;

/** What `Icmpv6Message.check()` reports. */
export type Icmpv6Check = "ok" | "truncated";

/**
 * A view of an ICMPv6 message; wrap it over exactly the upper-layer payload so the checksum covers
 * the whole message. `check()` requires the fixed part of the message's type (8 bytes, 16 for a
 * Router Advertisement, 24 for a neighbour message, 40 for a Redirect); every accessor of that
 * type is then safe.
 *
 * @example
 * ```ts
 * import { pseudoHeaderSum } from "./checksum.ts";
 * import { emitIcmpv6Echo, Icmpv6Message, Icmpv6Type } from "./icmpv6.ts";
 * const bytes = new Uint8Array(12);
 * emitIcmpv6Echo(bytes, 0, Icmpv6Type.ECHO_REQUEST, 7, 1, 4, 0xfd00n << 112n | 100n, 0xfd00n << 112n | 2n);
 * const icmp = new Icmpv6Message().wrap(bytes);
 * const sum = pseudoHeaderSum(0xfd00n << 112n | 100n, 0xfd00n << 112n | 2n, 58, 12);
 * if (icmp.check() !== "ok" || !icmp.verifyChecksum(sum)) throw new Error("bad ICMPv6");
 * ```
 */
export class Icmpv6Message extends ByteView {
  check(): Icmpv6Check {
    return this.length < icmpv6MinLength(this.bytes[this.offset]) ? "truncated" : "ok";
  }

  get type(): number {
    return this.bytes[this.offset + ICMPV6.TYPE];
  }

  get code(): number {
    return this.bytes[this.offset + ICMPV6.CODE];
  }

  get checksum(): number {
    return this.u16(ICMPV6.CHECKSUM);
  }

  /** Echo identifier. */
  get identifier(): number {
    return this.u16(ICMPV6.IDENTIFIER);
  }

  /** Echo sequence number. */
  get sequence(): number {
    return this.u16(ICMPV6.SEQUENCE);
  }

  /** Errors: the MTU of packet too big, the pointer of parameter problem. */
  get restOfHeader(): number {
    return this.u32(ICMPV6.REST_OF_HEADER);
  }

  /** Absolute offset of the data after the 8-byte header (echo data, an error's quote). */
  get dataOffset(): number {
    return this.offset + ICMPV6.DATA;
  }

  get dataLength(): number {
    return this.length - ICMPV6.DATA;
  }

  /** Router Advertisement: Cur Hop Limit. */
  get curHopLimit(): number {
    return this.bytes[this.offset + ICMPV6.CUR_HOP_LIMIT];
  }

  /** Router Advertisement: the M and O flags ({@link RouterFlag}). */
  get routerFlags(): number {
    return this.bytes[this.offset + ICMPV6.ROUTER_FLAGS];
  }

  /** Router Advertisement: Router Lifetime in seconds. */
  get routerLifetime(): number {
    return this.u16(ICMPV6.ROUTER_LIFETIME);
  }

  /** Router Advertisement: Reachable Time in milliseconds. */
  get reachableTime(): number {
    return this.u32(ICMPV6.REACHABLE_TIME);
  }

  /** Router Advertisement: Retrans Timer in milliseconds. */
  get retransTimer(): number {
    return this.u32(ICMPV6.RETRANS_TIMER);
  }

  /** Neighbor Advertisement: the R, S and O flags ({@link NeighborFlag}). */
  get neighborFlags(): number {
    return this.bytes[this.offset + ICMPV6.NEIGHBOR_FLAGS];
  }

  /** Neighbor Solicitation and Advertisement (and Redirect): absolute offset of the target. */
  get targetOffset(): number {
    return this.offset + ICMPV6.TARGET;
  }

  /** Neighbor Solicitation and Advertisement: the target address (allocates a bigint). */
  get target(): bigint {
    return readIpv6(this.bytes, this.offset + ICMPV6.TARGET);
  }

  /** Neighbor Discovery messages: absolute offset of the options (see {@link NdpOptions}). */
  get optionsOffset(): number {
    return this.offset + ndpOptionsStart(this.type);
  }

  /** Neighbor Discovery messages: bytes of options. */
  get optionsLength(): number {
    return this.length - ndpOptionsStart(this.type);
  }

  /** Whether the checksum is right, given the pseudo-header sum for this message's length. */
  verifyChecksum(pseudoSum: number): boolean {
    return finishChecksum(sumBytes(this.bytes, this.offset, this.length, pseudoSum)) === 0;
  }
}

/** The fixed length of an ICMPv6 message of `type` (the options of NDP messages follow it). */
export function icmpv6MinLength(type: number): number {
  switch (type) {
    case Icmpv6Type.ROUTER_ADVERTISEMENT:
      return ROUTER_ADVERTISEMENT_LEN;
    case Icmpv6Type.NEIGHBOR_SOLICITATION:
    case Icmpv6Type.NEIGHBOR_ADVERTISEMENT:
      return NEIGHBOR_MESSAGE_LEN;
    case Icmpv6Type.REDIRECT:
      return REDIRECT_LEN;
    default:
      return ICMPV6_HEADER_LEN;
  }
}

function ndpOptionsStart(type: number): number {
  return type === Icmpv6Type.ROUTER_SOLICITATION ? ROUTER_SOLICITATION_LEN : icmpv6MinLength(type);
}

/** What `NdpOptions.parse()` reports. */
export type NdpOptionsCheck = "ok" | "zero_length" | "truncated";

/**
 * The options of one Neighbor Discovery message, walked once (RFC 4861 §4.6): `parse` checks that
 * every option has a non-zero length inside the message (RFC 4861 §6.1.1, §7.1.1, §7.1.2: a
 * message with a zero-length option is silently discarded) and records the absolute offset of the
 * first option of each kind this stack reads, or -1. Link-layer address options are recorded only
 * with length 1 (an Ethernet MAC, RFC 2464 §6); unknown options are skipped (RFC 4861 §4.6).
 * Reusable: nothing is allocated.
 *
 * @example
 * ```ts
 * import { NdpOptions } from "./icmpv6.ts";
 * const options = new NdpOptions();
 * const bytes = new Uint8Array([1, 1, 2, 0, 0, 0, 0, 1]);
 * if (options.parse(bytes, 0, 8) !== "ok" || options.sourceMacOffset !== 2) throw new Error();
 * ```
 */
export class NdpOptions {
  /** Offset of the MAC in the source link-layer address option, or -1. */
  sourceMacOffset = -1;
  /** Offset of the MAC in the target link-layer address option, or -1. */
  targetMacOffset = -1;
  /** Offset of the first prefix information option (its type byte), or -1. */
  prefixOffset = -1;
  /** Offset of the MTU option (its type byte), or -1. */
  mtuOffset = -1;
  /** Offset of the first RDNSS option (its type byte), or -1. */
  rdnssOffset = -1;
  /** Offset of the nonce option (its type byte, RFC 7527), or -1. */
  nonceOffset = -1;
  /** Number of options walked. */
  count = 0;

  parse(bytes: Uint8Array, offset: number, length: number): NdpOptionsCheck {
    this.sourceMacOffset = -1;
    this.targetMacOffset = -1;
    this.prefixOffset = -1;
    this.mtuOffset = -1;
    this.rdnssOffset = -1;
    this.nonceOffset = -1;
    this.count = 0;
    const end = offset + length;
    if (!(length >= 0) || end > bytes.length) return "truncated";
    let at = offset;
    while (at < end) {
      if (at + 2 > end) return "truncated";
      const type = bytes[at + NDP_OPTION.TYPE];
      const units = bytes[at + NDP_OPTION.LENGTH];
      if (units === 0) return "zero_length";
      const size = units * 8;
      if (at + size > end) return "truncated";
      switch (type) {
        case NdpOption.SOURCE_LINK_LAYER:
          if (units === 1 && this.sourceMacOffset < 0) {
            this.sourceMacOffset = at + NDP_OPTION.LINK_LAYER_ADDRESS;
          }
          break;
        case NdpOption.TARGET_LINK_LAYER:
          if (units === 1 && this.targetMacOffset < 0) {
            this.targetMacOffset = at + NDP_OPTION.LINK_LAYER_ADDRESS;
          }
          break;
        case NdpOption.PREFIX_INFORMATION:
          if (units === 4 && this.prefixOffset < 0) this.prefixOffset = at;
          break;
        case NdpOption.MTU:
          if (units === 1 && this.mtuOffset < 0) this.mtuOffset = at;
          break;
        case NdpOption.RDNSS:
          // RFC 8106 §5.1: the length is 3 or more and odd (1 + 2 per address).
          if (units >= 3 && (units & 1) === 1 && this.rdnssOffset < 0) this.rdnssOffset = at;
          break;
        case NdpOption.NONCE:
          if (this.nonceOffset < 0) this.nonceOffset = at;
          break;
      }
      this.count++;
      at += size;
    }
    return "ok";
  }
}

/** A prefix information option in parsed form (RFC 4861 §4.6.2). */
export interface PrefixInformation {
  prefixLength: number;
  onLink: boolean;
  autonomous: boolean;
  /** Seconds; 0xffffffff is infinity. */
  validLifetime: number;
  preferredLifetime: number;
  prefix: bigint;
}

/** Reads the prefix information option at `offset` (its type byte; found by `NdpOptions`). */
export function parsePrefixOption(bytes: Uint8Array, offset: number): PrefixInformation {
  const flags = bytes[offset + NDP_OPTION.PREFIX_FLAGS];
  return {
    prefixLength: bytes[offset + NDP_OPTION.PREFIX_LENGTH],
    onLink: (flags & PrefixFlag.ON_LINK) !== 0,
    autonomous: (flags & PrefixFlag.AUTONOMOUS) !== 0,
    validLifetime: readU32(bytes, offset + NDP_OPTION.VALID_LIFETIME),
    preferredLifetime: readU32(bytes, offset + NDP_OPTION.PREFERRED_LIFETIME),
    prefix: readIpv6(bytes, offset + NDP_OPTION.PREFIX),
  };
}

/** Reads the MTU option at `offset` (its type byte). */
export function parseMtuOption(bytes: Uint8Array, offset: number): number {
  return readU32(bytes, offset + NDP_OPTION.MTU);
}

/** An RDNSS option in parsed form (RFC 8106 §5.1). */
export interface RecursiveDnsServers {
  /** Seconds; 0xffffffff is infinity, 0 withdraws the servers. */
  lifetime: number;
  servers: bigint[];
}

/** Reads the RDNSS option at `offset` (its type byte; found and length-checked by `NdpOptions`). */
export function parseRdnssOption(bytes: Uint8Array, offset: number): RecursiveDnsServers {
  // Bounded by the bytes there too, so that an unchecked option (a length of 0 would make
  // (0 - 1) >>> 1 two billion) cannot run away; found by the property tests.
  const length = bytes[offset + NDP_OPTION.LENGTH] ?? 0;
  const room = Math.max(0, Math.floor((bytes.length - offset - NDP_OPTION.RDNSS_ADDRESSES) / 16));
  const count = Math.min(length >= 1 ? (length - 1) >>> 1 : 0, room);
  const servers: bigint[] = [];
  for (let i = 0; i < count; i++) {
    servers.push(readIpv6(bytes, offset + NDP_OPTION.RDNSS_ADDRESSES + 16 * i));
  }
  return { lifetime: readU32(bytes, offset + NDP_OPTION.RDNSS_LIFETIME), servers };
}

/**
 * Writes the checksum of the ICMPv6 message at `bytes[offset, offset + length)` from `src` to
 * `dst`; the checksum field is zeroed first.
 */
export function fillIcmpv6Checksum(
  bytes: Uint8Array,
  offset: number,
  length: number,
  src: bigint,
  dst: bigint,
): void {
  writeU16(bytes, offset + ICMPV6.CHECKSUM, 0);
  const sum = pseudoHeaderSum(src, dst, Ipv6NextHeader.ICMPV6, length);
  writeU16(bytes, offset + ICMPV6.CHECKSUM, finishChecksum(sumBytes(bytes, offset, length, sum)));
}

/**
 * Writes an echo request or reply header at `offset`, and the checksum over it and the
 * `dataLength` bytes of data that must already follow it. Returns the message length.
 */
export function emitIcmpv6Echo(
  bytes: Uint8Array,
  offset: number,
  type: number,
  identifier: number,
  sequence: number,
  dataLength: number,
  src: bigint,
  dst: bigint,
): number {
  bytes[offset + ICMPV6.TYPE] = type;
  bytes[offset + ICMPV6.CODE] = 0;
  writeU16(bytes, offset + ICMPV6.IDENTIFIER, identifier);
  writeU16(bytes, offset + ICMPV6.SEQUENCE, sequence);
  const length = ICMPV6_HEADER_LEN + dataLength;
  fillIcmpv6Checksum(bytes, offset, length, src, dst);
  return length;
}

/**
 * How many bytes of an offending packet of `packetLength` bytes (from its IPv6 header on) an
 * ICMPv6 error quotes: "as much of invoking packet as possible without the ICMPv6 packet
 * exceeding the minimum IPv6 MTU" (RFC 4443 §2.4 (c)), i.e. at most {@link ICMPV6_MAX_QUOTE}.
 */
export function icmpv6QuoteLength(packetLength: number): number {
  if (!(packetLength > 0)) return 0;
  return packetLength < ICMPV6_MAX_QUOTE ? packetLength : ICMPV6_MAX_QUOTE;
}

/**
 * Writes an ICMPv6 error message at `offset`: type and code, `restOfHeader` as the second word (0
 * for unreachable and time exceeded, the MTU for packet too big, the offset of the error for
 * parameter problem), then `quoteLength` bytes copied from `packet[packetOffset..]` (see
 * `icmpv6QuoteLength`; `packet` must not overlap the message), then the checksum from `src` to
 * `dst`. Returns the message length; the caller makes sure `8 + quoteLength` bytes fit.
 *
 * @example
 * ```ts
 * import { emitIcmpv6Error, icmpv6QuoteLength, Icmpv6Type, Icmpv6Unreachable } from "./icmpv6.ts";
 * const offending = new Uint8Array(2000);
 * const out = new Uint8Array(1240);
 * const quote = icmpv6QuoteLength(offending.length);
 * const n = emitIcmpv6Error(out, 0, Icmpv6Type.DEST_UNREACHABLE, Icmpv6Unreachable.PORT, 0, offending, 0, quote, 2n, 1n);
 * if (n !== 1240) throw new Error("not 1280 bytes with the IPv6 header");
 * ```
 */
export function emitIcmpv6Error(
  bytes: Uint8Array,
  offset: number,
  type: number,
  code: number,
  restOfHeader: number,
  packet: Uint8Array,
  packetOffset: number,
  quoteLength: number,
  src: bigint,
  dst: bigint,
): number {
  bytes[offset + ICMPV6.TYPE] = type;
  bytes[offset + ICMPV6.CODE] = code;
  writeU32(bytes, offset + ICMPV6.REST_OF_HEADER, restOfHeader);
  copyBytes(bytes, offset + ICMPV6.DATA, packet, packetOffset, quoteLength);
  const length = ICMPV6_HEADER_LEN + quoteLength;
  fillIcmpv6Checksum(bytes, offset, length, src, dst);
  return length;
}

/**
 * Writes a Router Solicitation without options at `offset` (checksum left to
 * `fillIcmpv6Checksum` once options are appended). Returns {@link ROUTER_SOLICITATION_LEN}.
 */
export function emitRouterSolicitation(bytes: Uint8Array, offset: number): number {
  bytes[offset + ICMPV6.TYPE] = Icmpv6Type.ROUTER_SOLICITATION;
  bytes[offset + ICMPV6.CODE] = 0;
  writeU16(bytes, offset + ICMPV6.CHECKSUM, 0);
  writeU32(bytes, offset + 4, 0);
  return ROUTER_SOLICITATION_LEN;
}

/**
 * Writes a Router Advertisement without options at `offset` (RFC 4861 §4.2; checksum left to
 * `fillIcmpv6Checksum`). Returns {@link ROUTER_ADVERTISEMENT_LEN}.
 */
export function emitRouterAdvertisement(
  bytes: Uint8Array,
  offset: number,
  curHopLimit: number,
  flags: number,
  routerLifetime: number,
  reachableTime: number,
  retransTimer: number,
): number {
  bytes[offset + ICMPV6.TYPE] = Icmpv6Type.ROUTER_ADVERTISEMENT;
  bytes[offset + ICMPV6.CODE] = 0;
  writeU16(bytes, offset + ICMPV6.CHECKSUM, 0);
  bytes[offset + ICMPV6.CUR_HOP_LIMIT] = curHopLimit;
  bytes[offset + ICMPV6.ROUTER_FLAGS] = flags;
  writeU16(bytes, offset + ICMPV6.ROUTER_LIFETIME, routerLifetime);
  writeU32(bytes, offset + ICMPV6.REACHABLE_TIME, reachableTime);
  writeU32(bytes, offset + ICMPV6.RETRANS_TIMER, retransTimer);
  return ROUTER_ADVERTISEMENT_LEN;
}

/**
 * Writes a Neighbor Solicitation (`flags` 0) or Advertisement ({@link NeighborFlag} bits) for the
 * target address at `target[targetOffset..]` without options at `offset` (checksum left to
 * `fillIcmpv6Checksum`). Returns {@link NEIGHBOR_MESSAGE_LEN}.
 */
export function emitNeighborMessage(
  bytes: Uint8Array,
  offset: number,
  type: number,
  flags: number,
  target: Uint8Array,
  targetOffset: number,
): number {
  bytes[offset + ICMPV6.TYPE] = type;
  bytes[offset + ICMPV6.CODE] = 0;
  writeU16(bytes, offset + ICMPV6.CHECKSUM, 0);
  writeU32(bytes, offset + ICMPV6.NEIGHBOR_FLAGS, 0);
  bytes[offset + ICMPV6.NEIGHBOR_FLAGS] = flags;
  copyBytes(bytes, offset + ICMPV6.TARGET, target, targetOffset, 16);
  return NEIGHBOR_MESSAGE_LEN;
}

/**
 * Writes a source or target link-layer address option for the MAC at `mac[macOffset..]`
 * (RFC 4861 §4.6.1). Returns {@link LINK_LAYER_OPTION_LEN}.
 */
export function emitLinkLayerOption(
  bytes: Uint8Array,
  offset: number,
  type: number,
  mac: Uint8Array,
  macOffset: number,
): number {
  bytes[offset + NDP_OPTION.TYPE] = type;
  bytes[offset + NDP_OPTION.LENGTH] = 1;
  copyBytes(bytes, offset + NDP_OPTION.LINK_LAYER_ADDRESS, mac, macOffset, 6);
  return LINK_LAYER_OPTION_LEN;
}

/** Writes a prefix information option (RFC 4861 §4.6.2). Returns {@link PREFIX_OPTION_LEN}. */
export function emitPrefixOption(
  bytes: Uint8Array,
  offset: number,
  prefix: bigint,
  prefixLength: number,
  flags: number,
  validLifetime: number,
  preferredLifetime: number,
): number {
  bytes[offset + NDP_OPTION.TYPE] = NdpOption.PREFIX_INFORMATION;
  bytes[offset + NDP_OPTION.LENGTH] = 4;
  bytes[offset + NDP_OPTION.PREFIX_LENGTH] = prefixLength;
  bytes[offset + NDP_OPTION.PREFIX_FLAGS] = flags;
  writeU32(bytes, offset + NDP_OPTION.VALID_LIFETIME, validLifetime);
  writeU32(bytes, offset + NDP_OPTION.PREFERRED_LIFETIME, preferredLifetime);
  writeU32(bytes, offset + 12, 0);
  writeIpv6(bytes, offset + NDP_OPTION.PREFIX, prefix);
  return PREFIX_OPTION_LEN;
}

/** Writes an MTU option (RFC 4861 §4.6.4). Returns {@link MTU_OPTION_LEN}. */
export function emitMtuOption(bytes: Uint8Array, offset: number, mtu: number): number {
  bytes[offset + NDP_OPTION.TYPE] = NdpOption.MTU;
  bytes[offset + NDP_OPTION.LENGTH] = 1;
  writeU16(bytes, offset + 2, 0);
  writeU32(bytes, offset + NDP_OPTION.MTU, mtu);
  return MTU_OPTION_LEN;
}

/**
 * Writes a recursive DNS server option (RFC 8106 §5.1) with `servers` (at least one). Returns its
 * length, 8 + 16 per server.
 */
export function emitRdnssOption(
  bytes: Uint8Array,
  offset: number,
  lifetime: number,
  servers: readonly bigint[],
): number {
  bytes[offset + NDP_OPTION.TYPE] = NdpOption.RDNSS;
  bytes[offset + NDP_OPTION.LENGTH] = 1 + 2 * servers.length;
  writeU16(bytes, offset + 2, 0);
  writeU32(bytes, offset + NDP_OPTION.RDNSS_LIFETIME, lifetime);
  for (let i = 0; i < servers.length; i++) {
    writeIpv6(bytes, offset + NDP_OPTION.RDNSS_ADDRESSES + 16 * i, servers[i]);
  }
  return 8 + 16 * servers.length;
}

/**
 * Whether the 16 bytes at `offset` are the solicited-node multicast address of the address at
 * `target[targetOffset..]`: ff02::1:ff00:0/104 and its low 24 bits (RFC 4291 §2.7.1).
 */
export function isSolicitedNodeOf(
  bytes: Uint8Array,
  offset: number,
  target: Uint8Array,
  targetOffset: number,
): boolean {
  if (readU16(bytes, offset) !== 0xff02) return false;
  for (let i = 2; i < 11; i++) if (bytes[offset + i] !== 0) return false;
  return bytes[offset + 11] === 1 && bytes[offset + 12] === 0xff &&
    bytes[offset + 13] === target[targetOffset + 13] &&
    bytes[offset + 14] === target[targetOffset + 14] &&
    bytes[offset + 15] === target[targetOffset + 15];
}

/** The solicited-node multicast address of `address` (RFC 4291 §2.7.1): ff02::1:ffXX:XXXX. */
export function solicitedNodeAddress(address: bigint): bigint {
  return SOLICITED_NODE_PREFIX | (address & 0xffffffn);
}

/** ff02::1:ff00:0/104. */
const SOLICITED_NODE_PREFIX = 0xff02_0000_0000_0000_0000_0001_ff00_0000n;

/**
 * Writes the Ethernet multicast MAC of the IPv6 multicast address at `address[addressOffset..]`:
 * 33:33 and its last four bytes (RFC 2464 §7).
 */
export function writeMulticastMac(
  mac: Uint8Array,
  macOffset: number,
  address: Uint8Array,
  addressOffset: number,
): void {
  mac[macOffset] = 0x33;
  mac[macOffset + 1] = 0x33;
  copyBytes(mac, macOffset + 2, address, addressOffset + 12, 4);
}
