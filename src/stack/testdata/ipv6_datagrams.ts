/**
 * IPv6 frame builders for stack tests: what a guest on fd00::/64 sends once the dispatcher has
 * handed it on (upper-layer header right behind the fixed header, see the IPv6 contract), built
 * with the wire emitters, and a reader for the IPv6 frames the stack sends back (fragments joined).
 */

import { deriveAddresses } from "../../config.ts";
import { readIpv6 } from "../../wire/address.ts";
import { finishChecksum, pseudoHeaderSum, sumBytes } from "../../wire/checksum.ts";
import { emitEthernetHeader, EtherType } from "../../wire/ethernet.ts";
import { emitIcmpv6Echo, Icmpv6Type } from "../../wire/icmpv6.ts";
import { emitIpv6Header, IPV6_HEADER_LEN, Ipv6NextHeader } from "../../wire/ipv6.ts";
import { emitUdpHeader } from "../../wire/udp.ts";
import { readU16, readU32 } from "../../wire/view.ts";
import { slirpMac } from "../slirp_mac.ts";
import { GUEST_MAC } from "./guest_frames.ts";

/** The default network of slirp4netns with `-6`. */
export const ADDRESSES6 = deriveAddresses(0x0a000200, 24, true);
/** fd00::/64, fd00::2, fd00::3. */
export const V6 = ADDRESSES6.ipv6!;
/** A SLAAC-style guest address in fd00::/64 (from the MAC 0e:d4:18:d9:38:fb). */
export const GUEST_IP6 = V6.prefix | 0x0cd418fffed938fbn;
/** A test host outside the slirp network (2001:db8::/32, documentation). */
export const REMOTE6 = 0x2001_0db8_0001n << 80n | 2n;

/** Wraps an upper-layer `payload` in IPv6 and Ethernet headers. */
export function ipv6Frame(
  payload: Uint8Array,
  nextHeader: number,
  src: bigint,
  dst: bigint,
  dstMac: Uint8Array = slirpMac(ADDRESSES6.gateway),
  srcMac: Uint8Array = GUEST_MAC,
): Uint8Array {
  const frame = new Uint8Array(14 + IPV6_HEADER_LEN + payload.length);
  emitEthernetHeader(frame, 0, dstMac, 0, srcMac, 0, EtherType.IPV6);
  emitIpv6Header(frame, 14, payload.length, nextHeader, 64, src, dst);
  frame.set(payload, 14 + IPV6_HEADER_LEN);
  return frame;
}

/** A UDP datagram over IPv6 with a correct checksum. */
export function udp6Frame(
  src: bigint,
  srcPort: number,
  dst: bigint,
  dstPort: number,
  data: Uint8Array,
): Uint8Array {
  const udp = new Uint8Array(8 + data.length);
  udp.set(data, 8);
  emitUdpHeader(udp, 0, srcPort, dstPort, data.length, src, dst);
  return ipv6Frame(udp, Ipv6NextHeader.UDP, src, dst);
}

/** An ICMPv6 echo request with `dataLength` bytes of patterned data. */
export function echo6RequestFrame(
  dst: bigint,
  dataLength: number,
  identifier = 0x4242,
  sequence = 1,
  src = GUEST_IP6,
): Uint8Array {
  const icmp = new Uint8Array(8 + dataLength);
  for (let i = 0; i < dataLength; i++) icmp[8 + i] = (i * 7 + 3) & 0xff;
  emitIcmpv6Echo(icmp, 0, Icmpv6Type.ECHO_REQUEST, identifier, sequence, dataLength, src, dst);
  return ipv6Frame(icmp, Ipv6NextHeader.ICMPV6, src, dst);
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
