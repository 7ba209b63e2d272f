/**
 * The IPv6 extension-header chain (RFC 8200 §4): hop-by-hop options, routing, fragment and
 * destination options headers, walked from the fixed header to the upper-layer protocol, with
 * limits on how many headers and bytes a guest may put in front of it. Read RFC 8200 §4, RFC 8504
 * §5.3 (limits), RFC 6946 (atomic fragments) and RFC 7112 (the first fragment holds the whole
 * chain) before editing.
 */

import { Ipv6NextHeader } from "./ipv6.ts";
import { ByteView, readU16, readU32 } from "./view.ts";

/** Extension headers before the upper layer (a real chain has one or two; RFC 8200 §4.1 lists 6). */
export const MAX_EXTENSION_HEADERS = 8;
/** Bytes of extension headers before the upper layer (an MLD report's hop-by-hop header has 8). */
export const MAX_EXTENSION_BYTES = 1024;
/** Options other than padding in one options header (Linux: max_{hbh,dst}_opts_number, 8). */
export const MAX_OPTIONS = 8;
/** Consecutive padding bytes allowed (RFC 8504 §5.3: more than 7 is malformed or an attack). */
export const MAX_PADDING = 7;

/*
 * Options headers (hop-by-hop, destination), RFC 8200 §4.3, §4.6; routing header, §4.4:
 *
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Next Header  |  Hdr Ext Len  |  Options / Routing Type, Segments Left, data ...
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *  Hdr Ext Len counts 8-octet units after the first 8 octets.
 *
 * Fragment header, RFC 8200 §4.5:
 *
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                         Identification                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
/** Field offsets of the generic extension header and the routing and fragment headers. */
export const IPV6_EXT = {
  NEXT_HEADER: 0,
  LENGTH: 1,
  OPTIONS: 2,
  ROUTING_TYPE: 2,
  SEGMENTS_LEFT: 3,
  FRAGMENT_OFFSET_FLAGS: 2,
  FRAGMENT_IDENTIFICATION: 4,
} as const;

/** Length of the fragment header. */
export const FRAGMENT_HEADER_LEN = 8;

/** Option types with a fixed meaning here (RFC 8200 §4.2; RFC 2711 router alert). */
export const Ipv6Option = {
  PAD1: 0,
  PADN: 1,
  ROUTER_ALERT: 5,
} as const;

/**
 * What `Ipv6ExtensionHeaders.walk()` reports. `"ok"`: `protocol` and `upperOffset` name the first
 * header that is not hop-by-hop, routing, fragment or destination options (any value, 59 "no next
 * header" included; the caller decides what it handles). `"fragment"`: the walk stopped at a
 * fragment header that is not atomic (see `fragmentOffset`). The others are drop reasons.
 */
export type Ipv6WalkCheck =
  | "ok"
  | "fragment"
  | "truncated"
  | "too_many_headers"
  | "hop_by_hop_not_first"
  | "bad_options"
  | "unrecognized_option"
  | "routing_header";

/**
 * A reusable walk over the extension headers after a fixed IPv6 header. RFC 8200 §4 processing,
 * as a host that is the packet's final destination:
 * - hop-by-hop options only right after the fixed header (§4.3), options checked like destination
 *   options: Pad1, PadN and router alert are understood; any other option is skipped if its two
 *   high-order bits are 00 and the packet discarded otherwise (§4.2, `"unrecognized_option"`);
 *   more than {@link MAX_PADDING} padding bytes in a row, more than {@link MAX_OPTIONS} options,
 *   or an option running past its header is `"bad_options"`;
 * - a routing header with Segments Left 0 is ignored (§4.4); with Segments Left > 0 the packet
 *   would have to be forwarded by us: `"routing_header"`;
 * - an atomic fragment (offset 0, M clear) is skipped (RFC 6946 §4); any other fragment header
 *   stops the walk with `"fragment"`;
 * - at most {@link MAX_EXTENSION_HEADERS} headers and {@link MAX_EXTENSION_BYTES} bytes.
 * Nothing is allocated; never throws.
 *
 * @example
 * ```ts
 * import { Ipv6NextHeader } from "./ipv6.ts";
 * import { Ipv6ExtensionHeaders } from "./ipv6_ext.ts";
 * // A hop-by-hop header with a router alert, then ICMPv6 (MLD).
 * const bytes = new Uint8Array([58, 0, 5, 2, 0, 0, 1, 0, 143, 0, 0, 0]);
 * const walk = new Ipv6ExtensionHeaders();
 * if (walk.walk(bytes, 0, bytes.length, Ipv6NextHeader.HOP_BY_HOP) !== "ok") throw new Error();
 * if (walk.protocol !== 58 || walk.upperOffset !== 8) throw new Error();
 * ```
 */
export class Ipv6ExtensionHeaders {
  /** The upper-layer protocol (`"ok"`), or 44 (`"fragment"`). */
  protocol = 0;
  /** Absolute offset of the upper-layer header (`"ok"`) or of the fragment header (`"fragment"`). */
  upperOffset = 0;
  /** Extension headers walked (atomic fragment headers included). */
  count = 0;
  /** Whether an atomic fragment header was skipped (RFC 6946). */
  atomicFragment = false;
  /** Absolute offset of the header being looked at when a drop reason was returned. */
  errorOffset = 0;

  /**
   * Walks from `start` (right after the fixed header, whose Next Header is `nextHeader`) to at
   * most `end` (the end of the IPv6 payload). `first` false walks a chain that does not begin at
   * the fixed header (the fragmentable part of a reassembled datagram), where hop-by-hop is never
   * allowed.
   */
  walk(
    bytes: Uint8Array,
    start: number,
    end: number,
    nextHeader: number,
    first = true,
  ): Ipv6WalkCheck {
    this.count = 0;
    this.atomicFragment = false;
    let at = start;
    let header = nextHeader;
    if (!(start >= 0) || end > bytes.length || start > end) {
      this.errorOffset = start;
      return "truncated";
    }
    for (;;) {
      this.protocol = header;
      this.upperOffset = at;
      this.errorOffset = at;
      let length: number;
      switch (header) {
        case Ipv6NextHeader.HOP_BY_HOP:
        case Ipv6NextHeader.DESTINATION_OPTIONS:
        case Ipv6NextHeader.ROUTING:
          if (at + 8 > end) return "truncated";
          length = (bytes[at + IPV6_EXT.LENGTH] + 1) * 8;
          break;
        case Ipv6NextHeader.FRAGMENT:
          length = FRAGMENT_HEADER_LEN;
          break;
        default:
          return "ok";
      }
      if (at + length > end) return "truncated";
      if (this.count >= MAX_EXTENSION_HEADERS) return "too_many_headers";
      if (at + length - start > MAX_EXTENSION_BYTES) return "too_many_headers";
      switch (header) {
        case Ipv6NextHeader.HOP_BY_HOP:
        case Ipv6NextHeader.DESTINATION_OPTIONS: {
          // RFC 8200 §4.1: "The Hop-by-Hop Options header, when present, must immediately follow
          // the IPv6 header."
          if (header === Ipv6NextHeader.HOP_BY_HOP && (!first || at !== start)) {
            return "hop_by_hop_not_first";
          }
          const check = checkOptions(bytes, at + IPV6_EXT.OPTIONS, at + length);
          if (check !== "ok") return check;
          break;
        }
        case Ipv6NextHeader.ROUTING:
          // RFC 8200 §4.4: with Segments Left zero the node "must ignore the Routing header and
          // proceed to process the next header"; otherwise it is an intermediate hop.
          if (bytes[at + IPV6_EXT.SEGMENTS_LEFT] !== 0) return "routing_header";
          break;
        case Ipv6NextHeader.FRAGMENT:
          if (readU16(bytes, at + IPV6_EXT.FRAGMENT_OFFSET_FLAGS) & 0xfff9) return "fragment";
          this.atomicFragment = true;
          break;
      }
      this.count++;
      header = bytes[at + IPV6_EXT.NEXT_HEADER];
      at += length;
    }
  }
}

/** Checks the option TLVs of an options header in `[at, end)` (RFC 8200 §4.2). */
function checkOptions(bytes: Uint8Array, at: number, end: number): Ipv6WalkCheck {
  let padding = 0;
  let options = 0;
  while (at < end) {
    const type = bytes[at];
    if (type === Ipv6Option.PAD1) {
      if (++padding > MAX_PADDING) return "bad_options";
      at++;
      continue;
    }
    if (at + 2 > end) return "bad_options";
    const size = 2 + bytes[at + 1];
    if (at + size > end) return "bad_options";
    if (type === Ipv6Option.PADN) {
      padding += size;
      if (padding > MAX_PADDING) return "bad_options";
    } else {
      padding = 0;
      if (++options > MAX_OPTIONS) return "bad_options";
      // RFC 8200 §4.2: the two high-order bits of an unrecognized type: 00 skip, else discard.
      if (type !== Ipv6Option.ROUTER_ALERT && (type & 0xc0) !== 0) return "unrecognized_option";
    }
    at += size;
  }
  return "ok";
}

/**
 * A view of a fragment header (RFC 8200 §4.5), wrapped over its 8 bytes (`upperOffset` after a
 * walk reported `"fragment"`). Accessors are safe after `check()` returned `"ok"`.
 *
 * @example
 * ```ts
 * import { FragmentHeader } from "./ipv6_ext.ts";
 * const header = new FragmentHeader().wrap(new Uint8Array([17, 0, 0x05, 0x01, 0, 0, 0, 9]));
 * if (header.fragmentOffset !== 0x500 || !header.moreFragments || header.identification !== 9) {
 *   throw new Error("bad fragment header");
 * }
 * ```
 */
export class FragmentHeader extends ByteView {
  check(): "ok" | "truncated" {
    return this.length < FRAGMENT_HEADER_LEN ? "truncated" : "ok";
  }

  /** The first header of the fragmentable part (the original packet's upper layer, usually). */
  get nextHeader(): number {
    return this.bytes[this.offset + IPV6_EXT.NEXT_HEADER];
  }

  /** Offset of this fragment's data in the fragmentable part, in bytes. */
  get fragmentOffset(): number {
    return this.u16(IPV6_EXT.FRAGMENT_OFFSET_FLAGS) & 0xfff8;
  }

  /** The M flag: more fragments follow. */
  get moreFragments(): boolean {
    return (this.bytes[this.offset + 3] & 1) === 1;
  }

  get identification(): number {
    return readU32(this.bytes, this.offset + IPV6_EXT.FRAGMENT_IDENTIFICATION);
  }
}
