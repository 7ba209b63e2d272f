/**
 * IPv4 reassembly (RFC 791 §3.2): the IPv4 side of the engine in `reassembly.ts`, which holds the
 * rules and limits. A queue is keyed by source, destination, protocol and identification
 * (RFC 791 §3.2); the whole datagram keeps the Ethernet and IP header (options included) of the
 * fragment at offset 0, with its total length, flags and checksum redone.
 */

import { ETHERNET_HEADER_LEN, type EthernetFrame } from "../wire/ethernet.ts";
import { IPV4, type Ipv4Packet } from "../wire/ipv4.ts";
import { writeU16 } from "../wire/view.ts";
import { internetChecksum } from "../wire/checksum.ts";
import { C, type Counters } from "./counters.ts";
import { Reassembler, type ReassemblyFamily } from "./reassembly.ts";

export {
  FRAGMENT_OVERHEAD,
  MAX_BYTES,
  MAX_FRAGMENTS,
  MAX_QUEUES,
  REASSEMBLY_TIMEOUT_MS,
} from "./reassembly.ts";

const IPV4_FAMILY: ReassemblyFamily = {
  counters: {
    fragment: C["ipv4.fragment"],
    reassembled: C["ipv4.reassembled"],
    badLength: C["ipv4.fragment_bad_length"],
    tooLong: C["ipv4.fragment_too_long"],
    overlap: C["ipv4.fragment_overlap"],
    duplicate: C["ipv4.fragment_duplicate"],
    inconsistent: C["ipv4.fragment_inconsistent"],
    timeout: C["ipv4.fragment_timeout"],
    evicted: C["ipv4.fragment_evicted"],
  },
  finish(out, headerLength, payloadLength) {
    const ip = ETHERNET_HEADER_LEN;
    const ipHeaderLength = headerLength - ETHERNET_HEADER_LEN;
    writeU16(out, ip + IPV4.TOTAL_LENGTH, ipHeaderLength + payloadLength);
    // Keep DF as sent; clear MF and the offset.
    out[ip + IPV4.FLAGS_FRAGMENT] &= 0x40;
    out[ip + IPV4.FLAGS_FRAGMENT + 1] = 0;
    writeU16(out, ip + IPV4.CHECKSUM, 0);
    writeU16(out, ip + IPV4.CHECKSUM, internetChecksum(out, ip, ipHeaderLength));
  },
};

/**
 * Collects IPv4 fragments into whole datagrams.
 *
 * @example
 * ```ts
 * import { Counters } from "./counters.ts";
 * import { Ipv4Reassembler } from "./ipv4_reassembly.ts";
 * const reassembler = new Ipv4Reassembler(new Counters());
 * reassembler.queues; // 0
 * ```
 */
export class Ipv4Reassembler {
  readonly #engine: Reassembler;

  constructor(counters: Counters) {
    this.#engine = new Reassembler(counters, IPV4_FAMILY);
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
   * Takes one fragment: `ip` is a checked IPv4 header (checksum and options verified) with
   * `isFragment` set, inside the frame `eth`. Returns the whole datagram as a new Ethernet frame
   * once the last missing piece came, else null. Never throws.
   */
  add(eth: EthernetFrame, ip: Ipv4Packet, now: number): Uint8Array | null {
    const offset = ip.fragmentOffset;
    return this.#engine.add(
      `${ip.src}/${ip.dst}/${ip.protocol}/${ip.identification}`,
      ip.bytes,
      ip.payloadOffset,
      offset,
      ip.payloadLength,
      !ip.moreFragments,
      ip.headerLength,
      offset === 0 ? eth.bytes.slice(eth.offset, ip.payloadOffset) : null,
      now,
    );
  }

  /** Drops the queues older than the reassembly timeout. */
  expire(now: number): void {
    this.#engine.expire(now);
  }
}
