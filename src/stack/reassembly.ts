/**
 * Reassembly of the datagrams the guest sent in fragments, one engine for both families: IPv4
 * (RFC 791 §3.2 "Fragmentation and reassembly", RFC 815) and IPv6 (RFC 8200 §4.5), with the strict
 * limits that libslirp's `ip_reass` lacked (CVE-2019-14378, CVE-2019-15890, CVE-2020-1983). What
 * differs by family (the queue key, the header kept, how the whole datagram's header is completed,
 * the counters) is a {@link ReassemblyFamily}; `ipv4_reassembly.ts` and `ipv6_reassembly.ts` are
 * the thin adapters. Read RFC 791 §3.2, RFC 8200 §4.5 and RFC 5722 §4 (overlaps) before editing.
 *
 * Rules, each with its counter (named per family, `ipv4.fragment_*` or `ipv6.fragment_*`):
 * - A fragment of zero length, or one that is not the last with a length that is not a multiple of
 *   8, is malformed (`bad_length`): it and its queue are dropped.
 * - Bytes before the data that count against the limit (IPv4: the header; IPv6: the extension
 *   headers before the fragment header) plus `offset + length` beyond 65535 (`too_long`): dropped
 *   with its queue.
 * - Overlapping fragments (RFC 5722 §4; Linux does the same for IPv4 since 4.19) drop the whole
 *   queue (`overlap`); an exact duplicate (same offset and length) is dropped alone (`duplicate`,
 *   as RFC 8200 §4.5 allows). Fragments of a dropped datagram that come later open a new queue,
 *   which then times out (no tombstones, as in Linux).
 * - A last fragment that disagrees with a known end, or data past the end (`inconsistent`):
 *   dropped with the queue.
 * - A queue lives {@link REASSEMBLY_TIMEOUT_MS} from its first fragment (`timeout`).
 * - At most {@link MAX_QUEUES} queues, {@link MAX_FRAGMENTS} fragments each and {@link MAX_BYTES}
 *   in total per family (each fragment is charged {@link FRAGMENT_OVERHEAD} bytes on top of its
 *   data); a new queue that does not fit evicts the oldest ones (`evicted`).
 * Fragments may come in any order (the first one last included); the header of the result is the
 * one the family kept from the fragment at offset 0. The datagram is complete when fragments cover
 * `[0, end)` without a gap; it is then built in a fresh buffer, never in place.
 */

import type { Counters } from "./counters.ts";

/**
 * Largest datagram: IPv4 Total Length and IPv6 Payload Length are 16 bits (RFC 791 §3.1,
 * RFC 8200 §4.5: "would exceed 65,535 octets").
 */
export const MAX_DATAGRAM = 65535;
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
  /** The header the family kept from the fragment at offset 0, once it came. */
  header: Uint8Array | null;
  charged: number;
}

/** The counter indexes (from `C`) one family bumps. */
export interface ReassemblyCounters {
  fragment: number;
  reassembled: number;
  badLength: number;
  tooLong: number;
  overlap: number;
  duplicate: number;
  inconsistent: number;
  timeout: number;
  evicted: number;
}

/** What differs between the IPv4 and IPv6 reassembly. */
export interface ReassemblyFamily {
  readonly counters: ReassemblyCounters;
  /**
   * Completes the header of a whole datagram in `out`: its first `headerLength` bytes are the
   * header kept from the first fragment, then `payloadLength` bytes of data.
   */
  finish(out: Uint8Array, headerLength: number, payloadLength: number): void;
}

/**
 * Collects fragments into whole datagrams, for one family.
 *
 * @example
 * ```ts
 * import { Counters } from "./counters.ts";
 * import { Ipv4Reassembler } from "./ipv4_reassembly.ts";
 * const reassembler = new Ipv4Reassembler(new Counters());
 * reassembler.queues; // 0
 * ```
 */
export class Reassembler {
  readonly #counters: Counters;
  readonly #family: ReassemblyFamily;
  /** By key; Map order is creation order, so the first entry is the oldest. */
  readonly #queues = new Map<string, Queue>();
  #bytes = 0;

  constructor(counters: Counters, family: ReassemblyFamily) {
    this.#counters = counters;
    this.#family = family;
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
   * Takes one fragment: `length` data bytes at `bytes[dataOffset..]` that belong at `offset` of
   * the datagram `key` names, `last` if no more fragments follow it. `limitPrefix` bytes count
   * against {@link MAX_DATAGRAM} besides `offset + length`. `header` (a copy the engine keeps) is
   * given for the fragment at offset 0 only. Returns the whole datagram (header, then data) once
   * the last missing piece came, else null. Never throws.
   */
  add(
    key: string,
    bytes: Uint8Array,
    dataOffset: number,
    offset: number,
    length: number,
    last: boolean,
    limitPrefix: number,
    header: Uint8Array | null,
    now: number,
  ): Uint8Array | null {
    const counters = this.#counters;
    const c = this.#family.counters;
    counters.bump(c.fragment);
    this.expire(now);
    const end = offset + length;
    let queue = this.#queues.get(key);
    if (length === 0 || (!last && (length & 7) !== 0)) {
      counters.bump(c.badLength);
      if (queue) this.#drop(queue);
      return null;
    }
    if (limitPrefix + end > MAX_DATAGRAM) {
      counters.bump(c.tooLong);
      if (queue) this.#drop(queue);
      return null;
    }
    const charge = length + FRAGMENT_OVERHEAD;
    if (queue === undefined) {
      while (
        this.#queues.size > 0 &&
        (this.#queues.size >= MAX_QUEUES || this.#bytes + charge > MAX_BYTES)
      ) {
        counters.bump(c.evicted);
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
      counters.bump(c.evicted);
      this.#drop(queue);
      return null;
    }

    // The last fragment fixes the datagram's length; nothing may lie beyond it.
    const fragments = queue.fragments;
    const highest = fragments.length > 0 ? fragments[fragments.length - 1].end : 0;
    if (
      last
        ? (queue.end >= 0 && queue.end !== end) || highest > end
        : queue.end >= 0 && end > queue.end
    ) {
      counters.bump(c.inconsistent);
      this.#drop(queue);
      return null;
    }

    // Fragments held are disjoint and sorted: only the neighbours can overlap the new one.
    let at = fragments.length;
    while (at > 0 && fragments[at - 1].offset > offset) at--;
    const before = at > 0 ? fragments[at - 1] : undefined;
    if (before && before.offset === offset && before.end === end) {
      counters.bump(c.duplicate);
      return null;
    }
    const after = at < fragments.length ? fragments[at] : undefined;
    if ((before && before.end > offset) || (after && after.offset < end)) {
      counters.bump(c.overlap);
      this.#drop(queue);
      return null;
    }

    fragments.splice(at, 0, {
      offset,
      end,
      data: bytes.slice(dataOffset, dataOffset + length),
    });
    queue.received += length;
    queue.charged += charge;
    this.#bytes += charge;
    if (last) queue.end = end;
    if (offset === 0 && header !== null) queue.header = header;

    // Disjoint pieces inside [0, end) that add up to end cover it without a gap.
    if (queue.end < 0 || queue.header === null || queue.received !== queue.end) return null;
    return this.#assemble(queue);
  }

  /** Drops the queues older than {@link REASSEMBLY_TIMEOUT_MS}. */
  expire(now: number): void {
    for (const queue of this.#queues.values()) {
      if (now - queue.created < REASSEMBLY_TIMEOUT_MS) break;
      this.#counters.bump(this.#family.counters.timeout);
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
    const out = new Uint8Array(header.length + queue.end);
    out.set(header, 0);
    for (const fragment of queue.fragments) out.set(fragment.data, header.length + fragment.offset);
    this.#family.finish(out, header.length, queue.end);
    this.#counters.bump(this.#family.counters.reassembled);
    return out;
  }
}
