/**
 * Wiring of the UDP and ICMP echo NAT (IPv4 and IPv6) on the main thread: the `Reactor` over host
 * sockets of both families, the `UdpNat` and `IcmpNat` logic sending to the guest through this
 * thread's `GuestTx` (one scratch buffer, shared with port forwards), and the expiry timer. `udp`
 * and `icmp` take the frames the tap reader's dispatcher passed on (src/network.ts).
 */

import type { Addresses } from "../config.ts";
import type { Shim } from "../ffi/shim.ts";
import { log } from "../log.ts";
import type { Counters } from "../stack/counters.ts";
import {
  type GuestTx,
  IPV4_MAX_PAYLOAD,
  IPV4_PAYLOAD_OFFSET,
  IPV6_PAYLOAD_OFFSET,
} from "../stack/guest_tx.ts";
import { IcmpNat } from "../stack/icmp_nat.ts";
import {
  UDP_IPV4_MAX_PAYLOAD,
  UDP_IPV4_PAYLOAD_OFFSET,
  UDP_IPV6_MAX_PAYLOAD,
  UDP_IPV6_PAYLOAD_OFFSET,
  UdpNat,
} from "../stack/udp_nat.ts";
import { parseIpv4 } from "../wire/address.ts";
import { readU16 } from "../wire/view.ts";
import { DatagramSockets } from "./datagram_sockets.ts";
import { Reactor } from "./reactor.ts";

/** How often idle flows are looked for. */
const EXPIRY_INTERVAL_MS = 2000;

/** What the NAT needs from the network being started. */
export interface DatagramNatOptions {
  shim: Shim;
  addresses: Addresses;
  /** This thread's transmit side. */
  tx: GuestTx;
  counters: Counters;
  disableHostLoopback: boolean;
  disableDns: boolean;
  /** `--outbound-addr`, resolved to an IPv4 literal; IPv4 host sockets are bound to it. */
  outboundAddr?: string;
  /** `--outbound-addr6`, resolved; IPv6 host sockets are bound to it. */
  outboundAddr6?: bigint;
}

/**
 * The running UDP and ICMP NAT.
 *
 * @example
 * ```ts ignore
 * const nat = DatagramNat.start({ shim, addresses, tx, counters, ... });
 * nat.udp(frameFromTheReader, performance.now());
 * await nat.stop();
 * ```
 */
export class DatagramNat {
  readonly udpNat: UdpNat;
  readonly icmpNat: IcmpNat;
  /** Takes a UDP frame the dispatcher passed on. */
  readonly udp: (frame: Uint8Array, now: number) => void;
  /** Takes an ICMP frame the dispatcher passed on. */
  readonly icmp: (frame: Uint8Array, now: number) => void;
  readonly #reactor: Reactor;
  readonly #udpSockets: DatagramSockets;
  readonly #pingSockets: DatagramSockets;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #loop: Promise<void>;
  #stopping: Promise<void> | undefined;

  private constructor(options: DatagramNatOptions) {
    const { shim, addresses, tx, counters } = options;
    const bind = {
      ipv4: options.outboundAddr ? parseIpv4(options.outboundAddr) ?? 0 : 0,
      ipv6: options.outboundAddr6 ?? 0n,
    };
    this.#reactor = Reactor.create(shim);
    this.#udpSockets = new DatagramSockets(shim, this.#reactor, "udp", bind, {
      buffer: tx.frame,
      ipv4: { offset: UDP_IPV4_PAYLOAD_OFFSET, room: UDP_IPV4_MAX_PAYLOAD },
      ipv6: { offset: UDP_IPV6_PAYLOAD_OFFSET, room: UDP_IPV6_MAX_PAYLOAD },
      data: (handle, src, srcPort, length, now) =>
        this.udpNat.fromHost(handle, src, srcPort, length, now),
      error: (handle, error) => this.udpNat.hostError(handle, error),
    });
    this.#pingSockets = new DatagramSockets(shim, this.#reactor, "ping", bind, {
      buffer: tx.frame,
      ipv4: { offset: IPV4_PAYLOAD_OFFSET, room: IPV4_MAX_PAYLOAD },
      ipv6: { offset: IPV6_PAYLOAD_OFFSET, room: 65535 },
      data: (handle, src, _port, length, now) => this.icmpNat.fromHost(handle, src, length, now),
      // The payload is our echo request: its sequence number is at offset 6.
      error: (handle, error, payload) =>
        this.icmpNat.hostError(handle, error, error.payloadLength >= 8 ? readU16(payload, 6) : 0),
    });
    const udpNat = new UdpNat(
      addresses,
      { disableHostLoopback: options.disableHostLoopback, disableDns: options.disableDns },
      tx,
      this.#udpSockets,
      counters,
    );
    const icmpNat = new IcmpNat(
      addresses,
      { disableHostLoopback: options.disableHostLoopback },
      tx,
      this.#pingSockets,
      counters,
      (message) => log.warn(message),
    );
    this.udpNat = udpNat;
    this.icmpNat = icmpNat;
    this.udp = (frame, now) => udpNat.fromGuest(frame, now);
    this.icmp = (frame, now) => icmpNat.fromGuest(frame, now);
    this.#timer = setInterval(() => {
      const now = performance.now();
      udpNat.expire(now);
      icmpNat.expire(now);
    }, EXPIRY_INTERVAL_MS);
    this.#loop = this.#reactor.run();
  }

  /** Starts the reactor; throws if epoll or eventfd cannot be created. */
  static start(options: DatagramNatOptions): DatagramNat {
    return new DatagramNat(options);
  }

  /** The main thread's epoll loop (the API socket and port forward listeners share it). */
  get reactor(): Reactor {
    return this.#reactor;
  }

  /** Host sockets open now (UDP flows and ping sockets). */
  get sockets(): number {
    return this.#udpSockets.size + this.#pingSockets.size;
  }

  /** Closes every flow, stops the reactor. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    clearInterval(this.#timer);
    this.udpNat.close();
    this.icmpNat.close();
    this.#udpSockets.closeAll();
    this.#pingSockets.closeAll();
    await this.#reactor.stop();
    await this.#loop;
  }
}
