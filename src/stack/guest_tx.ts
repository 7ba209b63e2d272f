/**
 * Building frames for the guest in one preallocated scratch buffer, and handing them to the
 * `GuestLink`: Ethernet padding to 60 bytes (libslirp 4.8 "eth: pad ethernet frames to 60
 * bytes"), the MTU limit, and the IPv4 or IPv6 header of replies from the emulated hosts.
 *
 * Datagrams larger than the MTU (a 4000-byte ping reply, a large UDP datagram or DNS answer at
 * MTU 1500) are fragmented, never dropped: the scratch buffer holds a whole 64 KiB datagram and
 * is cut into MTU-sized fragments of a multiple of 8 bytes, sent in order. IPv4 as RFC 791 §3.2
 * (libslirp's `ip_output` does the same); IPv6 with a Fragment header, we being the source
 * (RFC 8200 §4.5). Read those sections before editing.
 */

import type { Addresses } from "../config.ts";
import {
  emitEthernetHeader,
  ETHERNET_HEADER_LEN,
  ETHERNET_MIN_FRAME_LEN,
  EtherType,
} from "../wire/ethernet.ts";
import { emitIpv4Header, IpProtocol, IPV4, IPV4_HEADER_LEN, Ipv4Flag } from "../wire/ipv4.ts";
import { emitIpv6Header, IPV6, IPV6_HEADER_LEN, Ipv6NextHeader } from "../wire/ipv6.ts";
import type { IpAddress } from "../wire/address.ts";
import { internetChecksum } from "../wire/checksum.ts";
import { writeU16, writeU32 } from "../wire/view.ts";
import { C, type Counters } from "./counters.ts";
import { type GuestLink, hasTcpOffload, type TcpOffloadLink } from "./guest_link.ts";
import { slirpMac } from "./slirp_mac.ts";

/** Where the IPv4 payload of a frame built by `GuestTx.sendIpv4` starts in the scratch buffer. */
export const IPV4_PAYLOAD_OFFSET = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN;
/** Largest IPv4 payload behind a 20-byte header: 65535 − 20. */
export const IPV4_MAX_PAYLOAD = 65535 - IPV4_HEADER_LEN;
/** Where the IPv6 payload of a frame built by `GuestTx.sendIpv6` starts in the scratch buffer. */
export const IPV6_PAYLOAD_OFFSET = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN;
/** Largest IPv6 payload (the 16-bit Payload Length field; no jumbograms). */
export const IPV6_MAX_PAYLOAD = 65535;
/** Length of the IPv6 Fragment header (RFC 8200 §4.5). */
const FRAGMENT_HEADER_LEN = 8;

/** Where the payload of a datagram from or to `address` starts in the scratch buffer. */
export function payloadOffsetOf(address: IpAddress): number {
  return typeof address === "bigint" ? IPV6_PAYLOAD_OFFSET : IPV4_PAYLOAD_OFFSET;
}

/**
 * The transmit side towards the guest. Responders write their reply into `frame` (for IPv4, the
 * payload at `IPV4_PAYLOAD_OFFSET`), then call `send` or `sendIpv4`. Nothing is allocated per
 * frame except the `subarray` view handed to the link.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { Counters } from "./counters.ts";
 * import { GuestTx } from "./guest_tx.ts";
 * import { MemoryLink } from "./memory_link.ts";
 * const link = new MemoryLink();
 * const tx = new GuestTx(link, 1500, deriveAddresses(0x0a000200, 24), new Counters());
 * tx.send(42);
 * if (link.take()[0].length !== 60) throw new Error("not padded");
 * ```
 */
export class GuestTx {
  /**
   * The scratch buffer: one frame of up to MTU + 14 bytes for `send`, or one IPv4 or IPv6
   * datagram of up to 64 KiB behind its Ethernet header for `sendIpv4`/`sendIpv6`.
   */
  readonly frame: Uint8Array;
  /** Largest frame the guest accepts: MTU + 14. */
  readonly maxFrameLength: number;
  /** Largest IPv4 payload with a 20-byte header that needs no fragmentation: MTU − 20. */
  readonly maxIpv4Payload: number;
  /** Largest IPv6 payload that needs no fragmentation: MTU − 40. */
  readonly maxIpv6Payload: number;
  /** Payload bytes per fragment: MTU − 20, rounded down to a multiple of 8. */
  readonly #fragmentPayload: number;
  /** Payload bytes per IPv6 fragment: MTU − 40 − 8, rounded down to a multiple of 8. */
  readonly #fragment6Payload: number;
  /** Where fragments are built. */
  readonly #fragment: Uint8Array;
  readonly #link: GuestLink;
  readonly #offload: TcpOffloadLink | null;
  readonly #dns: number;
  readonly #dns6: bigint;
  readonly #gatewayMac: Uint8Array;
  readonly #dnsMac: Uint8Array;
  readonly #counters: Counters;
  #identification = 0;
  #identification6 = 0;

  constructor(link: GuestLink, mtu: number, addresses: Addresses, counters: Counters) {
    this.#link = link;
    this.#offload = hasTcpOffload(link) ? link : null;
    this.#dns = addresses.dns;
    this.#dns6 = addresses.ipv6?.dns ?? -1n;
    this.#gatewayMac = slirpMac(addresses.gateway);
    this.#dnsMac = slirpMac(addresses.dns);
    this.#counters = counters;
    this.maxFrameLength = mtu + ETHERNET_HEADER_LEN;
    this.maxIpv4Payload = mtu - IPV4_HEADER_LEN;
    this.#fragmentPayload = this.maxIpv4Payload & ~7;
    this.maxIpv6Payload = mtu - IPV6_HEADER_LEN;
    this.#fragment6Payload = (this.maxIpv6Payload - FRAGMENT_HEADER_LEN) & ~7;
    this.frame = new Uint8Array(IPV6_PAYLOAD_OFFSET + IPV6_MAX_PAYLOAD);
    this.#fragment = new Uint8Array(Math.max(this.maxFrameLength, ETHERNET_MIN_FRAME_LEN));
  }

  /**
   * Sends `frame[0, length)`, zero-padded to 60 bytes. Frames above MTU + 14 are dropped and
   * counted (`tx.exceeds_mtu`); returns whether the frame was sent.
   */
  send(length: number): boolean {
    if (length > this.maxFrameLength) {
      this.#counters.bump(C["tx.exceeds_mtu"]);
      return false;
    }
    this.#transmit(this.frame, length);
    return true;
  }

  #transmit(frame: Uint8Array, length: number): void {
    if (length < ETHERNET_MIN_FRAME_LEN) {
      frame.fill(0, length, ETHERNET_MIN_FRAME_LEN);
      length = ETHERNET_MIN_FRAME_LEN;
    }
    this.#link.sendFrame(frame.subarray(0, length));
    this.#counters.bump(C["tx.frame"]);
  }

  /**
   * Completes and sends an IPv4 datagram whose `payloadLength`-byte payload is already at
   * `IPV4_PAYLOAD_OFFSET`: a 20-byte header from `src` to `dst`, and an Ethernet header to the
   * MAC at `dstMac[dstMacOffset..]` (which must not be the scratch buffer). The source MAC is the
   * emulated MAC of the DNS address for replies from it, and the gateway's for everything else
   * (the gateway routes all other traffic). A payload above `maxIpv4Payload` (up to
   * {@link IPV4_MAX_PAYLOAD}) goes out in fragments (`tx.fragmented`, one `tx.fragment` each).
   */
  sendIpv4(
    dstMac: Uint8Array,
    dstMacOffset: number,
    src: number,
    dst: number,
    protocol: number,
    ttl: number,
    tos: number,
    payloadLength: number,
  ): boolean {
    if (payloadLength > IPV4_MAX_PAYLOAD || payloadLength < 0) {
      this.#counters.bump(C["tx.exceeds_mtu"]);
      return false;
    }
    this.#emitHeaders(dstMac, dstMacOffset, src, dst, protocol, ttl, tos, payloadLength);
    if (payloadLength <= this.maxIpv4Payload) return this.send(IPV4_PAYLOAD_OFFSET + payloadLength);
    this.#sendFragments(payloadLength);
    return true;
  }

  /**
   * Completes and sends an IPv6 packet whose `payloadLength`-byte payload (starting with the
   * `nextHeader` header) is already at `IPV6_PAYLOAD_OFFSET`, like `sendIpv4`. A payload above
   * `maxIpv6Payload` (up to {@link IPV6_MAX_PAYLOAD}) goes out in fragments (RFC 8200 §4.5).
   */
  sendIpv6(
    dstMac: Uint8Array,
    dstMacOffset: number,
    src: bigint,
    dst: bigint,
    nextHeader: number,
    hopLimit: number,
    trafficClass: number,
    payloadLength: number,
  ): boolean {
    if (payloadLength > IPV6_MAX_PAYLOAD || payloadLength < 0) {
      this.#counters.bump(C["tx.exceeds_mtu"]);
      return false;
    }
    this.#emitHeaders6(
      dstMac,
      dstMacOffset,
      src,
      dst,
      nextHeader,
      hopLimit,
      trafficClass,
      payloadLength,
    );
    if (payloadLength <= this.maxIpv6Payload) return this.send(IPV6_PAYLOAD_OFFSET + payloadLength);
    if (this.#fragment6Payload <= 0) {
      this.#counters.bump(C["tx.exceeds_mtu"]);
      return false;
    }
    this.#sendFragments6(nextHeader, payloadLength);
    return true;
  }

  /**
   * `sendIpv4` or `sendIpv6`, by the family of `src` (and `dst`): the payload is at
   * `payloadOffsetOf(src)`; `ttl` is the hop limit, `tos` the traffic class for IPv6.
   */
  sendIp(
    dstMac: Uint8Array,
    dstMacOffset: number,
    src: IpAddress,
    dst: IpAddress,
    protocol: number,
    ttl: number,
    tos: number,
    payloadLength: number,
  ): boolean {
    return typeof src === "bigint"
      ? this.sendIpv6(dstMac, dstMacOffset, src, dst as bigint, protocol, ttl, tos, payloadLength)
      : this.sendIpv4(dstMac, dstMacOffset, src, dst as number, protocol, ttl, tos, payloadLength);
  }

  /** Whether the link takes offloaded TCP frames (`sendTcpOffloaded`). */
  get tcpOffload(): boolean {
    return this.#offload !== null;
  }

  /**
   * Like `sendIp` for a TCP segment at `payloadOffsetOf(src)` whose checksum field holds the
   * folded pseudo-header sum, on a link with `tcpOffload`: the guest's kernel finishes the
   * checksum, and cuts a segment with more than `segmentSize` data bytes (up to
   * {@link IPV4_MAX_PAYLOAD} in all) into segments of that size.
   */
  sendTcpOffloaded(
    dstMac: Uint8Array,
    src: IpAddress,
    dst: IpAddress,
    ttl: number,
    tcpLength: number,
    dataLength: number,
    segmentSize: number,
  ): void {
    let tcpOffset: number;
    if (typeof src === "bigint") {
      this.#emitHeaders6(dstMac, 0, src, dst as bigint, IpProtocol.TCP, ttl, 0, tcpLength);
      tcpOffset = IPV6_PAYLOAD_OFFSET;
    } else {
      this.#emitHeaders(dstMac, 0, src, dst as number, IpProtocol.TCP, ttl, 0, tcpLength);
      tcpOffset = IPV4_PAYLOAD_OFFSET;
    }
    const frame = this.frame.subarray(0, tcpOffset + tcpLength);
    this.#offload!.sendTcpFrame(frame, tcpOffset, dataLength > segmentSize ? segmentSize : 0);
    this.#counters.bump(C["tx.frame"]);
  }

  /** Ethernet and IPv4 headers in the scratch buffer, before a payload already in place. */
  #emitHeaders(
    dstMac: Uint8Array,
    dstMacOffset: number,
    src: number,
    dst: number,
    protocol: number,
    ttl: number,
    tos: number,
    payloadLength: number,
  ): void {
    const frame = this.frame;
    const srcMac = src === this.#dns ? this.#dnsMac : this.#gatewayMac;
    emitEthernetHeader(frame, 0, dstMac, dstMacOffset, srcMac, 0, EtherType.IPV4);
    this.#identification = (this.#identification + 1) & 0xffff;
    emitIpv4Header(
      frame,
      ETHERNET_HEADER_LEN,
      IPV4_HEADER_LEN + payloadLength,
      this.#identification,
      false,
      ttl,
      protocol,
      src,
      dst,
      tos,
    );
  }

  /** Ethernet and IPv6 headers in the scratch buffer, before a payload already in place. */
  #emitHeaders6(
    dstMac: Uint8Array,
    dstMacOffset: number,
    src: bigint,
    dst: bigint,
    nextHeader: number,
    hopLimit: number,
    trafficClass: number,
    payloadLength: number,
  ): void {
    const frame = this.frame;
    const srcMac = src === this.#dns6 ? this.#dnsMac : this.#gatewayMac;
    emitEthernetHeader(frame, 0, dstMac, dstMacOffset, srcMac, 0, EtherType.IPV6);
    emitIpv6Header(
      frame,
      ETHERNET_HEADER_LEN,
      payloadLength,
      nextHeader,
      hopLimit,
      src,
      dst,
      trafficClass,
    );
  }

  /**
   * Cuts the IPv6 packet in the scratch buffer (fixed header, then the `nextHeader` payload) into
   * fragments: each is the fixed header (next header 44), a Fragment header and a multiple of 8
   * payload bytes, the last one excepted (RFC 8200 §4.5).
   */
  #sendFragments6(nextHeader: number, payloadLength: number): void {
    const whole = this.frame;
    const out = this.#fragment;
    const step = this.#fragment6Payload;
    const ip = ETHERNET_HEADER_LEN;
    const fragmentHeader = IPV6_PAYLOAD_OFFSET;
    const data = fragmentHeader + FRAGMENT_HEADER_LEN;
    this.#identification6 = (this.#identification6 + 1) >>> 0;
    this.#counters.bump(C["tx.fragmented"]);
    for (let offset = 0; offset < payloadLength; offset += step) {
      const length = Math.min(step, payloadLength - offset);
      const more = offset + length < payloadLength;
      out.set(whole.subarray(0, IPV6_PAYLOAD_OFFSET), 0);
      out[ip + IPV6.NEXT_HEADER] = Ipv6NextHeader.FRAGMENT;
      writeU16(out, ip + IPV6.PAYLOAD_LENGTH, FRAGMENT_HEADER_LEN + length);
      // Next Header, Reserved, Fragment Offset (13 bits) | Res (2) | M, Identification.
      out[fragmentHeader] = nextHeader;
      out[fragmentHeader + 1] = 0;
      writeU16(out, fragmentHeader + 2, offset | (more ? 1 : 0));
      writeU32(out, fragmentHeader + 4, this.#identification6);
      out.set(
        whole.subarray(IPV6_PAYLOAD_OFFSET + offset, IPV6_PAYLOAD_OFFSET + offset + length),
        data,
      );
      this.#counters.bump(C["tx.fragment"]);
      this.#transmit(out, data + length);
    }
  }

  /** Cuts the datagram in the scratch buffer (20-byte header, no DF) into fragments. */
  #sendFragments(payloadLength: number): void {
    const whole = this.frame;
    const out = this.#fragment;
    const step = this.#fragmentPayload;
    const ip = ETHERNET_HEADER_LEN;
    this.#counters.bump(C["tx.fragmented"]);
    for (let offset = 0; offset < payloadLength; offset += step) {
      const length = Math.min(step, payloadLength - offset);
      const more = offset + length < payloadLength;
      out.set(whole.subarray(0, IPV4_PAYLOAD_OFFSET), 0);
      out.set(
        whole.subarray(IPV4_PAYLOAD_OFFSET + offset, IPV4_PAYLOAD_OFFSET + offset + length),
        IPV4_PAYLOAD_OFFSET,
      );
      writeU16(out, ip + IPV4.TOTAL_LENGTH, IPV4_HEADER_LEN + length);
      writeU16(
        out,
        ip + IPV4.FLAGS_FRAGMENT,
        (more ? Ipv4Flag.MORE_FRAGMENTS : 0) | (offset >>> 3),
      );
      writeU16(out, ip + IPV4.CHECKSUM, 0);
      writeU16(out, ip + IPV4.CHECKSUM, internetChecksum(out, ip, IPV4_HEADER_LEN));
      this.#counters.bump(C["tx.fragment"]);
      this.#transmit(out, IPV4_PAYLOAD_OFFSET + length);
    }
  }
}
