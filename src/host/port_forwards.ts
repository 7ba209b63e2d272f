/**
 * The stack's side of port forwards (`ForwardSink`, src/api/host_listener.ts), on the main thread:
 * an accepted TCP client is handed to the TCP worker, which opens the connection into the guest
 * (`TcpRelay.openToGuest`); a forwarded UDP datagram is sent to the guest by the UDP NAT, whose
 * guest replies come back through `flowForGuestReply`.
 *
 * The guest's MAC: frames to the guest need it, and a forward may be used before the guest ever
 * sent a frame (with `--configure` it need not send any). As libslirp does, an unknown address is
 * asked for with an ARP request from the gateway (a neighbor solicitation for IPv6); TCP clients wait for the answer (at most
 * `RESOLVE_TIMEOUT_MS`, re-asking every `ARP_RETRY_MS`, then they are reset), a UDP datagram to an
 * unresolved guest is dropped (counted) after asking. A client also waits, in order, while the
 * TCP worker's segment ring is full (busy guest traffic), instead of being reset.
 */

import type { ForwardClient, ForwardSink, UdpForwardFlow } from "../api/host_listener.ts";
import type { Shim } from "../ffi/shim.ts";
import type { IpAddress } from "../wire/address.ts";
import { C, type Counters } from "../stack/counters.ts";
import type { GuestNeighbors } from "../stack/neighbors.ts";
import {
  UDP_IPV4_MAX_PAYLOAD,
  UDP_IPV4_PAYLOAD_OFFSET,
  type UdpNat,
  udpPayloadOffsetOf,
} from "../stack/udp_nat.ts";
import type { TcpService } from "./tcp_service.ts";

/** How long an accepted TCP client waits for the guest's MAC before it is reset. */
export const RESOLVE_TIMEOUT_MS = 3000;
/** ARP requests for one address are repeated this often while clients wait. */
export const ARP_RETRY_MS = 1000;
/** How often waiting clients are looked at (the TCP worker's ring may have been full). */
export const RETRY_MS = 20;
/** Accepted clients that may wait for a MAC at once; more are reset. */
export const MAX_WAITING = 4096;

interface Waiting {
  fd: number;
  peerAddr: IpAddress;
  peerPort: number;
  guestAddr: IpAddress;
  guestPort: number;
  deadline: number;
  forwardId: number;
}

/** What the sink needs of the running network. */
export interface PortForwardSinkOptions {
  shim: Shim;
  neighbors: GuestNeighbors;
  /** Asks for the MAC of a guest address: ARP, or a neighbor solicitation for IPv6. */
  requestMac(ip: IpAddress): void;
  tcp: TcpService;
  udpNat: UdpNat;
  /** The main thread's transmit buffer (`GuestTx.frame`), where forwarded datagrams are received. */
  frame: Uint8Array;
  counters: Counters;
  now?: () => number;
}

/**
 * The `ForwardSink` of a running network.
 *
 * @example
 * ```ts ignore
 * const sink = new PortForwardSink({ shim, neighbors, requestMac, tcp, udpNat, frame, counters });
 * const listeners = new HostForwards(shim, reactor, sink, { gateways, dhcpStart });
 * sink.close();
 * ```
 */
export class PortForwardSink implements ForwardSink {
  readonly udpBuffer: Uint8Array;
  readonly udpOffset = UDP_IPV4_PAYLOAD_OFFSET;
  readonly udpRoom = UDP_IPV4_MAX_PAYLOAD;
  readonly #options: PortForwardSinkOptions;
  readonly #now: () => number;
  readonly #mac = new Uint8Array(6);
  readonly #waiting: Waiting[] = [];
  /** Address → when it was last asked for. */
  readonly #asked = new Map<IpAddress, number>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: PortForwardSinkOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.udpBuffer = options.frame;
    options.neighbors.onLearn = (ip) => this.#learned(ip);
  }

  /** Clients waiting for a MAC now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  acceptedTcp(
    fd: number,
    client: ForwardClient,
    guestAddr: IpAddress,
    guestPort: number,
    forwardId = 0,
  ): void {
    const o = this.#options;
    const waiting: Waiting = {
      fd,
      peerAddr: client.addressForGuest,
      peerPort: client.port,
      guestAddr,
      guestPort,
      deadline: this.#now() + RESOLVE_TIMEOUT_MS,
      forwardId,
    };
    if (this.#waiting.length === 0 && this.#hand(waiting)) return;
    if (this.#waiting.length >= MAX_WAITING) {
      o.shim.shim_close_reset(fd);
      return;
    }
    this.#waiting.push(waiting);
    this.#ask(guestAddr, this.#now());
    this.#timer ??= setInterval(() => this.#tick(), RETRY_MS);
  }

  udpDatagram(flow: UdpForwardFlow, length: number, _now: number): void {
    const o = this.#options;
    if (!o.neighbors.copyMac(flow.guestAddr, this.#mac, 0)) {
      o.counters.bump(C["udp.forward_no_mac"]);
      this.#ask(flow.guestAddr, this.#now());
      return;
    }
    o.counters.bump(C["udp.forward_to_guest"]);
    const at = udpPayloadOffsetOf(flow.guestAddr);
    // Datagrams are received at the IPv4 payload offset; an IPv6 header is 20 bytes longer.
    if (at !== this.udpOffset) {
      this.udpBuffer.copyWithin(at, this.udpOffset, this.udpOffset + length);
    }
    o.udpNat.sendToGuest(
      this.#mac,
      0,
      flow.client.addressForGuest,
      flow.client.port,
      flow.guestAddr,
      flow.guestPort,
      length,
    );
  }

  /** Resets every waiting client and stops the timer. Idempotent. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const w of this.#waiting) this.#options.shim.shim_close_reset(w.fd);
    this.#waiting.length = 0;
    this.#options.neighbors.onLearn = null;
  }

  /** Hands a client to the TCP worker if the guest's MAC is known and the ring has room. */
  #hand(w: Waiting): boolean {
    const o = this.#options;
    if (!o.neighbors.copyMac(w.guestAddr, this.#mac, 0)) return false;
    return o.tcp.openToGuest(
      w.fd,
      w.peerAddr,
      w.peerPort,
      w.guestAddr,
      w.guestPort,
      this.#mac,
      0,
      w.forwardId,
    );
  }

  #ask(ip: IpAddress, now: number): void {
    if (this.#options.neighbors.has(ip)) return;
    const last = this.#asked.get(ip);
    if (last !== undefined && now - last < ARP_RETRY_MS) return;
    if (this.#asked.size > 256) this.#asked.clear();
    this.#asked.set(ip, now);
    this.#options.requestMac(ip);
  }

  #learned(ip: IpAddress): void {
    if (this.#waiting.some((w) => w.guestAddr === ip)) this.#tick();
  }

  /** Hands over who can go, resets who waited too long, asks again for the rest. */
  #tick(): void {
    const now = this.#now();
    const rest: Waiting[] = [];
    for (const w of this.#waiting) {
      // In order: a client that cannot go (the ring is full) holds back those after it.
      if (rest.length === 0 && this.#hand(w)) continue;
      if (now >= w.deadline) {
        this.#options.shim.shim_close_reset(w.fd);
      } else {
        rest.push(w);
        this.#ask(w.guestAddr, now);
      }
    }
    this.#waiting.splice(0, this.#waiting.length, ...rest);
    this.#stopIfIdle();
  }

  #stopIfIdle(): void {
    if (this.#waiting.length === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
