/**
 * IPv6 reassembly (RFC 8200 §4.5): the IPv6 side of the engine in `reassembly.ts`, which holds the
 * rules and limits (overlaps drop the datagram, RFC 5722). A queue is keyed by source,
 * destination and Fragment Identification (RFC 8200 §4.5). The whole packet keeps the Ethernet and
 * fixed header of the fragment at offset 0, with the Next Header taken from that fragment's
 * Fragment header and the Payload Length of the fragmentable part: the unfragmentable extension
 * headers (already processed per fragment by the dispatcher) and the Fragment header are gone, as
 * the dispatcher hands packets on (docs: the IPv6 contract).
 */

import { ETHERNET_HEADER_LEN, type EthernetFrame } from "../wire/ethernet.ts";
import { IPV6, IPV6_HEADER_LEN, type Ipv6Packet } from "../wire/ipv6.ts";
import { FRAGMENT_HEADER_LEN, type FragmentHeader } from "../wire/ipv6_ext.ts";
import { writeU16 } from "../wire/view.ts";
import { C, type Counters } from "./counters.ts";
import { Reassembler, type ReassemblyFamily } from "./reassembly.ts";

const IPV6_FAMILY: ReassemblyFamily = {
  counters: {
    fragment: C["ipv6.fragment"],
    reassembled: C["ipv6.reassembled"],
    badLength: C["ipv6.fragment_bad_length"],
    tooLong: C["ipv6.fragment_too_long"],
    overlap: C["ipv6.fragment_overlap"],
    duplicate: C["ipv6.fragment_duplicate"],
    inconsistent: C["ipv6.fragment_inconsistent"],
    timeout: C["ipv6.fragment_timeout"],
    evicted: C["ipv6.fragment_evicted"],
  },
  finish(out, _headerLength, payloadLength) {
    writeU16(out, ETHERNET_HEADER_LEN + IPV6.PAYLOAD_LENGTH, payloadLength);
  },
};

/**
 * Collects IPv6 fragments into whole packets.
 *
 * @example
 * ```ts
 * import { Counters } from "./counters.ts";
 * import { Ipv6Reassembler } from "./ipv6_reassembly.ts";
 * const reassembler = new Ipv6Reassembler(new Counters());
 * reassembler.queues; // 0
 * ```
 */
export class Ipv6Reassembler {
  readonly #engine: Reassembler;

  constructor(counters: Counters) {
    this.#engine = new Reassembler(counters, IPV6_FAMILY);
  }

  /** Queues open now. */
  get queues(): number {
    return this.#engine.queues;
  }

  /** Bytes charged now (data plus overhead). */
  get bytes(): number {
    return this.#engine.bytes;
  }

  /**
   * Takes one fragment: `ip` is a checked IPv6 header at offset 14 of the frame `eth`, and
   * `fragment` is wrapped over its (checked) Fragment header, which the extension-header walk found
   * inside the payload. Returns the whole packet as a new Ethernet frame once the last missing
   * piece came, else null. Never throws.
   */
  add(
    eth: EthernetFrame,
    ip: Ipv6Packet,
    fragment: FragmentHeader,
    now: number,
  ): Uint8Array | null {
    const dataOffset = fragment.offset + FRAGMENT_HEADER_LEN;
    const offset = fragment.fragmentOffset;
    let header: Uint8Array | null = null;
    if (offset === 0) {
      header = eth.bytes.slice(eth.offset, ip.offset + IPV6_HEADER_LEN);
      // RFC 8200 §4.5: "The Next Header field of the last header of the Per-Fragment headers is
      // obtained from the Next Header field of the first fragment's Fragment header."
      header[ip.offset - eth.offset + IPV6.NEXT_HEADER] = fragment.nextHeader;
    }
    return this.#engine.add(
      `${ip.src}/${ip.dst}/${fragment.identification}`,
      ip.bytes,
      dataOffset,
      offset,
      ip.payloadOffset + ip.payloadLength - dataOffset,
      !fragment.moreFragments,
      fragment.offset - ip.payloadOffset,
      header,
      now,
    );
  }

  /** Drops the queues older than the reassembly timeout. */
  expire(now: number): void {
    this.#engine.expire(now);
  }
}
