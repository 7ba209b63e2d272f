/**
 * DNS answers to the guest: a UDP datagram from the DNS address, port 53, to the port the query
 * came from (RFC 1035 §4.2.1), through a `GuestTx`. An answer larger than the MTU goes out in IPv4
 * fragments (GuestTx), never truncated here: the guest asked for that size with EDNS (RFC 6891
 * §6.2.5), and its kernel reassembles on the virtual link; without EDNS the upstream already
 * kept it within 512 bytes or set TC.
 */

import { C, type Counters } from "../stack/counters.ts";
import type { GuestTx } from "../stack/guest_tx.ts";
import { IPV4_PAYLOAD_OFFSET } from "../stack/guest_tx.ts";
import { UDP_MAX_PAYLOAD, UDP_PAYLOAD_OFFSET } from "../stack/udp_nat.ts";
import { IpProtocol } from "../wire/ipv4.ts";
import { UDP_HEADER_LEN, udpChecksum } from "../wire/udp.ts";
import { writeU16 } from "../wire/view.ts";
import type { GuestAnswers, GuestEndpoint } from "./forwarder.ts";
import { DNS_PORT } from "./resolv_conf.ts";

/** TTL of answers to the guest. */
export const DNS_ANSWER_TTL = 64;

/**
 * Sends DNS messages to the guest from `dnsAddress`:53.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { Counters } from "../stack/counters.ts";
 * import { GuestTx } from "../stack/guest_tx.ts";
 * import { MemoryLink } from "../stack/memory_link.ts";
 * import { DnsAnswerTx } from "./answer_tx.ts";
 * const addresses = deriveAddresses(0x0a000200, 24);
 * const counters = new Counters();
 * const link = new MemoryLink();
 * const answers = new DnsAnswerTx(new GuestTx(link, 1500, addresses, counters), addresses.dns, counters);
 * answers.answer({ mac: new Uint8Array(6), ip: addresses.guest, port: 5353 }, new Uint8Array(12));
 * link.take().length; // 1
 * ```
 */
export class DnsAnswerTx implements GuestAnswers {
  readonly #tx: GuestTx;
  readonly #dns: number;
  readonly #counters: Counters;

  constructor(tx: GuestTx, dnsAddress: number, counters: Counters) {
    this.#tx = tx;
    this.#dns = dnsAddress;
    this.#counters = counters;
  }

  answer(to: GuestEndpoint, message: Uint8Array): void {
    if (message.length > UDP_MAX_PAYLOAD) {
      this.#counters.bump(C["dns.answer_malformed"]);
      return;
    }
    const frame = this.#tx.frame;
    frame.set(message, UDP_PAYLOAD_OFFSET);
    const udpLength = UDP_HEADER_LEN + message.length;
    const at = IPV4_PAYLOAD_OFFSET;
    writeU16(frame, at, DNS_PORT);
    writeU16(frame, at + 2, to.port);
    writeU16(frame, at + 4, udpLength);
    writeU16(frame, at + 6, 0);
    writeU16(frame, at + 6, udpChecksum(frame, at, udpLength, this.#dns, to.ip));
    this.#tx.sendIpv4(to.mac, 0, this.#dns, to.ip, IpProtocol.UDP, DNS_ANSWER_TTL, 0, udpLength);
  }
}
