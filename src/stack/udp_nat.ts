/**
 * UDP from the guest to any address, through host UDP sockets (RFC 768; NAT behaviour after
 * RFC 4787). Pure logic: host sockets and the clock are injected (`HostUdpSockets`, `now`), frames
 * to the guest go through a `GuestTx` of the NAT's thread.
 *
 * # Theory of operation
 *
 * A *flow* is one guest endpoint (address and port) with one host socket, like libslirp's
 * `udp_attach` per source: the same host port serves every destination the guest endpoint talks
 * to (RFC 4787 REQ-1, endpoint-independent mapping; a per-destination socket would make us a
 * "symmetric NAT", which breaks STUN and peer-to-peer media), and datagrams from any sender reach
 * the guest (endpoint-independent filtering, as libslirp). Replies carry the sender as source, so
 * the guest sees the real peer; host loopback senders appear as the gateway.
 *
 * Destinations: the gateway means the host's 127.0.0.1 (refused with ICMP net unreachable under
 * `--disable-host-loopback`, as libslirp answers a failed sendto); the DNS address means the
 * resolver (port 53 is taken by the DNS worker before it gets here; other ports are dropped, as
 * slirp4netns does) unless `--disable-dns`, when it is NAT-ed like any address. The gateway's
 * port 69 is TFTP, which slirp4netns disables: RRQ/WRQ get a fixed "Access violation" error and
 * anything else is dropped, so no TFTP parser runs (CVE-2021-3595, CVE-2020-7211). Broadcasts and
 * multicasts never get here (the dispatcher drops and counts them).
 *
 * Flows expire after {@link UDP_IDLE_MS} without traffic either way (RFC 4787 REQ-5: at least two
 * minutes), or {@link UDP_DNS_IDLE_MS} when every datagram the guest sent went to port 53
 * (libslirp's SO_EXPIREFAST). At most {@link MAX_UDP_FLOWS}: a new flow then replaces the least
 * recently used one if that one has been idle for {@link UDP_EVICT_IDLE_MS}, else it is refused.
 *
 * ICMP errors the host receives for a flow's datagrams (IP_RECVERR: port and host unreachable,
 * time exceeded, ...) become ICMP errors to the guest that quote a header rebuilt from the flow
 * (the guest's addresses and ports), so `dig` against a closed port fails at once.
 */

import type { Addresses } from "../config.ts";
import {
  EAGAIN,
  ECONNREFUSED,
  EHOSTUNREACH,
  EMSGSIZE,
  ENETUNREACH,
  ENOBUFS,
} from "../ffi/errno.ts";
import { internetChecksum } from "../wire/checksum.ts";
import { EthernetFrame } from "../wire/ethernet.ts";
import { emitIcmpError, IcmpType, IcmpUnreachable } from "../wire/icmp.ts";
import {
  IpProtocol,
  IPV4,
  Ipv4Packet,
  isLoopbackIpv4,
  isMulticastIpv4,
  isThisNetworkIpv4,
  LIMITED_BROADCAST,
} from "../wire/ipv4.ts";
import { UDP_HEADER_LEN, udpChecksum, UdpDatagram } from "../wire/udp.ts";
import { writeIpv4 } from "../wire/address.ts";
import { writeU16 } from "../wire/view.ts";
import { C, type Counters } from "./counters.ts";
import { type GuestTx, IPV4_MAX_PAYLOAD, IPV4_PAYLOAD_OFFSET } from "./guest_tx.ts";

/** Where the payload of a datagram for the guest goes in `GuestTx.frame`: read host data there. */
export const UDP_PAYLOAD_OFFSET = IPV4_PAYLOAD_OFFSET + UDP_HEADER_LEN;
/** Largest UDP payload in an IPv4 datagram. */
export const UDP_MAX_PAYLOAD = IPV4_MAX_PAYLOAD - UDP_HEADER_LEN;
/** Idle time after which a flow ends (libslirp: 240 s; RFC 4787 REQ-5: ≥ 120 s). */
export const UDP_IDLE_MS = 180_000;
/** Idle time of a flow that only ever sent to port 53 (libslirp SO_EXPIREFAST: 10 s). */
export const UDP_DNS_IDLE_MS = 10_000;
/** Flows at once (each holds a host socket). */
export const MAX_UDP_FLOWS = 4096;
/** A full table may replace its least recently used flow only if it was idle this long. */
export const UDP_EVICT_IDLE_MS = 10_000;
/** TTL of datagrams to the guest (libslirp IPDEFTTL). */
export const UDP_TO_GUEST_TTL = 64;
/** The TFTP port (RFC 1350). */
export const TFTP_PORT = 69;
/** The DNS port. */
const DNS_PORT = 53;

/** localhost: where the gateway address leads on the host. */
const HOST_LOOPBACK = 0x7f000001;
/** libslirp's reply to TFTP read and write requests: ERROR, code 2, "Access violation". */
const TFTP_ACCESS_VIOLATION = new Uint8Array([
  0,
  5,
  0,
  2,
  ...new TextEncoder().encode("Access violation"),
  0,
]);

/** Host UDP sockets as the NAT needs them. Handles are small integers (the fds). */
export interface HostUdpSockets {
  /** A new socket (non-blocking, bound to the outbound address if any); a handle, or -errno. */
  open(): number;
  /** Sends `bytes[offset, offset + length)` to `address:port`; the count, or -errno. */
  sendTo(
    handle: number,
    bytes: Uint8Array,
    offset: number,
    length: number,
    address: number,
    port: number,
  ): number;
  close(handle: number): void;
}

/** What the host reported about a datagram of a flow (the IP_RECVERR error queue). */
export interface HostUdpError {
  /** The errno the error maps to (ECONNREFUSED, EHOSTUNREACH, ...). */
  errno: number;
  /** True when an ICMP message caused it (SO_EE_ORIGIN_ICMP), with its type and code. */
  fromIcmp: boolean;
  icmpType: number;
  icmpCode: number;
  /** ICMP "info": the next-hop MTU for fragmentation needed. */
  info: number;
  /** Who sent the ICMP message (0 if unknown). */
  offender: number;
  /** The destination of the datagram the error is about, as the host socket sent it. */
  dst: number;
  dstPort: number;
  /** Bytes of that datagram's payload the kernel gave back. */
  payloadLength: number;
}

/** Options of the NAT, from the command line. */
export interface UdpNatOptions {
  /** `--disable-host-loopback`: the gateway does not lead to 127.0.0.1. */
  disableHostLoopback: boolean;
  /** `--disable-dns`: the DNS address is NAT-ed like any other. */
  disableDns: boolean;
}

interface Flow {
  readonly key: number;
  readonly handle: number;
  readonly guestIp: number;
  readonly guestPort: number;
  readonly guestMac: Uint8Array;
  lastUsed: number;
  /** Every datagram from the guest so far went to port 53. */
  dnsOnly: boolean;
  /** The last destination (as the guest wrote it), for errors without one. */
  lastDst: number;
  lastDstPort: number;
}

/**
 * The UDP NAT.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { Counters } from "./counters.ts";
 * import { GuestTx } from "./guest_tx.ts";
 * import { MemoryLink } from "./memory_link.ts";
 * import { UdpNat } from "./udp_nat.ts";
 * const addresses = deriveAddresses(0x0a000200, 24);
 * const counters = new Counters();
 * const nat = new UdpNat(
 *   addresses,
 *   { disableHostLoopback: false, disableDns: false },
 *   new GuestTx(new MemoryLink(), 1500, addresses, counters),
 *   { open: () => 7, sendTo: (_h, _b, _o, length) => length, close: () => {} },
 *   counters,
 * );
 * nat.flows; // 0
 * ```
 */
export class UdpNat {
  readonly #addresses: Addresses;
  readonly #options: UdpNatOptions;
  readonly #tx: GuestTx;
  readonly #host: HostUdpSockets;
  readonly #counters: Counters;
  /** By key (guest address × 65536 + port), in approximate least-recently-used order. */
  readonly #flows = new Map<number, Flow>();
  readonly #byHandle = new Map<number, Flow>();
  readonly #eth = new EthernetFrame();
  readonly #ip = new Ipv4Packet();
  readonly #udp = new UdpDatagram();
  readonly #quote = new Uint8Array(28);
  /**
   * The port forward flow a guest datagram answers (`HostForwards.flowForGuestReply`), if any;
   * set when an API socket runs.
   */
  forwardFlow:
    | ((
      guestAddr: number,
      guestPort: number,
      dstAddr: number,
      dstPort: number,
      now: number,
    ) => { sendToClient(payload: Uint8Array): number } | undefined)
    | null = null;

  constructor(
    addresses: Addresses,
    options: UdpNatOptions,
    tx: GuestTx,
    host: HostUdpSockets,
    counters: Counters,
  ) {
    this.#addresses = addresses;
    this.#options = options;
    this.#tx = tx;
    this.#host = host;
    this.#counters = counters;
  }

  /** Flows open now. */
  get flows(): number {
    return this.#flows.size;
  }

  /**
   * A UDP datagram from the guest (the `udp` forwarder): a checked IPv4 packet at offset 14 of
   * `frame`, with a checked UDP header.
   */
  fromGuest(frame: Uint8Array, now: number): void {
    const counters = this.#counters;
    const eth = this.#eth.wrap(frame);
    const ip = this.#ip.wrap(frame, eth.payloadOffset, eth.payloadLength);
    const udp = this.#udp.wrap(frame, ip.payloadOffset, ip.payloadLength);
    if (ip.check() !== "ok" || udp.check() !== "ok") {
      counters.bump(C["udp.truncated"]);
      return;
    }
    const a = this.#addresses;
    const dst = ip.dst;
    const dstPort = udp.dstPort;
    // A reply to a port forward's client goes back through the forward's socket, before any
    // other rule (so also to the gateway address with --disable-host-loopback).
    const forwardFlow = this.forwardFlow?.(ip.src, udp.srcPort, dst, dstPort, now);
    if (forwardFlow !== undefined) {
      const payload = frame.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength);
      counters.bump(
        forwardFlow.sendToClient(payload) >= 0 ? C["udp.forward_reply"] : C["udp.nat_send_error"],
      );
      return;
    }
    let hostDst = dst;
    if (dst === a.gateway) {
      if (dstPort === TFTP_PORT) {
        this.#tftp(eth, ip, udp);
        return;
      }
      if (this.#options.disableHostLoopback) {
        counters.bump(C["udp.nat_host_loopback_refused"]);
        this.#icmpToGuest(eth, ip, IcmpType.DEST_UNREACHABLE, IcmpUnreachable.NET, dst);
        return;
      }
      hostDst = HOST_LOOPBACK;
    } else if (dst === a.dns && !this.#options.disableDns) {
      // Port 53 went to the DNS worker; slirp4netns drops the other ports silently.
      counters.bump(C["udp.dns_other_port"]);
      return;
    }

    const key = ip.src * 65536 + udp.srcPort;
    let flow = this.#flows.get(key);
    if (flow === undefined) {
      const created = this.#newFlow(key, eth, ip.src, udp.srcPort, now);
      if (created === null) return;
      flow = created;
    } else if (now - flow.lastUsed >= 1000) {
      // Keep the map roughly in use order without a delete and set per datagram.
      this.#flows.delete(key);
      this.#flows.set(key, flow);
    }
    flow.lastUsed = now;
    flow.dnsOnly &&= dstPort === DNS_PORT;
    flow.lastDst = dst;
    flow.lastDstPort = dstPort;
    const sent = this.#host.sendTo(
      flow.handle,
      frame,
      udp.payloadOffset,
      udp.payloadLength,
      hostDst,
      dstPort,
    );
    if (sent >= 0) {
      counters.bump(C["udp.nat_sent"]);
      return;
    }
    counters.bump(C["udp.nat_send_error"]);
    // libslirp answers a failed sendto with ICMP unreachable; a full buffer is just a loss.
    const code = sendErrorCode(-sent);
    if (code >= 0) this.#icmpToGuest(eth, ip, IcmpType.DEST_UNREACHABLE, code, dst);
  }

  /**
   * A datagram received on a flow's host socket: its `length` payload bytes are already at
   * `tx.frame[UDP_PAYLOAD_OFFSET..]`, sent by `src:srcPort`.
   */
  fromHost(handle: number, src: number, srcPort: number, length: number, now: number): void {
    const counters = this.#counters;
    const flow = this.#byHandle.get(handle);
    if (flow === undefined || length > UDP_MAX_PAYLOAD || length < 0) {
      counters.bump(C["udp.nat_reply_dropped"]);
      return;
    }
    const guestSrc = this.#toGuestSource(src);
    if (guestSrc === null) {
      counters.bump(C["udp.nat_reply_dropped"]);
      return;
    }
    flow.lastUsed = now;
    counters.bump(C["udp.nat_received"]);
    this.sendToGuest(flow.guestMac, 0, guestSrc, srcPort, flow.guestIp, flow.guestPort, length);
  }

  /**
   * Sends the `length` payload bytes already at `tx.frame[UDP_PAYLOAD_OFFSET..]` to the guest
   * as a datagram from `src:srcPort` to `dst:dstPort`, to the MAC at `mac[macOffset..]`.
   */
  sendToGuest(
    mac: Uint8Array,
    macOffset: number,
    src: number,
    srcPort: number,
    dst: number,
    dstPort: number,
    length: number,
  ): void {
    const frame = this.#tx.frame;
    const udpLength = UDP_HEADER_LEN + length;
    const at = IPV4_PAYLOAD_OFFSET;
    writeU16(frame, at, srcPort);
    writeU16(frame, at + 2, dstPort);
    writeU16(frame, at + 4, udpLength);
    writeU16(frame, at + 6, 0);
    writeU16(frame, at + 6, udpChecksum(frame, at, udpLength, src, dst));
    this.#tx.sendIpv4(mac, macOffset, src, dst, IpProtocol.UDP, UDP_TO_GUEST_TTL, 0, udpLength);
  }

  /** An error the host reported for a datagram of a flow. */
  hostError(handle: number, error: HostUdpError): void {
    const flow = this.#byHandle.get(handle);
    if (flow === undefined) return;
    let type: number;
    let code: number;
    let info = 0;
    if (error.fromIcmp) {
      type = error.icmpType;
      code = error.icmpCode;
      if (type === IcmpType.DEST_UNREACHABLE && code === IcmpUnreachable.FRAGMENTATION_NEEDED) {
        info = error.info & 0xffff;
      } else if (type !== IcmpType.DEST_UNREACHABLE && type !== IcmpType.TIME_EXCEEDED) {
        return;
      }
    } else {
      // A local error (e.g. loopback: no ICMP behind ECONNREFUSED is reported as local origin).
      code = sendErrorCode(error.errno);
      if (code < 0) return;
      type = IcmpType.DEST_UNREACHABLE;
    }
    const dst = error.dst !== 0 ? this.#toGuestSource(error.dst) ?? flow.lastDst : flow.lastDst;
    const dstPort = error.dst !== 0 ? error.dstPort : flow.lastDstPort;
    const from = error.offender !== 0 ? this.#toGuestSource(error.offender) ?? dst : dst;
    // The quoted datagram: the guest's header as the host sent it, and the UDP header.
    const quote = this.#quote;
    const udpLength = UDP_HEADER_LEN + Math.max(0, error.payloadLength);
    quote[0] = 0x45;
    quote[1] = 0;
    writeU16(quote, IPV4.TOTAL_LENGTH, Math.min(0xffff, 20 + udpLength));
    writeU16(quote, IPV4.IDENTIFICATION, 0);
    writeU16(quote, IPV4.FLAGS_FRAGMENT, 0);
    quote[IPV4.TTL] = UDP_TO_GUEST_TTL;
    quote[IPV4.PROTOCOL] = IpProtocol.UDP;
    writeU16(quote, IPV4.CHECKSUM, 0);
    writeIpv4(quote, IPV4.SRC, flow.guestIp);
    writeIpv4(quote, IPV4.DST, dst);
    writeU16(quote, IPV4.CHECKSUM, internetChecksum(quote, 0, 20));
    writeU16(quote, 20, flow.guestPort);
    writeU16(quote, 22, dstPort);
    writeU16(quote, 24, Math.min(0xffff, udpLength));
    writeU16(quote, 26, 0);
    this.#counters.bump(C["udp.nat_icmp_error"]);
    const n = emitIcmpError(this.#tx.frame, IPV4_PAYLOAD_OFFSET, type, code, info, quote, 0, 28);
    this.#tx.sendIpv4(flow.guestMac, 0, from, flow.guestIp, IpProtocol.ICMP, 64, 0, n);
  }

  /** Ends the flows idle for too long. */
  expire(now: number): void {
    for (const flow of this.#flows.values()) {
      const idle = now - flow.lastUsed;
      if (idle >= (flow.dnsOnly ? UDP_DNS_IDLE_MS : UDP_IDLE_MS)) {
        this.#counters.bump(C["udp.nat_flow_expired"]);
        this.#end(flow);
      }
    }
  }

  /** Closes every flow's socket (at stop). */
  close(): void {
    for (const flow of [...this.#flows.values()]) this.#end(flow);
  }

  #newFlow(
    key: number,
    eth: EthernetFrame,
    guestIp: number,
    guestPort: number,
    now: number,
  ): Flow | null {
    const counters = this.#counters;
    if (this.#flows.size >= MAX_UDP_FLOWS) {
      const oldest = this.#flows.values().next().value!;
      if (now - oldest.lastUsed < UDP_EVICT_IDLE_MS) {
        counters.bump(C["udp.nat_flow_limit"]);
        return null;
      }
      counters.bump(C["udp.nat_flow_expired"]);
      this.#end(oldest);
    }
    const handle = this.#host.open();
    if (handle < 0) {
      counters.bump(C["udp.nat_socket_error"]);
      return null;
    }
    const flow: Flow = {
      key,
      handle,
      guestIp,
      guestPort,
      guestMac: eth.bytes.slice(eth.srcOffset, eth.srcOffset + 6),
      lastUsed: now,
      dnsOnly: true,
      lastDst: 0,
      lastDstPort: 0,
    };
    this.#flows.set(key, flow);
    this.#byHandle.set(handle, flow);
    counters.bump(C["udp.nat_flow_created"]);
    return flow;
  }

  #end(flow: Flow): void {
    this.#flows.delete(flow.key);
    this.#byHandle.delete(flow.handle);
    this.#host.close(flow.handle);
  }

  /**
   * The source address the guest sees for a host sender: loopback becomes the gateway (unless
   * host loopback is disabled, then it is refused); impossible sources are refused (null).
   */
  #toGuestSource(address: number): number | null {
    if (isLoopbackIpv4(address)) {
      return this.#options.disableHostLoopback ? null : this.#addresses.gateway;
    }
    if (
      isThisNetworkIpv4(address) || isMulticastIpv4(address) || address === LIMITED_BROADCAST
    ) {
      return null;
    }
    return address;
  }

  /** TFTP to the gateway: "Access violation" for read and write requests, else nothing. */
  #tftp(eth: EthernetFrame, ip: Ipv4Packet, udp: UdpDatagram): void {
    const bytes = udp.bytes;
    const at = udp.payloadOffset;
    const opcode = udp.payloadLength >= 2 ? (bytes[at] << 8) | bytes[at + 1] : 0;
    if (opcode !== 1 && opcode !== 2) {
      this.#counters.bump(C["udp.tftp_dropped"]);
      return;
    }
    this.#counters.bump(C["udp.tftp_refused"]);
    const frame = this.#tx.frame;
    const length = TFTP_ACCESS_VIOLATION.length;
    frame.set(TFTP_ACCESS_VIOLATION, UDP_PAYLOAD_OFFSET);
    const udpLength = UDP_HEADER_LEN + length;
    writeU16(frame, IPV4_PAYLOAD_OFFSET, TFTP_PORT);
    writeU16(frame, IPV4_PAYLOAD_OFFSET + 2, udp.srcPort);
    writeU16(frame, IPV4_PAYLOAD_OFFSET + 4, udpLength);
    writeU16(frame, IPV4_PAYLOAD_OFFSET + 6, 0);
    writeU16(
      frame,
      IPV4_PAYLOAD_OFFSET + 6,
      udpChecksum(frame, IPV4_PAYLOAD_OFFSET, udpLength, ip.dst, ip.src),
    );
    this.#tx.sendIpv4(
      eth.bytes,
      eth.srcOffset,
      ip.dst,
      ip.src,
      IpProtocol.UDP,
      UDP_TO_GUEST_TTL,
      0,
      udpLength,
    );
  }

  /**
   * An ICMP error to the guest about its datagram `ip` (RFC 1122 §3.2.2: quote the IP header and
   * 8 bytes), from `from`.
   */
  #icmpToGuest(eth: EthernetFrame, ip: Ipv4Packet, type: number, code: number, from: number): void {
    const quoteLength = Math.min(ip.headerLength + 8, ip.totalLength);
    const n = emitIcmpError(
      this.#tx.frame,
      IPV4_PAYLOAD_OFFSET,
      type,
      code,
      0,
      ip.bytes,
      ip.offset,
      quoteLength,
    );
    this.#counters.bump(C["udp.nat_icmp_error"]);
    this.#tx.sendIpv4(eth.bytes, eth.srcOffset, from, ip.src, IpProtocol.ICMP, 64, 0, n);
  }
}

/**
 * The ICMP unreachable code for a failed send or a local error, or -1 when the guest should hear
 * nothing (a full buffer, EAGAIN: a loss like any other).
 */
export function sendErrorCode(errno: number): number {
  switch (errno) {
    case ECONNREFUSED:
      return IcmpUnreachable.PORT;
    case EHOSTUNREACH:
      return IcmpUnreachable.HOST;
    case ENETUNREACH:
      return IcmpUnreachable.NET;
    case EAGAIN:
    case ENOBUFS:
    case EMSGSIZE: // a local path MTU report: the kernel fragments the next one
      return -1;
    default:
      return IcmpUnreachable.NET;
  }
}
