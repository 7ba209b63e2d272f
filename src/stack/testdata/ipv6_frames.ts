/**
 * Frame builders for IPv6 stack tests: what a guest on fd00::/64 sends (echo, NDP, fragments, UDP),
 * built with the wire emitters, and a reader for the IPv6 frames the stack sends back (fragments
 * joined).
 */

import { deriveAddresses, type Ipv6Addresses } from "../../config.ts";
import { readIpv6, writeIpv6 } from "../../wire/address.ts";
import { finishChecksum, pseudoHeaderSum, sumBytes } from "../../wire/checksum.ts";
import { emitEthernetHeader, EtherType } from "../../wire/ethernet.ts";
import {
  emitIcmpv6Echo,
  emitLinkLayerOption,
  emitNeighborMessage,
  emitRouterSolicitation,
  fillIcmpv6Checksum,
  Icmpv6Type,
  NdpOption,
  solicitedNodeAddress,
  writeMulticastMac,
} from "../../wire/icmpv6.ts";
import { emitIpv6Header, IPV6_HEADER_LEN, Ipv6NextHeader } from "../../wire/ipv6.ts";
import { readU16, readU32 } from "../../wire/view.ts";
import { GUEST_LINK_LOCAL } from "../../wire/testdata/ipv6_captured.ts";
import { GATEWAY_MAC, GUEST_MAC } from "./guest_frames.ts";

/** The default network with IPv6 on (`-6`). */
export const ADDRESSES6 = deriveAddresses(0x0a000200, 24, true);
export const V6: Ipv6Addresses = ADDRESSES6.ipv6!;
/** The SLAAC address of the guest MAC 0e:d4:18:d9:38:fb in fd00::/64 (RFC 4862, EUI-64). */
export const GUEST6 = 0xfd00_0000_0000_0000_0cd4_18ff_fed9_38fbn;
export { GUEST_LINK_LOCAL };
/** A test host outside the slirp network (2001:db8::/32, documentation). */
export const REMOTE6 = 0x2001_0db8_0001n << 80n | 2n;
export const ALL_NODES = 0xff02_0000_0000_0000_0000_0000_0000_0001n;
export const ALL_ROUTERS = 0xff02_0000_0000_0000_0000_0000_0000_0002n;

/** The Ethernet multicast MAC of an IPv6 multicast address (RFC 2464 §7). */
export function multicastMac(address: bigint): Uint8Array {
  const bytes = new Uint8Array(16);
  writeIpv6(bytes, 0, address);
  const mac = new Uint8Array(6);
  writeMulticastMac(mac, 0, bytes, 0);
  return mac;
}

/** An IPv6 packet in a frame: `payload` (extension headers included) behind the fixed header. */
export function ipv6Frame(
  payload: Uint8Array,
  nextHeader: number,
  src: bigint,
  dst: bigint,
  options: { hopLimit?: number; dstMac?: Uint8Array; srcMac?: Uint8Array } = {},
): Uint8Array {
  const frame = new Uint8Array(54 + payload.length);
  frame.set(payload, 54);
  const dstMac = options.dstMac ?? ((dst >> 120n) === 0xffn ? multicastMac(dst) : GATEWAY_MAC);
  emitEthernetHeader(frame, 0, dstMac, 0, options.srcMac ?? GUEST_MAC, 0, EtherType.IPV6);
  emitIpv6Header(frame, 14, payload.length, nextHeader, options.hopLimit ?? 64, src, dst);
  return frame;
}

/** An ICMPv6 echo request with `dataLength` bytes of patterned data. */
export function echo6Frame(
  dst: bigint,
  dataLength: number,
  options: { src?: bigint; identifier?: number; sequence?: number; hopLimit?: number } = {},
): Uint8Array {
  const src = options.src ?? GUEST6;
  const icmp = new Uint8Array(8 + dataLength);
  for (let i = 0; i < dataLength; i++) icmp[8 + i] = (i * 7 + 3) & 0xff;
  emitIcmpv6Echo(
    icmp,
    0,
    Icmpv6Type.ECHO_REQUEST,
    options.identifier ?? 0x4242,
    options.sequence ?? 1,
    dataLength,
    src,
    dst,
  );
  return ipv6Frame(icmp, Ipv6NextHeader.ICMPV6, src, dst, { hopLimit: options.hopLimit });
}

/** A neighbour solicitation for `target`: from the guest's address (with its MAC) or from ::. */
export function neighborSolicitationFrame(
  target: bigint,
  options: { src?: bigint; dst?: bigint; sourceMac?: boolean; hopLimit?: number } = {},
): Uint8Array {
  const src = options.src ?? GUEST6;
  const dst = options.dst ?? solicitedNodeAddress(target);
  const withMac = options.sourceMac ?? src !== 0n;
  const icmp = new Uint8Array(24 + (withMac ? 8 : 0));
  const targetBytes = new Uint8Array(16);
  writeIpv6(targetBytes, 0, target);
  let length = emitNeighborMessage(icmp, 0, Icmpv6Type.NEIGHBOR_SOLICITATION, 0, targetBytes, 0);
  if (withMac) {
    length += emitLinkLayerOption(icmp, length, NdpOption.SOURCE_LINK_LAYER, GUEST_MAC, 0);
  }
  fillIcmpv6Checksum(icmp, 0, length, src, dst);
  return ipv6Frame(icmp, Ipv6NextHeader.ICMPV6, src, dst, { hopLimit: options.hopLimit ?? 255 });
}

/** A neighbour advertisement from the guest for `target` (its own address) with its MAC. */
export function neighborAdvertisementFrame(
  target: bigint,
  dst: bigint,
  flags: number,
  options: { src?: bigint; mac?: Uint8Array } = {},
): Uint8Array {
  const src = options.src ?? target;
  const icmp = new Uint8Array(32);
  const targetBytes = new Uint8Array(16);
  writeIpv6(targetBytes, 0, target);
  let length = emitNeighborMessage(
    icmp,
    0,
    Icmpv6Type.NEIGHBOR_ADVERTISEMENT,
    flags,
    targetBytes,
    0,
  );
  length += emitLinkLayerOption(
    icmp,
    length,
    NdpOption.TARGET_LINK_LAYER,
    options.mac ?? GUEST_MAC,
    0,
  );
  fillIcmpv6Checksum(icmp, 0, length, src, dst);
  return ipv6Frame(icmp, Ipv6NextHeader.ICMPV6, src, dst, { hopLimit: 255 });
}

/** A router solicitation to ff02::2, with the source link-layer option unless from ::. */
export function routerSolicitationFrame(src: bigint = GUEST_LINK_LOCAL): Uint8Array {
  const icmp = new Uint8Array(src === 0n ? 8 : 16);
  let length = emitRouterSolicitation(icmp, 0);
  if (src !== 0n) {
    length += emitLinkLayerOption(icmp, length, NdpOption.SOURCE_LINK_LAYER, GUEST_MAC, 0);
  }
  fillIcmpv6Checksum(icmp, 0, length, src, ALL_ROUTERS);
  return ipv6Frame(icmp, Ipv6NextHeader.ICMPV6, src, ALL_ROUTERS, { hopLimit: 255 });
}

/**
 * One fragment of the IPv6 packet `frame` (Ethernet + fixed header, no extension headers): bytes
 * [offset, offset + length) of its payload behind a Fragment header, with `unfragmentable` bytes
 * of extension headers (their first byte's Next Header is patched to 44) before it.
 */
export function fragment6Of(
  frame: Uint8Array,
  offset: number,
  length: number,
  more: boolean,
  options: { id?: number; unfragmentable?: Uint8Array; unfragmentableType?: number } = {},
): Uint8Array {
  const ext = options.unfragmentable ?? new Uint8Array(0);
  const out = new Uint8Array(54 + ext.length + 8 + length);
  out.set(frame.subarray(0, 54));
  out.set(ext, 54);
  if (ext.length > 0) {
    out[20] = options.unfragmentableType ?? Ipv6NextHeader.DESTINATION_OPTIONS;
    out[54] = Ipv6NextHeader.FRAGMENT;
  } else {
    out[20] = Ipv6NextHeader.FRAGMENT;
  }
  const payloadLength = ext.length + 8 + length;
  out[18] = payloadLength >> 8;
  out[19] = payloadLength & 0xff;
  const at = 54 + ext.length;
  out[at] = frame[20];
  out[at + 1] = 0;
  const word = offset | (more ? 1 : 0);
  out[at + 2] = word >> 8;
  out[at + 3] = word & 0xff;
  const id = options.id ?? 0x01020304;
  out[at + 4] = id >>> 24;
  out[at + 5] = (id >>> 16) & 0xff;
  out[at + 6] = (id >>> 8) & 0xff;
  out[at + 7] = id & 0xff;
  out.set(frame.subarray(54 + offset, 54 + offset + length), at + 8);
  return out;
}

/** Cuts the payload of the IPv6 packet `frame` into fragments of `size` bytes (a multiple of 8). */
export function fragment6(
  frame: Uint8Array,
  size: number,
  options: { id?: number; unfragmentable?: Uint8Array } = {},
): Uint8Array[] {
  const payload = frame.length - 54;
  const out: Uint8Array[] = [];
  for (let offset = 0; offset < payload; offset += size) {
    const length = Math.min(size, payload - offset);
    out.push(fragment6Of(frame, offset, length, offset + length < payload, options));
  }
  return out;
}

/**
 * A UDP datagram over IPv6 with a correct checksum, behind the extension headers `ext` (whose
 * chain must end in 17; the fixed header's Next Header is `extType`).
 */
export function udp6Frame(
  src: bigint,
  dst: bigint,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
  options: { ext?: Uint8Array; extType?: number } = {},
): Uint8Array {
  const ext = options.ext ?? new Uint8Array(0);
  const udpLength = 8 + payload.length;
  const body = new Uint8Array(ext.length + udpLength);
  body.set(ext);
  const at = ext.length;
  body[at] = srcPort >> 8;
  body[at + 1] = srcPort & 0xff;
  body[at + 2] = dstPort >> 8;
  body[at + 3] = dstPort & 0xff;
  body[at + 4] = udpLength >> 8;
  body[at + 5] = udpLength & 0xff;
  body.set(payload, at + 8);
  const sum = finishChecksum(
    sumBytes(body, at, udpLength, pseudoHeaderSum(src, dst, Ipv6NextHeader.UDP, udpLength)),
  ) || 0xffff;
  body[at + 6] = sum >> 8;
  body[at + 7] = sum & 0xff;
  return ipv6Frame(
    body,
    ext.length > 0 ? options.extType ?? Ipv6NextHeader.DESTINATION_OPTIONS : Ipv6NextHeader.UDP,
    src,
    dst,
  );
}

/** An IPv6 packet the stack sent, its fragments (RFC 8200 §4.5) joined. */
export interface Ipv6Sent {
  dstMac: Uint8Array;
  srcMac: Uint8Array;
  src: bigint;
  dst: bigint;
  /** The upper layer's next header (behind any fragment header). */
  nextHeader: number;
  hopLimit: number;
  /** The upper-layer message. */
  payload: Uint8Array;
  /** Frames it came in (1 when not fragmented). */
  frames: number;
  /** Whether the upper-layer checksum (UDP at 6, ICMPv6 at 2) is right with the pseudo-header. */
  checksumOk: boolean;
}

/** Reads the IPv6 packet in `frames` (one frame, or the fragments of one packet in order). */
export function readIpv6Sent(frames: Uint8Array[]): Ipv6Sent {
  const first = frames[0];
  if (readU16(first, 12) !== EtherType.IPV6) throw new Error("not IPv6");
  const src = readIpv6(first, 14 + 8);
  const dst = readIpv6(first, 14 + 24);
  let nextHeader = first[14 + 6];
  let payload: Uint8Array;
  if (nextHeader === Ipv6NextHeader.FRAGMENT) {
    nextHeader = first[14 + IPV6_HEADER_LEN];
    const parts: Uint8Array[] = [];
    let ident = -1;
    for (const frame of frames) {
      const at = 14 + IPV6_HEADER_LEN;
      if (ident >= 0 && readU32(frame, at + 4) !== ident) throw new Error("two packets");
      ident = readU32(frame, at + 4);
      const end = 14 + IPV6_HEADER_LEN + readU16(frame, 14 + 4);
      parts.push(frame.slice(at + 8, end));
    }
    payload = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      payload.set(part, offset);
      offset += part.length;
    }
  } else {
    if (frames.length !== 1) throw new Error("several unfragmented frames");
    payload = first.slice(14 + IPV6_HEADER_LEN, 14 + IPV6_HEADER_LEN + readU16(first, 14 + 4));
  }
  const sum = pseudoHeaderSum(src, dst, nextHeader, payload.length);
  return {
    dstMac: first.slice(0, 6),
    srcMac: first.slice(6, 12),
    src,
    dst,
    nextHeader,
    hopLimit: first[14 + 7],
    payload,
    frames: frames.length,
    checksumOk: finishChecksum(sumBytes(payload, 0, payload.length, sum)) === 0,
  };
}
