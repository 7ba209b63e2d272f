/**
 * The main-thread side of the DNS-resolver Worker (src/workers/dns_resolver.ts), on a
 * {@link RingWorker}: the tap reader feeds query frames into the worker's ring
 * ({@link DnsRelay.feed}), one wake-up per batch, so a burst of queries costs one. The worker
 * writes answers to the tap itself and counts in its own table.
 */

import type { NameserverStats } from "../dns/forwarder.ts";
import type { Config } from "../config.ts";
import type { Shim } from "../ffi/shim.ts";
import type { Tap } from "../link/tap_writer.ts";
import { Counters } from "../stack/counters.ts";
import type { DnsResolverStart } from "../workers/dns_resolver.ts";
import type { RingFeedChannel } from "./ring_feed.ts";
import { RingWorker } from "./ring_worker.ts";
import { DNS_RESOLVER_URL } from "../workers/urls.ts";

/** Ring bytes for queries: a few hundred typical queries, or sixteen 64 KiB ones. */
const QUERY_RING_BYTES = 1 << 20;
/** Largest query frame: Ethernet header plus a reassembled 64 KiB datagram. */
const MAX_QUERY_FRAME = 14 + 65535;

/** What the relay needs from the network being started. */
export interface DnsRelayOptions {
  shim: Shim;
  config: Pick<
    Config,
    "mtu" | "network" | "prefix" | "enableIpv6" | "outboundAddr" | "outboundAddr6"
  >;
  /** The tap fd, shared with the worker for writing answers. */
  tap: Tap;
  /** resolv.conf to read (tests); default /etc/resolv.conf. */
  resolvConfPath?: string;
}

/**
 * The running DNS-resolver Worker and its query ring.
 *
 * @example
 * ```ts ignore
 * const relay = DnsRelay.start({ shim, config, tap });
 * // the tap reader: new RingFeed(shim, relay.feed, dropped)
 * await relay.stop();
 * ```
 */
export class DnsRelay {
  /** The worker's counters (`dns.*`, and `tx.*` of its answers), readable from this thread. */
  readonly counters: Counters;
  /** The worker's query input, for the tap reader. */
  readonly feed: RingFeedChannel;
  /** Resolves true when the worker has started, false when it failed to (the reason is logged). */
  readonly started: Promise<boolean>;
  readonly #worker: RingWorker;

  private constructor(options: DnsRelayOptions) {
    const { shim, config } = options;
    const countersBuffer = new SharedArrayBuffer(Counters.BYTE_LENGTH);
    this.counters = new Counters(countersBuffer);
    this.#worker = RingWorker.start({
      shim,
      name: "DNS resolver",
      url: DNS_RESOLVER_URL,
      ringBytes: QUERY_RING_BYTES,
      maxFrame: MAX_QUERY_FRAME,
      start: (channel): DnsResolverStart => ({
        ...channel,
        tap: options.tap,
        mtu: config.mtu,
        network: config.network,
        prefix: config.prefix,
        ipv6: config.enableIpv6,
        counters: countersBuffer,
        outboundAddr: config.outboundAddr,
        outboundAddr6: config.outboundAddr6,
        resolvConfPath: options.resolvConfPath,
      }),
    });
    this.feed = this.#worker.feed;
    this.started = this.#worker.started;
  }

  /** Starts the worker; throws if its eventfds cannot be created. */
  static start(options: DnsRelayOptions): DnsRelay {
    return new DnsRelay(options);
  }

  /** What each nameserver did so far (get_stats), or null if the worker gave no answer in time. */
  async nameserverStats(timeoutMs: number): Promise<NameserverStats[] | null> {
    const value = await this.#worker.snapshot(0, timeoutMs) as
      | { nameservers: NameserverStats[] }
      | null;
    return value?.nameservers ?? null;
  }

  /** Stops the worker and closes the eventfds (not the tap). Idempotent. */
  stop(): Promise<void> {
    return this.#worker.stop();
  }
}
