/**
 * Echo replies from the emulated hosts, both families (RFC 792 "Echo or Echo Reply Message";
 * RFC 1122 §3.2.2.6; RFC 4443 §4.2): libslirp answers pings to the gateway and DNS addresses
 * itself, with TTL 255; with IPv6 the same for fd00::2, fd00::3 and fe80::2, hop limit 255. The
 * reply carries the request's identifier, sequence number and data; IPv4 options and IPv6
 * extension headers are not copied.
 */

import { internetChecksum, updateChecksum16 } from "../wire/checksum.ts";
import type { EthernetFrame } from "../wire/ethernet.ts";
import { ICMP, type IcmpMessage, IcmpType } from "../wire/icmp.ts";
import type { Icmpv6Message } from "../wire/icmpv6.ts";
import type { IpAddress } from "../wire/address.ts";
import { Icmpv6Type } from "../wire/icmpv6.ts";
import { IpProtocol, type Ipv4Packet } from "../wire/ipv4.ts";
import { Ipv6NextHeader, type Ipv6Packet } from "../wire/ipv6.ts";
import { copyBytes, readU16, writeU16 } from "../wire/view.ts";
import { C, type Counters } from "./counters.ts";
import { type GuestTx, IPV4_MAX_PAYLOAD, IPV6_MAX_PAYLOAD, payloadOffsetOf } from "./guest_tx.ts";

/** TTL of echo replies from the emulated hosts (libslirp: 255). */
export const ECHO_REPLY_TTL = 255;

/**
 * Answers ICMP echo requests addressed to the emulated hosts; the dispatcher only passes those.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { EthernetFrame } from "../wire/ethernet.ts";
 * import { IcmpMessage } from "../wire/icmp.ts";
 * import { Ipv4Packet } from "../wire/ipv4.ts";
 * import { ICMP_ECHO_REQUEST_TO_GATEWAY } from "../wire/testdata/captured.ts";
 * import { Counters } from "./counters.ts";
 * import { GuestTx } from "./guest_tx.ts";
 * import { IcmpEchoResponder } from "./icmp_echo.ts";
 * import { MemoryLink } from "./memory_link.ts";
 * const counters = new Counters();
 * const link = new MemoryLink();
 * const echo = new IcmpEchoResponder(
 *   new GuestTx(link, 1500, deriveAddresses(0x0a000200, 24), counters),
 *   counters,
 * );
 * const eth = new EthernetFrame().wrap(ICMP_ECHO_REQUEST_TO_GATEWAY);
 * const ip = new Ipv4Packet().wrap(eth.bytes, eth.payloadOffset, eth.payloadLength);
 * echo.handle(eth, ip, new IcmpMessage().wrap(ip.bytes, ip.payloadOffset, ip.payloadLength));
 * if (link.take().length !== 1) throw new Error("no reply");
 * ```
 */
export class IcmpEchoResponder {
  readonly #tx: GuestTx;
  readonly #counters: Counters;

  constructor(tx: GuestTx, counters: Counters) {
    this.#tx = tx;
    this.#counters = counters;
  }

  /**
   * Handles one ICMP message to an emulated host: `ip` is a checked header and `icmp` is wrapped
   * over exactly its payload.
   */
  handle(eth: EthernetFrame, ip: Ipv4Packet, icmp: IcmpMessage): void {
    const counters = this.#counters;
    if (icmp.check() !== "ok") {
      counters.bump(C["icmp.truncated"]);
      return;
    }
    if (!icmp.verifyChecksum()) {
      counters.bump(C["icmp.bad_checksum"]);
      return;
    }
    if (icmp.type !== IcmpType.ECHO_REQUEST) {
      // Errors and replies sent to the emulated hosts have no socket behind them here.
      counters.bump(C["icmp.type_ignored"]);
      return;
    }
    counters.bump(C["icmp.echo_request"]);
    // A reassembled request above the MTU gets a fragmented reply (GuestTx.sendIpv4).
    if (icmp.length > IPV4_MAX_PAYLOAD) {
      counters.bump(C["tx.exceeds_mtu"]);
      return;
    }
    const sent = this.#reply(
      eth,
      ip.dst,
      ip.src,
      IpProtocol.ICMP,
      ip.tos,
      icmp.bytes,
      icmp.offset,
      icmp.length,
      IcmpType.ECHO_REPLY,
    );
    if (sent) counters.bump(C["icmp.echo_reply"]);
  }

  /**
   * Answers an ICMPv6 echo request to an emulated host (RFC 4443 §4.2): `ip` is a checked header
   * whose upper layer is `icmp`, an echo request whose length and checksum the dispatcher checked.
   */
  handleIpv6(eth: EthernetFrame, ip: Ipv6Packet, icmp: Icmpv6Message): void {
    const counters = this.#counters;
    counters.bump(C["icmpv6.echo_request"]);
    if (icmp.length > IPV6_MAX_PAYLOAD) {
      counters.bump(C["tx.exceeds_mtu"]);
      return;
    }
    const sent = this.#reply(
      eth,
      ip.dst,
      ip.src,
      Ipv6NextHeader.ICMPV6,
      ip.trafficClass,
      icmp.bytes,
      icmp.offset,
      icmp.length,
      Icmpv6Type.ECHO_REPLY,
    );
    if (sent) counters.bump(C["icmpv6.echo_reply"]);
  }

  /**
   * Copies the request at `bytes[offset, offset + length)` behind the headers of a packet from
   * `src` to `dst` with the type `replyType` and sends it. The checksum is updated, not summed
   * again: only the first word changes, and the pseudo-header of ICMPv6 sums the two addresses,
   * so swapping them leaves it alone.
   */
  #reply(
    eth: EthernetFrame,
    src: IpAddress,
    dst: IpAddress,
    protocol: number,
    trafficClass: number,
    bytes: Uint8Array,
    offset: number,
    length: number,
    replyType: number,
  ): boolean {
    const frame = this.#tx.frame;
    const at = payloadOffsetOf(src);
    copyBytes(frame, at, bytes, offset, length);
    // Type request → reply and code → 0 change only the first 16-bit word: update the verified
    // checksum (RFC 1624) instead of summing the whole payload again, except in the one case the
    // update gets wrong (an all-zero sum, see updateChecksum16; IPv4 only, as the ICMPv6
    // pseudo-header is never zero).
    const firstWord = (bytes[offset + ICMP.TYPE] << 8) | bytes[offset + ICMP.CODE];
    frame[at + ICMP.TYPE] = replyType;
    frame[at + ICMP.CODE] = 0;
    const checksum = updateChecksum16(
      readU16(bytes, offset + ICMP.CHECKSUM),
      firstWord,
      replyType << 8,
    );
    writeU16(frame, at + ICMP.CHECKSUM, 0);
    writeU16(
      frame,
      at + ICMP.CHECKSUM,
      checksum !== 0 || typeof src === "bigint" ? checksum : internetChecksum(frame, at, length),
    );
    return this.#tx.sendIp(
      eth.bytes,
      eth.srcOffset,
      src,
      dst,
      protocol,
      ECHO_REPLY_TTL,
      trafficClass,
      length,
    );
  }
}
