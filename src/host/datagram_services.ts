/**
 * Everything datagram-shaped a network runs besides the dispatcher: the UDP and ICMP echo NAT on
 * this thread (`DatagramNat`) and the DNS-resolver Worker (`DnsRelay`, not started with
 * `--disable-dns`, when 10.0.2.3 is NAT-ed like any address). `src/network.ts` starts it with the
 * dispatcher's `GuestTx` and hands the forwarders to the dispatcher.
 */

import type { Addresses, Config } from "../config.ts";
import type { Shim } from "../ffi/shim.ts";
import type { Counters } from "../stack/counters.ts";
import type { Ipv4Forwarders } from "../stack/forwarders.ts";
import type { GuestTx } from "../stack/guest_tx.ts";
import { DatagramNat } from "./datagram_nat.ts";
import { DnsRelay } from "./dns_relay.ts";

/** What `startDatagramServices` needs. */
export interface DatagramServicesOptions {
  shim: Shim;
  config: Config;
  addresses: Addresses;
  /** The dispatcher's transmit side (this thread). */
  tx: GuestTx;
  /** The main thread's counters. */
  counters: Counters;
  /** The tap fd, for the DNS worker's answers. */
  tapFd: number;
}

/** The running services. */
export interface DatagramServices {
  /** `udp`, `icmp` and (unless `--disable-dns`) `dns`, for the dispatcher. */
  readonly forwarders: Pick<Ipv4Forwarders, "udp" | "dns" | "icmp">;
  readonly nat: DatagramNat;
  /** The DNS worker, or null with `--disable-dns`. */
  readonly dns: DnsRelay | null;
  /** Stops the worker and closes every host socket. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the UDP/ICMP NAT and the DNS worker; throws on start-up failures (epoll, eventfd).
 *
 * @example
 * ```ts ignore
 * const forwarders: Ipv4Forwarders = {};
 * const dispatcher = new Dispatcher(addresses, config.mtu, link, counters, forwarders);
 * const services = startDatagramServices({ shim, config, addresses, tx: dispatcher.tx, counters, tapFd });
 * Object.assign(forwarders, services.forwarders);
 * await services.stop();
 * ```
 */
export function startDatagramServices(options: DatagramServicesOptions): DatagramServices {
  const { shim, config, addresses, tx, counters, tapFd } = options;
  const nat = DatagramNat.start({
    shim,
    addresses,
    tx,
    counters,
    disableHostLoopback: config.disableHostLoopback,
    disableDns: config.disableDns,
    outboundAddr: config.outboundAddr,
  });
  let dns: DnsRelay | null = null;
  try {
    if (!config.disableDns) dns = DnsRelay.start({ shim, config, tapFd, counters });
  } catch (error) {
    nat.stop();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    forwarders: dns
      ? { udp: nat.udp, icmp: nat.icmp, dns: dns.dns }
      : { udp: nat.udp, icmp: nat.icmp },
    nat,
    dns,
    stop() {
      stopping ??= Promise.all([nat.stop(), dns?.stop()]).then(() => {});
      return stopping;
    },
  };
}
