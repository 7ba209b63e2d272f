/**
 * DNS answers to the guest: a UDP datagram from the DNS address of the query's family (10.0.2.3 or
 * fd00::3), port 53, to the port the query came from (RFC 1035 §4.2.1), through a `GuestTx`. An
 * answer larger than the MTU goes out in IPv4 or IPv6 fragments (GuestTx), never truncated here:
 * the guest asked for that size with EDNS (RFC 6891 §6.2.5), and its kernel reassembles on the
 * virtual link; without EDNS the upstream already kept it within 512 bytes or set TC.
 */

import type { Addresses } from "../config.ts";
import { C, type Counters } from "../stack/counters.ts";
import type { GuestTx } from "../stack/guest_tx.ts";
import { payloadOffsetOf } from "../stack/guest_tx.ts";
import {
  UDP_IPV4_MAX_PAYLOAD,
  UDP_IPV6_MAX_PAYLOAD,
  udpPayloadOffsetOf,
} from "../stack/udp_nat.ts";
import { isIpv6 } from "../wire/address.ts";
import { IpProtocol } from "../wire/ipv4.ts";
import { UDP_HEADER_LEN, udpChecksum } from "../wire/udp.ts";
import { writeU16 } from "../wire/view.ts";
import type { GuestAnswers, GuestEndpoint } from "./forwarder.ts";
import { DNS_PORT } from "./resolv_conf.ts";

/** TTL (hop limit) of answers to the guest. */
export const DNS_ANSWER_TTL = 64;

/**
 * Sends DNS messages to the guest from the DNS address, port 53.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { Counters } from "../stack/counters.ts";
 * import { GuestTx } from "../stack/guest_tx.ts";
 * import { MemoryLink } from "../stack/memory_link.ts";
 * import { DnsAnswerTx } from "./answer_tx.ts";
 * const addresses = deriveAddresses(0x0a000200, 24, true);
 * const counters = new Counters();
 * const link = new MemoryLink();
 * const answers = new DnsAnswerTx(new GuestTx(link, 1500, addresses, counters), addresses, counters);
 * answers.answer({ mac: new Uint8Array(6), ip: addresses.guest, port: 5353 }, new Uint8Array(12));
 * answers.answer({ mac: new Uint8Array(6), ip: 0xfd00n << 112n | 100n, port: 5353 }, new Uint8Array(12));
 * link.take().length; // 2
 * ```
 */
export class DnsAnswerTx implements GuestAnswers {
  readonly #tx: GuestTx;
  readonly #dns: number;
  /** fd00::3, or null without IPv6 (an IPv6 query cannot have come in). */
  readonly #dns6: bigint | null;
  readonly #counters: Counters;

  constructor(tx: GuestTx, addresses: Addresses, counters: Counters) {
    this.#tx = tx;
    this.#dns = addresses.dns;
    this.#dns6 = addresses.ipv6?.dns ?? null;
    this.#counters = counters;
  }

  answer(to: GuestEndpoint, message: Uint8Array): void {
    const v6 = isIpv6(to.ip);
    const src = v6 ? this.#dns6 : this.#dns;
    if (message.length > (v6 ? UDP_IPV6_MAX_PAYLOAD : UDP_IPV4_MAX_PAYLOAD) || src === null) {
      this.#counters.bump(C["dns.answer_malformed"]);
      return;
    }
    const frame = this.#tx.frame;
    frame.set(message, udpPayloadOffsetOf(to.ip));
    const udpLength = UDP_HEADER_LEN + message.length;
    const at = payloadOffsetOf(to.ip);
    writeU16(frame, at, DNS_PORT);
    writeU16(frame, at + 2, to.port);
    writeU16(frame, at + 4, udpLength);
    writeU16(frame, at + 6, 0);
    writeU16(frame, at + 6, udpChecksum(frame, at, udpLength, src, to.ip));
    this.#tx.sendIp(to.mac, 0, src, to.ip, IpProtocol.UDP, DNS_ANSWER_TTL, 0, udpLength);
  }
}
