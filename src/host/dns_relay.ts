/**
 * The main-thread side of the DNS-resolver Worker (src/workers/dns_resolver.ts): the `dns`
 * forwarder of the dispatcher copies each query frame into a FrameRing and signals the worker's
 * eventfd once per drained batch (a microtask queued by the first frame of the batch runs after
 * the dispatcher's synchronous drain), so a burst of queries costs one wake-up. The worker writes
 * answers to the tap itself. Stopping is cooperative: a stop eventfd, then `terminate()` as a
 * fallback (it cannot interrupt a worker blocked in epoll_wait).
 */

import type { Config } from "../config.ts";
import { errnoText } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import { log } from "../log.ts";
import { FrameRing } from "../ring/frame_ring.ts";
import { C, Counters } from "../stack/counters.ts";
import type { DnsResolverEvent, DnsResolverStart } from "../workers/dns_resolver.ts";

/** Ring bytes for queries: a few hundred typical queries, or sixteen 64 KiB ones. */
const QUERY_RING_BYTES = 1 << 20;
/** Largest query frame: Ethernet header plus a reassembled 64 KiB datagram. */
const MAX_QUERY_FRAME = 14 + 65535;
const STOP_TIMEOUT_MS = 2000;

/** What the relay needs from the network being started. */
export interface DnsRelayOptions {
  shim: Shim;
  config: Pick<Config, "mtu" | "network" | "prefix" | "outboundAddr">;
  /** The tap fd, shared with the worker for writing answers. */
  tapFd: number;
  /** The main thread's counters (for `dns.ring_full`). */
  counters: Counters;
  /** resolv.conf to read (tests); default /etc/resolv.conf. */
  resolvConfPath?: string;
}

/**
 * The running DNS-resolver Worker and its query ring.
 *
 * @example
 * ```ts ignore
 * const relay = DnsRelay.start({ shim, config, tapFd, counters });
 * forwarders.dns = relay.dns;
 * await relay.stop();
 * ```
 */
export class DnsRelay {
  /** The worker's counters (`dns.*`, and `tx.*` of its answers), readable from this thread. */
  readonly counters: Counters;
  /** The `dns` forwarder for the dispatcher. */
  readonly dns: (frame: Uint8Array, now: number) => void;
  /** Resolves when the worker has started (or failed to). */
  readonly started: Promise<void>;
  readonly #shim: Shim;
  readonly #ring: FrameRing;
  readonly #signalFd: number;
  readonly #stopFd: number;
  readonly #worker: Worker;
  readonly #stopped: Promise<void>;
  #signalQueued = false;
  #stopping: Promise<void> | undefined;

  private constructor(options: DnsRelayOptions, signalFd: number, stopFd: number) {
    const { shim, config } = options;
    this.#shim = shim;
    this.#signalFd = signalFd;
    this.#stopFd = stopFd;
    this.#ring = FrameRing.create(QUERY_RING_BYTES, { maxFrame: MAX_QUERY_FRAME });
    const countersBuffer = new SharedArrayBuffer(Counters.BYTE_LENGTH);
    this.counters = new Counters(countersBuffer);
    const mainCounters = options.counters;
    const ring = this.#ring;
    const signal = () => {
      this.#signalQueued = false;
      shim.shim_eventfd_signal(signalFd);
    };
    this.dns = (frame) => {
      if (!ring.push(frame)) {
        ring.countDrop();
        mainCounters.bump(C["dns.ring_full"]);
        return;
      }
      if (!this.#signalQueued) {
        this.#signalQueued = true;
        queueMicrotask(signal);
      }
    };

    this.#worker = new Worker(new URL("../workers/dns_resolver.ts", import.meta.url).href, {
      type: "module",
    });
    let started!: () => void;
    this.started = new Promise((resolve) => started = resolve);
    this.#stopped = new Promise((resolve) => {
      this.#worker.onmessage = (event: MessageEvent<DnsResolverEvent>) => {
        const message = event.data;
        if (message.kind === "started") started();
        if (message.kind === "error") log.error(`DNS resolver: ${message.message}`);
        if (message.kind === "stopped") {
          started();
          resolve();
        }
      };
      this.#worker.onerror = (event) => {
        event.preventDefault();
        log.error(`DNS resolver: ${event.message}`);
        started();
        resolve();
      };
    });
    const start: DnsResolverStart = {
      ring: ring.buffer,
      signalFd,
      stopFd,
      tapFd: options.tapFd,
      mtu: config.mtu,
      network: config.network,
      prefix: config.prefix,
      counters: countersBuffer,
      outboundAddr: config.outboundAddr,
      resolvConfPath: options.resolvConfPath,
    };
    this.#worker.postMessage(start);
  }

  /** Starts the worker; throws if its eventfds cannot be created. */
  static start(options: DnsRelayOptions): DnsRelay {
    const shim = options.shim;
    const signalFd = shim.shim_eventfd();
    if (signalFd < 0) throw new Error(`Cannot create an eventfd: ${errnoText(shim, -signalFd)}`);
    const stopFd = shim.shim_eventfd();
    if (stopFd < 0) {
      shim.shim_close(signalFd);
      throw new Error(`Cannot create an eventfd: ${errnoText(shim, -stopFd)}`);
    }
    return new DnsRelay(options, signalFd, stopFd);
  }

  /** Stops the worker and closes the eventfds (not the tap). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#shim.shim_eventfd_signal(this.#stopFd);
    this.#ring.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#stopped,
      new Promise((resolve) => timer = setTimeout(resolve, STOP_TIMEOUT_MS)),
    ]);
    clearTimeout(timer);
    this.#worker.terminate();
    this.#shim.shim_close(this.#signalFd);
    this.#shim.shim_close(this.#stopFd);
  }
}
