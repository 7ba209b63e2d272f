/**
 * Echo replies from the emulated hosts (RFC 792 "Echo or Echo Reply Message"; RFC 1122
 * §3.2.2.6): libslirp answers pings to the gateway and DNS addresses itself, with TTL 255. The
 * reply carries the request's identifier, sequence number and data; IP options are not copied.
 */

import { internetChecksum, updateChecksum16 } from "../wire/checksum.ts";
import type { EthernetFrame } from "../wire/ethernet.ts";
import { ICMP, type IcmpMessage, IcmpType } from "../wire/icmp.ts";
import { IpProtocol, type Ipv4Packet } from "../wire/ipv4.ts";
import { copyBytes, writeU16 } from "../wire/view.ts";
import { C, type Counters } from "./counters.ts";
import { type GuestTx, IPV4_MAX_PAYLOAD, IPV4_PAYLOAD_OFFSET } from "./guest_tx.ts";

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
    const length = icmp.length;
    // A reassembled request above the MTU gets a fragmented reply (GuestTx.sendIpv4).
    if (length > IPV4_MAX_PAYLOAD) {
      counters.bump(C["tx.exceeds_mtu"]);
      return;
    }
    const frame = this.#tx.frame;
    const at = IPV4_PAYLOAD_OFFSET;
    copyBytes(frame, at, icmp.bytes, icmp.offset, length);
    // Type 8 → 0 and code → 0 change only the first 16-bit word: update the verified checksum
    // (RFC 1624) instead of summing the whole payload again, except in the one case the update
    // gets wrong (an all-zero reply, see updateChecksum16).
    const firstWord = (icmp.type << 8) | icmp.code;
    frame[at + ICMP.TYPE] = IcmpType.ECHO_REPLY;
    frame[at + ICMP.CODE] = 0;
    const checksum = updateChecksum16(icmp.checksum, firstWord, 0);
    writeU16(frame, at + ICMP.CHECKSUM, 0);
    writeU16(
      frame,
      at + ICMP.CHECKSUM,
      checksum !== 0 ? checksum : internetChecksum(frame, at, length),
    );
    const sent = this.#tx.sendIpv4(
      eth.bytes,
      eth.srcOffset,
      ip.dst,
      ip.src,
      IpProtocol.ICMP,
      ECHO_REPLY_TTL,
      ip.tos,
      length,
    );
    if (sent) counters.bump(C["icmp.echo_reply"]);
  }
}
