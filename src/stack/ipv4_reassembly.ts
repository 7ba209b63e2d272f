/**
 * Reassembly of IPv4 datagrams the guest sent in fragments (RFC 791 §3.2 "Fragmentation and
 * reassembly", RFC 815), with the strict limits that libslirp's `ip_reass` lacked (CVE-2019-14378,
 * CVE-2019-15890, CVE-2020-1983). Read RFC 791 §3.2 and RFC 5722 §4 (overlaps) before editing.
 *
 * Rules, each with its counter:
 * - A fragment of zero length, or one that is not the last with a length that is not a multiple of
 *   8, is malformed (`ipv4.fragment_bad_length`): it and its queue are dropped.
 * - Header plus `offset + length` beyond 65535 (`ipv4.fragment_too_long`): dropped with its queue.
 * - Overlapping fragments (RFC 5722 §4 for IPv6; Linux does the same for IPv4 since 4.19) drop the
 *   whole queue (`ipv4.fragment_overlap`); an exact duplicate (same offset and length) is dropped
 *   alone (`ipv4.fragment_duplicate`).
 * - A last fragment (MF clear) that disagrees with a known end, or data past the end
 *   (`ipv4.fragment_inconsistent`): dropped with the queue.
 * - A queue lives {@link REASSEMBLY_TIMEOUT_MS} from its first fragment (`ipv4.fragment_timeout`).
 * - At most {@link MAX_QUEUES} queues, {@link MAX_FRAGMENTS} fragments each and {@link MAX_BYTES}
 *   in total (each fragment is charged {@link FRAGMENT_OVERHEAD} bytes on top of its data); a new
 *   queue that does not fit evicts the oldest ones (`ipv4.fragment_evicted`).
 * Fragments may come in any order (the first one last included); the Ethernet and IP header of the
 * result are those of the fragment at offset 0. The datagram is complete when fragments cover
 * `[0, end)` without a gap; it is then built in a fresh buffer, never in place.
 */

import { ETHERNET_HEADER_LEN, type EthernetFrame } from "../wire/ethernet.ts";
import { IPV4, type Ipv4Packet } from "../wire/ipv4.ts";
import { writeU16 } from "../wire/view.ts";
import { internetChecksum } from "../wire/checksum.ts";
import { C, type Counters } from "./counters.ts";

/** Largest IPv4 datagram, header included (RFC 791 §3.1: Total Length is 16 bits). */
export const IPV4_MAX_DATAGRAM = 65535;
/** Reassembly queues at once. */
export const MAX_QUEUES = 64;
/** Fragments in one queue (a 64 KiB datagram at MTU 68 has 1366; 1024 covers MTU ≥ 576 × 2). */
export const MAX_FRAGMENTS = 1024;
/** Bytes held over all queues, overhead included (Linux allows 4 MiB for the whole host). */
export const MAX_BYTES = 2 * 1024 * 1024;
/** Bytes charged per fragment besides its data. */
export const FRAGMENT_OVERHEAD = 64;
/** Lifetime of a queue (Linux: ipfrag_time, 30 s; libslirp: IPFRAGTTL, 30 s). */
export const REASSEMBLY_TIMEOUT_MS = 30_000;

interface Fragment {
  offset: number;
  end: number;
  data: Uint8Array;
}

interface Queue {
  readonly key: string;
  readonly created: number;
  /** Sorted by offset, pairwise disjoint. */
  readonly fragments: Fragment[];
  /** End of the datagram's payload, once the last fragment came; else -1. */
  end: number;
  /** Payload bytes held. */
  received: number;
  /** Ethernet + IP header of the fragment at offset 0, once it came. */
  header: Uint8Array | null;
  charged: number;
}

/**
 * Collects fragments into whole datagrams.
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
  readonly #counters: Counters;
  /** By key; Map order is creation order, so the first entry is the oldest. */
  readonly #queues = new Map<string, Queue>();
  #bytes = 0;

  constructor(counters: Counters) {
    this.#counters = counters;
  }

  /** Queues open now. */
  get queues(): number {
    return this.#queues.size;
  }

  /** Bytes charged now (data plus overhead). */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Takes one fragment: `ip` is a checked IPv4 header (checksum and options verified) with
   * `isFragment` set, inside the frame `eth`. Returns the whole datagram as a new Ethernet frame
   * once the last missing piece came, else null. Never throws.
   */
  add(eth: EthernetFrame, ip: Ipv4Packet, now: number): Uint8Array | null {
    const counters = this.#counters;
    counters.bump(C["ipv4.fragment"]);
    this.expire(now);
    const key = `${ip.src}/${ip.dst}/${ip.protocol}/${ip.identification}`;
    const offset = ip.fragmentOffset;
    const length = ip.payloadLength;
    const end = offset + length;
    const last = !ip.moreFragments;
    let queue = this.#queues.get(key);
    if (length === 0 || (!last && (length & 7) !== 0)) {
      counters.bump(C["ipv4.fragment_bad_length"]);
      if (queue) this.#drop(queue);
      return null;
    }
    if (ip.headerLength + end > IPV4_MAX_DATAGRAM) {
      counters.bump(C["ipv4.fragment_too_long"]);
      if (queue) this.#drop(queue);
      return null;
    }
    const charge = length + FRAGMENT_OVERHEAD;
    if (queue === undefined) {
      while (
        this.#queues.size > 0 &&
        (this.#queues.size >= MAX_QUEUES || this.#bytes + charge > MAX_BYTES)
      ) {
        counters.bump(C["ipv4.fragment_evicted"]);
        this.#drop(this.#queues.values().next().value!);
      }
      queue = {
        key,
        created: now,
        fragments: [],
        end: -1,
        received: 0,
        header: null,
        charged: 0,
      };
      this.#queues.set(key, queue);
    } else if (
      queue.fragments.length >= MAX_FRAGMENTS || this.#bytes + charge > MAX_BYTES
    ) {
      counters.bump(C["ipv4.fragment_evicted"]);
      this.#drop(queue);
      return null;
    }

    // RFC 791 §3.2: the last fragment fixes the datagram's length; nothing may lie beyond it.
    const fragments = queue.fragments;
    const highest = fragments.length > 0 ? fragments[fragments.length - 1].end : 0;
    if (
      last
        ? (queue.end >= 0 && queue.end !== end) || highest > end
        : queue.end >= 0 && end > queue.end
    ) {
      counters.bump(C["ipv4.fragment_inconsistent"]);
      this.#drop(queue);
      return null;
    }

    // Fragments held are disjoint and sorted: only the neighbours can overlap the new one.
    let at = fragments.length;
    while (at > 0 && fragments[at - 1].offset > offset) at--;
    const before = at > 0 ? fragments[at - 1] : undefined;
    if (before && before.offset === offset && before.end === end) {
      counters.bump(C["ipv4.fragment_duplicate"]);
      return null;
    }
    const after = at < fragments.length ? fragments[at] : undefined;
    if ((before && before.end > offset) || (after && after.offset < end)) {
      counters.bump(C["ipv4.fragment_overlap"]);
      this.#drop(queue);
      return null;
    }

    const bytes = eth.bytes;
    fragments.splice(at, 0, {
      offset,
      end,
      data: bytes.slice(ip.payloadOffset, ip.payloadOffset + length),
    });
    queue.received += length;
    queue.charged += charge;
    this.#bytes += charge;
    if (last) queue.end = end;
    if (offset === 0) queue.header = bytes.slice(eth.offset, ip.payloadOffset);

    // Disjoint pieces inside [0, end) that add up to end cover it without a gap.
    if (queue.end < 0 || queue.header === null || queue.received !== queue.end) return null;
    return this.#assemble(queue);
  }

  /** Drops the queues older than {@link REASSEMBLY_TIMEOUT_MS}. */
  expire(now: number): void {
    for (const queue of this.#queues.values()) {
      if (now - queue.created < REASSEMBLY_TIMEOUT_MS) break;
      this.#counters.bump(C["ipv4.fragment_timeout"]);
      this.#drop(queue);
    }
  }

  #drop(queue: Queue): void {
    this.#queues.delete(queue.key);
    this.#bytes -= queue.charged;
  }

  #assemble(queue: Queue): Uint8Array {
    this.#drop(queue);
    const header = queue.header!;
    const ipHeaderLength = header.length - ETHERNET_HEADER_LEN;
    const out = new Uint8Array(header.length + queue.end);
    out.set(header, 0);
    for (const fragment of queue.fragments) out.set(fragment.data, header.length + fragment.offset);
    const ip = ETHERNET_HEADER_LEN;
    writeU16(out, ip + IPV4.TOTAL_LENGTH, ipHeaderLength + queue.end);
    // Keep DF as sent; clear MF and the offset.
    out[ip + IPV4.FLAGS_FRAGMENT] &= 0x40;
    out[ip + IPV4.FLAGS_FRAGMENT + 1] = 0;
    writeU16(out, ip + IPV4.CHECKSUM, 0);
    writeU16(out, ip + IPV4.CHECKSUM, internetChecksum(out, ip, ipHeaderLength));
    this.#counters.bump(C["ipv4.reassembled"]);
    return out;
  }
}
