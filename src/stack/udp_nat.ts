/**
 * UDP from the guest to any address, over IPv4 and IPv6, through host UDP sockets of the same
 * family (RFC 768; NAT behaviour after RFC 4787). Pure logic: host sockets and the clock are
 * injected (`HostUdpSockets`, `now`), frames to the guest go through a `GuestTx` of the NAT's
 * thread.
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
 * Destinations (IPv4): the gateway means the host's 127.0.0.1 (refused with ICMP net unreachable
 * under `--disable-host-loopback`, as libslirp answers a failed sendto); the DNS address means the
 * resolver (port 53 is taken by the DNS worker before it gets here; other ports are dropped, as
 * slirp4netns does) unless `--disable-dns`, when it is NAT-ed like any address. The gateway's
 * port 69 is TFTP, which slirp4netns disables: RRQ/WRQ get a fixed "Access violation" error and
 * anything else is dropped, so no TFTP parser runs (CVE-2021-3595, CVE-2020-7211). Broadcasts and
 * multicasts never get here (the dispatcher drops and counts them).
 *
 * Destinations (IPv6, libslirp's `sotranslate_out`, stricter): every fd00::/64 address means the
 * host's ::1 (refused with ICMPv6 "no route" under `--disable-host-loopback`), except the DNS
 * address fd00::3, whose other ports are dropped (with `--disable-dns` it means ::1 too); port 69
 * of fd00::2 is TFTP as above. An address of fd00::/64 is never a host socket's destination: the
 * machine's own interfaces may carry such addresses. Link-local, multicast, unspecified, loopback
 * and IPv4-mapped destinations are dropped and counted; anything else is sent to as it is. Replies
 * from ::1 come from the fd00::/64 address the guest last sent to on that port (fd00::2 by
 * default), so a connected guest socket takes them.
 *
 * Flows expire after {@link UDP_IDLE_MS} without traffic either way (RFC 4787 REQ-5: at least two
 * minutes), or {@link UDP_DNS_IDLE_MS} when every datagram the guest sent went to port 53
 * (libslirp's SO_EXPIREFAST). At most {@link MAX_UDP_FLOWS}: a new flow then replaces the least
 * recently used one if that one has been idle for {@link UDP_EVICT_IDLE_MS}, else it is refused.
 *
 * ICMP errors the host receives for a flow's datagrams (IP_RECVERR / IPV6_RECVERR: port and host
 * unreachable, time exceeded, packet too big, ...) become ICMP or ICMPv6 errors to the guest that
 * quote a header rebuilt from the flow (the guest's addresses and ports), so `dig` against a
 * closed port fails at once. Replies above the MTU are fragmented by `GuestTx`, in either family.
 */

import type { Addresses } from "../config.ts";
import { ETHERNET_HEADER_LEN, EthernetFrame } from "../wire/ethernet.ts";
import { IcmpType, IcmpUnreachable } from "../wire/icmp.ts";
import { Icmpv6Type, Icmpv6Unreachable } from "../wire/icmpv6.ts";
import { type IpAddress, IPV6_LOOPBACK, isIpv6, writeIpv4 } from "../wire/address.ts";
import { endpointText, type FlowStats } from "./flow_stats.ts";
import { internetChecksum } from "../wire/checksum.ts";
import {
  IpProtocol,
  IPV4,
  Ipv4Packet,
  isLoopbackIpv4,
  isMulticastIpv4,
  isThisNetworkIpv4,
  LIMITED_BROADCAST,
} from "../wire/ipv4.ts";
import { emitIpv6Header, IPV6_HEADER_LEN, Ipv6NextHeader, Ipv6Packet } from "../wire/ipv6.ts";
import { UDP_HEADER_LEN, udpChecksum, UdpDatagram } from "../wire/udp.ts";
import { writeU16 } from "../wire/view.ts";
import { C, type Counters } from "./counters.ts";
import { ipv6HostDestination, isHostIpv6Peer } from "./ipv6_destination.ts";
import {
  type GuestTx,
  IPV4_MAX_PAYLOAD,
  IPV4_PAYLOAD_OFFSET,
  IPV6_PAYLOAD_OFFSET,
} from "./guest_tx.ts";
import {
  quoteLengthOf,
  relayedErrorRest,
  sendIcmpError,
  unreachableCode,
  unreachableType,
} from "./icmp_error_tx.ts";

/** Where the payload of an IPv4 datagram for the guest goes in `GuestTx.frame`. */
export const UDP_IPV4_PAYLOAD_OFFSET = IPV4_PAYLOAD_OFFSET + UDP_HEADER_LEN;
/** Where the payload of an IPv6 datagram for the guest goes in `GuestTx.frame`. */
export const UDP_IPV6_PAYLOAD_OFFSET = IPV6_PAYLOAD_OFFSET + UDP_HEADER_LEN;
/** Largest UDP payload in an IPv4 datagram. */
export const UDP_IPV4_MAX_PAYLOAD = IPV4_MAX_PAYLOAD - UDP_HEADER_LEN;
/** Largest UDP payload in an IPv6 packet (no jumbograms): 65535 − 8. */
export const UDP_IPV6_MAX_PAYLOAD = 65535 - UDP_HEADER_LEN;

/** Where the payload of a datagram for the guest at `address` goes in `GuestTx.frame`. */
export function udpPayloadOffsetOf(address: IpAddress): number {
  return isIpv6(address) ? UDP_IPV6_PAYLOAD_OFFSET : UDP_IPV4_PAYLOAD_OFFSET;
}

/** Idle time after which a flow ends (libslirp: 240 s; RFC 4787 REQ-5: ≥ 120 s). */
export const UDP_IDLE_MS = 180_000;
/** Idle time of a flow that only ever sent to port 53 (libslirp SO_EXPIREFAST: 10 s). */
export const UDP_DNS_IDLE_MS = 10_000;
/** Flows at once (each holds a host socket). */
export const MAX_UDP_FLOWS = 4096;
/** A full table may replace its least recently used flow only if it was idle this long. */
export const UDP_EVICT_IDLE_MS = 10_000;
/** TTL (hop limit) of datagrams to the guest (libslirp IPDEFTTL). */
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
  /**
   * A new socket of the family (4 or 6), non-blocking, bound to that family's outbound address
   * if any; a handle, or -errno.
   */
  open(family: 4 | 6): number;
  /** Sends `bytes[offset, offset + length)` to `address:port`; the count, or -errno. */
  sendTo(
    handle: number,
    bytes: Uint8Array,
    offset: number,
    length: number,
    address: IpAddress,
    port: number,
  ): number;
  close(handle: number): void;
}

/** What the host reported about a datagram of a flow (the IP_RECVERR/IPV6_RECVERR queue). */
export interface HostUdpError {
  /** The errno the error maps to (ECONNREFUSED, EHOSTUNREACH, ...). */
  errno: number;
  /**
   * True when an ICMP or ICMPv6 message caused it (SO_EE_ORIGIN_ICMP/ICMP6), with its type and
   * code (of the socket's family).
   */
  fromIcmp: boolean;
  icmpType: number;
  icmpCode: number;
  /** ICMP "info": the next-hop MTU for fragmentation needed / packet too big. */
  info: number;
  /** Who sent the ICMP message; null if unknown. */
  offender: IpAddress | null;
  /** The destination of the datagram the error is about, as the host socket sent it; or null. */
  dst: IpAddress | null;
  dstPort: number;
  /** Bytes of that datagram's payload the kernel gave back. */
  payloadLength: number;
}

/** Options of the NAT, from the command line. */
export interface UdpNatOptions {
  /** `--disable-host-loopback`: the gateway does not lead to 127.0.0.1 (nor fd00::/64 to ::1). */
  disableHostLoopback: boolean;
  /** `--disable-dns`: the DNS address is NAT-ed like any other. */
  disableDns: boolean;
}

interface Flow {
  /** IPv4: address × 65536 + port (a number); IPv6: address << 16 | port (a bigint). */
  readonly key: number | bigint;
  readonly handle: number;
  readonly guestIp: IpAddress;
  readonly guestPort: number;
  readonly guestMac: Uint8Array;
  lastUsed: number;
  /** Every datagram from the guest so far went to port 53. */
  dnsOnly: boolean;
  /** The last destination (as the guest wrote it), for errors without one. */
  lastDst: IpAddress;
  lastDstPort: number;
  /**
   * IPv6: per port of the host's ::1, the fd00::/64 address other than the gateway the guest
   * last sent to there (replies come from it); null while there is none.
   */
  loopbackAliases: Map<number, bigint> | null;
  readonly createdAt: number;
  /** Payload bytes sent for the guest, and relayed to it. */
  bytesFromGuest: number;
  bytesToGuest: number;
}

/** The flow key of a guest endpoint. */
function flowKey(address: IpAddress, port: number): number | bigint {
  return isIpv6(address) ? (address << 16n) | BigInt(port) : address * 65536 + port;
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
 * const addresses = deriveAddresses(0x0a000200, 24, true);
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
  /** By key (see {@link Flow.key}), in approximate least-recently-used order. */
  readonly #flows = new Map<number | bigint, Flow>();
  readonly #byHandle = new Map<number, Flow>();
  readonly #eth = new EthernetFrame();
  readonly #ip = new Ipv4Packet();
  readonly #ip6 = new Ipv6Packet();
  readonly #udp = new UdpDatagram();
  /** A rebuilt offending datagram: an IPv4 (20) or IPv6 (40) header and the UDP header. */
  readonly #quote = new Uint8Array(IPV6_HEADER_LEN + UDP_HEADER_LEN);
  /**
   * The port forward flow a guest datagram answers (`HostForwards.flowForGuestReply`), if any;
   * set when an API socket runs.
   */
  forwardFlow:
    | ((
      guestAddr: IpAddress,
      guestPort: number,
      dstAddr: IpAddress,
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

  /** Every flow now, for get_stats (the host end is the last destination). */
  flowList(now: number): FlowStats[] {
    const out: FlowStats[] = [];
    for (const flow of this.#flows.values()) {
      out.push({
        protocol: "udp",
        direction: "outbound",
        guest: endpointText(flow.guestIp, flow.guestPort),
        host: endpointText(flow.lastDst, flow.lastDstPort),
        state: "open",
        bytes_from_guest: flow.bytesFromGuest,
        bytes_to_guest: flow.bytesToGuest,
        age_ms: Math.round(now - flow.createdAt),
      });
    }
    return out;
  }

  /**
   * A UDP datagram from the guest (the `udp` forwarder): a checked IPv4 packet, or an IPv6
   * packet with the UDP header right behind the fixed header, at offset 14 of `frame`.
   */
  fromGuest(frame: Uint8Array, now: number): void {
    const counters = this.#counters;
    const eth = this.#eth.wrap(frame);
    if (frame[ETHERNET_HEADER_LEN] >>> 4 === 6) {
      this.#fromGuestIpv6(eth, now);
      return;
    }
    const ip = this.#ip.wrap(frame, eth.payloadOffset, eth.payloadLength);
    const udp = this.#udp.wrap(frame, ip.payloadOffset, ip.payloadLength);
    if (ip.check() !== "ok" || udp.check() !== "ok") {
      counters.bump(C["udp.truncated"]);
      return;
    }
    const a = this.#addresses;
    const dst = ip.dst;
    const dstPort = udp.dstPort;
    if (this.#replyToForward(udp, ip.src, dst, now)) return;
    let hostDst = dst;
    if (dst === a.gateway) {
      if (dstPort === TFTP_PORT) {
        this.#tftp(eth, udp, ip.src, dst);
        return;
      }
      if (this.#options.disableHostLoopback) {
        counters.bump(C["udp.nat_host_loopback_refused"]);
        this.#icmpToGuest(
          eth,
          ip.offset,
          IcmpType.DEST_UNREACHABLE,
          IcmpUnreachable.NET,
          dst,
          ip.src,
        );
        return;
      }
      hostDst = HOST_LOOPBACK;
    } else if (dst === a.dns && !this.#options.disableDns) {
      // Port 53 went to the DNS worker; slirp4netns drops the other ports silently.
      counters.bump(C["udp.dns_other_port"]);
      return;
    }
    this.#send(eth, ip.offset, udp, ip.src, dst, hostDst, now);
  }

  /**
   * Sends a reply to a port forward's client back through the forward's socket; false when the
   * datagram is none. Asked before any other rule (so also to the gateway address with
   * --disable-host-loopback).
   */
  #replyToForward(udp: UdpDatagram, src: IpAddress, dst: IpAddress, now: number): boolean {
    const flow = this.forwardFlow?.(src, udp.srcPort, dst, udp.dstPort, now);
    if (flow === undefined) return false;
    const payload = udp.bytes.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength);
    this.#counters.bump(
      flow.sendToClient(payload) >= 0 ? C["udp.forward_reply"] : C["udp.nat_send_error"],
    );
    return true;
  }

  /** The IPv6 part of `fromGuest`: where the destination leads (see the module comment). */
  #fromGuestIpv6(eth: EthernetFrame, now: number): void {
    const counters = this.#counters;
    const six = this.#addresses.ipv6;
    if (six === null) {
      counters.bump(C["ipv6.unsupported"]);
      return;
    }
    const ip = this.#ip6.wrap(eth.bytes, eth.payloadOffset, eth.payloadLength);
    if (ip.check() !== "ok" || ip.nextHeader !== Ipv6NextHeader.UDP) {
      counters.bump(C["udp.truncated"]);
      return;
    }
    const udp = this.#udp.wrap(eth.bytes, ip.payloadOffset, ip.payloadLength);
    if (udp.check() !== "ok") {
      counters.bump(C["udp.truncated"]);
      return;
    }
    const src = ip.src;
    const dst = ip.dst;
    if (this.#replyToForward(udp, src, dst, now)) return;
    if (dst === six.gateway && udp.dstPort === TFTP_PORT) {
      this.#tftp(eth, udp, src, dst);
      return;
    }
    if (dst === six.dns && !this.#options.disableDns) {
      counters.bump(C["udp.dns_other_port"]);
      return;
    }
    const hostDst = ipv6HostDestination(dst, six, this.#options.disableHostLoopback);
    if (hostDst === "refused") {
      counters.bump(C["udp.nat_host_loopback_refused"]);
      this.#icmpToGuest(
        eth,
        ip.offset,
        Icmpv6Type.DEST_UNREACHABLE,
        Icmpv6Unreachable.NO_ROUTE,
        dst,
        src,
      );
      return;
    }
    if (hostDst === "invalid") {
      counters.bump(C["udp.nat_bad_destination"]);
      return;
    }
    this.#send(eth, ip.offset, udp, src, dst, hostDst, now);
  }

  /**
   * Sends the guest's datagram (IP header at `ipOffset`, UDP header `udp`) from `src` to `dst`
   * through the flow of its source, to `hostDst` on the host.
   */
  #send(
    eth: EthernetFrame,
    ipOffset: number,
    udp: UdpDatagram,
    src: IpAddress,
    dst: IpAddress,
    hostDst: IpAddress,
    now: number,
  ): void {
    const counters = this.#counters;
    const dstPort = udp.dstPort;
    const key = flowKey(src, udp.srcPort);
    let flow = this.#flows.get(key);
    if (flow === undefined) {
      const created = this.#newFlow(key, eth, src, udp.srcPort, now);
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
    if (hostDst === IPV6_LOOPBACK) {
      if (dst !== this.#addresses.ipv6!.gateway) {
        (flow.loopbackAliases ??= new Map()).set(dstPort, dst as bigint);
      } else {
        flow.loopbackAliases?.delete(dstPort);
      }
    }
    const sent = this.#host.sendTo(
      flow.handle,
      eth.bytes,
      udp.payloadOffset,
      udp.payloadLength,
      hostDst,
      dstPort,
    );
    if (sent >= 0) {
      flow.bytesFromGuest += udp.payloadLength;
      counters.bump(C["udp.nat_sent"]);
      return;
    }
    counters.bump(C["udp.nat_send_error"]);
    // libslirp answers a failed sendto with ICMP unreachable; a full buffer is just a loss.
    const code = unreachableCode(-sent, src);
    if (code >= 0) this.#icmpToGuest(eth, ipOffset, unreachableType(src), code, dst, src);
  }

  /**
   * A datagram received on a flow's host socket: its `length` payload bytes are already at
   * `tx.frame[udpPayloadOffsetOf(src)..]`, sent by `src:srcPort` (of the flow's family).
   */
  fromHost(handle: number, src: IpAddress, srcPort: number, length: number, now: number): void {
    const counters = this.#counters;
    const flow = this.#byHandle.get(handle);
    const max = flow !== undefined && isIpv6(flow.guestIp)
      ? UDP_IPV6_MAX_PAYLOAD
      : UDP_IPV4_MAX_PAYLOAD;
    if (flow === undefined || length > max || length < 0) {
      counters.bump(C["udp.nat_reply_dropped"]);
      return;
    }
    const guestSrc = this.#toGuestSource(flow, src, srcPort);
    if (guestSrc === null) {
      counters.bump(C["udp.nat_reply_dropped"]);
      return;
    }
    flow.lastUsed = now;
    flow.bytesToGuest += length;
    counters.bump(C["udp.nat_received"]);
    this.sendToGuest(flow.guestMac, 0, guestSrc, srcPort, flow.guestIp, flow.guestPort, length);
  }

  /**
   * Sends the `length` payload bytes already at `tx.frame[udpPayloadOffsetOf(dst)..]` to the
   * guest as a datagram from `src:srcPort` to `dst:dstPort` (one family), to the MAC at
   * `mac[macOffset..]`.
   */
  sendToGuest(
    mac: Uint8Array,
    macOffset: number,
    src: IpAddress,
    srcPort: number,
    dst: IpAddress,
    dstPort: number,
    length: number,
  ): void {
    const frame = this.#tx.frame;
    const udpLength = UDP_HEADER_LEN + length;
    const at = isIpv6(dst) ? IPV6_PAYLOAD_OFFSET : IPV4_PAYLOAD_OFFSET;
    writeU16(frame, at, srcPort);
    writeU16(frame, at + 2, dstPort);
    writeU16(frame, at + 4, udpLength);
    writeU16(frame, at + 6, 0);
    writeU16(frame, at + 6, udpChecksum(frame, at, udpLength, src, dst));
    this.#tx.sendIp(mac, macOffset, src, dst, IpProtocol.UDP, UDP_TO_GUEST_TTL, 0, udpLength);
  }

  /** An error the host reported for a datagram of a flow. */
  hostError(handle: number, error: HostUdpError): void {
    const flow = this.#byHandle.get(handle);
    if (flow === undefined) return;
    const guestIp = flow.guestIp;
    let type: number;
    let code: number;
    let rest = 0;
    if (error.fromIcmp) {
      type = error.icmpType;
      code = error.icmpCode;
      rest = relayedErrorRest(isIpv6(guestIp), type, code, error.info);
      if (rest < 0) return;
    } else {
      // A local error (e.g. loopback: no ICMP behind ECONNREFUSED is reported as local origin).
      code = unreachableCode(error.errno, guestIp);
      if (code < 0) return;
      type = unreachableType(guestIp);
    }
    const dstPort = error.dst !== null ? error.dstPort : flow.lastDstPort;
    const dst = error.dst !== null
      ? this.#toGuestSource(flow, error.dst, dstPort) ?? flow.lastDst
      : flow.lastDst;
    const from = error.offender !== null
      ? this.#toGuestSource(flow, error.offender, dstPort) ?? dst
      : dst;
    // The quoted datagram: the guest's header as the host sent it, and the UDP header.
    const quote = this.#quote;
    const udpLength = Math.min(0xffff, UDP_HEADER_LEN + Math.max(0, error.payloadLength));
    let at: number;
    if (isIpv6(guestIp)) {
      emitIpv6Header(
        quote,
        0,
        udpLength,
        Ipv6NextHeader.UDP,
        UDP_TO_GUEST_TTL,
        guestIp,
        dst as bigint,
      );
      at = IPV6_HEADER_LEN;
    } else {
      quote[0] = 0x45;
      quote[1] = 0;
      writeU16(quote, IPV4.TOTAL_LENGTH, Math.min(0xffff, 20 + udpLength));
      writeU16(quote, IPV4.IDENTIFICATION, 0);
      writeU16(quote, IPV4.FLAGS_FRAGMENT, 0);
      quote[IPV4.TTL] = UDP_TO_GUEST_TTL;
      quote[IPV4.PROTOCOL] = IpProtocol.UDP;
      writeU16(quote, IPV4.CHECKSUM, 0);
      writeIpv4(quote, IPV4.SRC, guestIp);
      writeIpv4(quote, IPV4.DST, dst as number);
      writeU16(quote, IPV4.CHECKSUM, internetChecksum(quote, 0, 20));
      at = 20;
    }
    writeU16(quote, at, flow.guestPort);
    writeU16(quote, at + 2, dstPort);
    writeU16(quote, at + 4, udpLength);
    writeU16(quote, at + 6, 0);
    this.#counters.bump(C["udp.nat_icmp_error"]);
    sendIcmpError(this.#tx, flow.guestMac, 0, from, guestIp, type, code, rest, quote, 0, at + 8);
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
    key: number | bigint,
    eth: EthernetFrame,
    guestIp: IpAddress,
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
    const handle = this.#host.open(isIpv6(guestIp) ? 6 : 4);
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
      loopbackAliases: null,
      createdAt: now,
      bytesFromGuest: 0,
      bytesToGuest: 0,
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
   * The source address the guest sees for a host sender `address:port` of `flow`: loopback
   * becomes the gateway (IPv6: the fd00::/64 address the guest used for that port), unless host
   * loopback is disabled, then it is refused; impossible sources, and IPv6 ones inside the
   * guest's own prefix, are refused (null).
   */
  #toGuestSource(flow: Flow, address: IpAddress, port: number): IpAddress | null {
    if (isIpv6(address)) {
      const six = this.#addresses.ipv6;
      if (six === null) return null;
      if (address === IPV6_LOOPBACK) {
        if (this.#options.disableHostLoopback) return null;
        return flow.loopbackAliases?.get(port) ?? six.gateway;
      }
      return isHostIpv6Peer(address, six) ? address : null;
    }
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

  /**
   * TFTP to the gateway (`gateway`, of the guest's family): "Access violation" for read and write
   * requests, else nothing.
   */
  #tftp(eth: EthernetFrame, udp: UdpDatagram, guest: IpAddress, gateway: IpAddress): void {
    const bytes = udp.bytes;
    const at = udp.payloadOffset;
    const opcode = udp.payloadLength >= 2 ? (bytes[at] << 8) | bytes[at + 1] : 0;
    if (opcode !== 1 && opcode !== 2) {
      this.#counters.bump(C["udp.tftp_dropped"]);
      return;
    }
    this.#counters.bump(C["udp.tftp_refused"]);
    this.#tx.frame.set(TFTP_ACCESS_VIOLATION, udpPayloadOffsetOf(guest));
    this.sendToGuest(
      eth.bytes,
      eth.srcOffset,
      gateway,
      TFTP_PORT,
      guest,
      udp.srcPort,
      TFTP_ACCESS_VIOLATION.length,
    );
  }

  /**
   * An ICMP error to the guest `to` about its datagram whose IP header is at `ipOffset` of the
   * frame (RFC 1122 §3.2.2, RFC 4443 §2.4: quoting it), from `from`.
   */
  #icmpToGuest(
    eth: EthernetFrame,
    ipOffset: number,
    type: number,
    code: number,
    from: IpAddress,
    to: IpAddress,
  ): void {
    const bytes = eth.bytes;
    const quoteLength = quoteLengthOf(bytes, ipOffset, bytes.length - ipOffset);
    this.#counters.bump(C["udp.nat_icmp_error"]);
    sendIcmpError(
      this.#tx,
      bytes,
      eth.srcOffset,
      from,
      to,
      type,
      code,
      0,
      bytes,
      ipOffset,
      quoteLength,
    );
  }
}
