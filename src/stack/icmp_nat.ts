/**
 * ICMP echo from the guest to hosts other than the emulated ones, over IPv4 and IPv6, through
 * unprivileged ICMP datagram sockets ("ping sockets", `socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`
 * and `socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6)`, Linux ≥ 3.0; both allowed by the
 * `net.ipv4.ping_group_range` sysctl). Read RFC 792 (echo), RFC 1122 §3.2.2.6 and RFC 4443 §4
 * before editing. Pure logic: sockets, clock and logger are injected.
 *
 * One socket per guest echo identifier (and guest address): the kernel replaces the identifier
 * with the socket's own and delivers only the replies to it, with any sequence number; the reply
 * to the guest gets the guest's identifier back (and, for ICMPv6, a checksum over its own
 * pseudo-header), so `ping` matches it. Sequence numbers and data pass unchanged. Replies are never
 * forged: where the host forbids ping sockets, the first echo request logs one warning naming the
 * sysctl, and requests are dropped and counted (`icmp.nat_forbidden`); opening is retried at most
 * every {@link FORBIDDEN_RETRY_MS}, so a changed sysctl takes effect without a restart. Other ICMP
 * types from the guest are dropped. (slirp4netns drops all ICMPv6 echo to other hosts: "external
 * icmpv6 not supported yet".)
 *
 * IPv6 destinations: echo to fd00::2, fd00::3 and fe80::2 is answered by the dispatcher; any other
 * fd00::/64 address means the host's ::1, as for UDP and TCP (refused with ICMPv6 "no route" under
 * `--disable-host-loopback`), and its replies come from the address the guest pinged: an address
 * of fd00::/64 is never a ping socket's destination. Link-local, multicast, unspecified, loopback
 * and IPv4-mapped destinations are dropped and counted.
 *
 * ICMP errors the host gets for our echo requests (host unreachable, TTL exceeded, packet too
 * big) come back through IP_RECVERR/IPV6_RECVERR and go to the guest as errors quoting the guest's
 * own request header.
 */

import type { Addresses } from "../config.ts";
import { EACCES, EAFNOSUPPORT, EPERM, EPROTONOSUPPORT } from "../ffi/errno.ts";
import {
  formatIp,
  inIpv6Prefix,
  type IpAddress,
  IPV6_LOOPBACK,
  isIpv6,
  writeIpv4,
} from "../wire/address.ts";
import { endpointText, type FlowStats } from "./flow_stats.ts";
import { internetChecksum, pseudoHeaderSum } from "../wire/checksum.ts";
import { ETHERNET_HEADER_LEN, EthernetFrame } from "../wire/ethernet.ts";
import { ICMP, ICMP_HEADER_LEN, IcmpMessage, IcmpType } from "../wire/icmp.ts";
import {
  fillIcmpv6Checksum,
  Icmpv6Message,
  Icmpv6Type,
  Icmpv6Unreachable,
} from "../wire/icmpv6.ts";
import { IpProtocol, IPV4, Ipv4Packet, isLoopbackIpv4 } from "../wire/ipv4.ts";
import { emitIpv6Header, IPV6_HEADER_LEN, Ipv6NextHeader, Ipv6Packet } from "../wire/ipv6.ts";
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
import type { HostUdpError } from "./udp_nat.ts";

/** Idle time after which a ping socket is closed. */
export const ICMP_IDLE_MS = 60_000;
/** Ping sockets at once. */
export const MAX_ICMP_FLOWS = 256;
/** How often to try again after the host refused a ping socket. */
export const FORBIDDEN_RETRY_MS = 60_000;
/** TTL (hop limit) of echo replies relayed to the guest. */
export const ICMP_TO_GUEST_TTL = 64;
/** Largest ICMPv6 message in an IPv6 packet (no jumbograms). */
const ICMPV6_MAX_LENGTH = 65535;

/** Host ping sockets as the NAT needs them. */
export interface HostPingSockets {
  /**
   * A new ping socket of the family (4: ICMP, 6: ICMPv6); a handle, or -errno (-EACCES when
   * ping_group_range forbids it).
   */
  open(family: 4 | 6): number;
  /** Sends the ICMP message `bytes[offset, offset + length)` to `address`; count or -errno. */
  sendTo(
    handle: number,
    bytes: Uint8Array,
    offset: number,
    length: number,
    address: IpAddress,
  ): number;
  close(handle: number): void;
}

interface PingFlow {
  readonly key: number | bigint;
  readonly handle: number;
  readonly guestIp: IpAddress;
  readonly guestId: number;
  readonly guestMac: Uint8Array;
  lastUsed: number;
  /** The last destination, as the guest wrote it. */
  lastDst: IpAddress;
  readonly createdAt: number;
  /** ICMP message bytes (header and data) sent for the guest, and relayed to it. */
  bytesFromGuest: number;
  bytesToGuest: number;
}

/**
 * The ICMP echo NAT.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { Counters } from "./counters.ts";
 * import { GuestTx } from "./guest_tx.ts";
 * import { IcmpNat } from "./icmp_nat.ts";
 * import { MemoryLink } from "./memory_link.ts";
 * const addresses = deriveAddresses(0x0a000200, 24, true);
 * const counters = new Counters();
 * const nat = new IcmpNat(
 *   addresses,
 *   { disableHostLoopback: false },
 *   new GuestTx(new MemoryLink(), 1500, addresses, counters),
 *   { open: () => -13, sendTo: () => -9, close: () => {} },
 *   counters,
 *   (message) => console.warn(message),
 * );
 * nat.flows; // 0
 * ```
 */
export class IcmpNat {
  readonly #addresses: Addresses;
  readonly #disableHostLoopback: boolean;
  readonly #tx: GuestTx;
  readonly #host: HostPingSockets;
  readonly #counters: Counters;
  readonly #warn: (message: string) => void;
  readonly #flows = new Map<number | bigint, PingFlow>();
  readonly #byHandle = new Map<number, PingFlow>();
  readonly #eth = new EthernetFrame();
  readonly #ip = new Ipv4Packet();
  readonly #ip6 = new Ipv6Packet();
  readonly #icmp = new IcmpMessage();
  readonly #icmp6 = new Icmpv6Message();
  /** A rebuilt echo request: an IPv4 (20) or IPv6 (40) header and the 8-byte echo header. */
  readonly #quote = new Uint8Array(IPV6_HEADER_LEN + ICMP_HEADER_LEN);
  /** Per family (index 0: IPv4, 1: IPv6), when the host last refused a ping socket. */
  readonly #forbiddenAt = [-Infinity, -Infinity];
  #warned = false;

  constructor(
    addresses: Addresses,
    options: { disableHostLoopback: boolean },
    tx: GuestTx,
    host: HostPingSockets,
    counters: Counters,
    warn: (message: string) => void,
  ) {
    this.#addresses = addresses;
    this.#disableHostLoopback = options.disableHostLoopback;
    this.#tx = tx;
    this.#host = host;
    this.#counters = counters;
    this.#warn = warn;
  }

  /** Ping sockets open now. */
  get flows(): number {
    return this.#flows.size;
  }

  /** Every flow now, for get_stats (the host end is the last address pinged). */
  flowList(now: number): FlowStats[] {
    const out: FlowStats[] = [];
    for (const flow of this.#flows.values()) {
      out.push({
        protocol: "icmp",
        direction: "outbound",
        guest: endpointText(flow.guestIp, flow.guestId),
        host: formatIp(flow.lastDst),
        state: "open",
        bytes_from_guest: flow.bytesFromGuest,
        bytes_to_guest: flow.bytesToGuest,
        age_ms: Math.round(now - flow.createdAt),
      });
    }
    return out;
  }

  /**
   * An ICMP message from the guest to another host (the `icmp` forwarder): IPv4, or IPv6 with
   * the ICMPv6 message right behind the fixed header.
   */
  fromGuest(frame: Uint8Array, now: number): void {
    const counters = this.#counters;
    const eth = this.#eth.wrap(frame);
    if (frame[ETHERNET_HEADER_LEN] >>> 4 === 6) {
      this.#fromGuestIpv6(eth, now);
      return;
    }
    const ip = this.#ip.wrap(frame, eth.payloadOffset, eth.payloadLength);
    const icmp = this.#icmp.wrap(frame, ip.payloadOffset, ip.payloadLength);
    if (ip.check() !== "ok" || icmp.check() !== "ok") {
      counters.bump(C["icmp.truncated"]);
      return;
    }
    if (!icmp.verifyChecksum()) {
      counters.bump(C["icmp.bad_checksum"]);
      return;
    }
    if (icmp.type !== IcmpType.ECHO_REQUEST || icmp.code !== 0) {
      counters.bump(C["icmp.nat_type_dropped"]);
      return;
    }
    this.#echo(eth, ip.offset, icmp, ip.src, ip.dst, ip.dst, now);
  }

  #fromGuestIpv6(eth: EthernetFrame, now: number): void {
    const counters = this.#counters;
    const six = this.#addresses.ipv6;
    if (six === null) {
      counters.bump(C["ipv6.unsupported"]);
      return;
    }
    const ip = this.#ip6.wrap(eth.bytes, eth.payloadOffset, eth.payloadLength);
    if (ip.check() !== "ok" || ip.nextHeader !== Ipv6NextHeader.ICMPV6) {
      counters.bump(C["icmp.truncated"]);
      return;
    }
    const icmp = this.#icmp6.wrap(eth.bytes, ip.payloadOffset, ip.payloadLength);
    if (icmp.check() !== "ok") {
      counters.bump(C["icmp.truncated"]);
      return;
    }
    const src = ip.src;
    const dst = ip.dst;
    if (!icmp.verifyChecksum(pseudoHeaderSum(src, dst, Ipv6NextHeader.ICMPV6, icmp.length))) {
      counters.bump(C["icmp.bad_checksum"]);
      return;
    }
    if (icmp.type !== Icmpv6Type.ECHO_REQUEST || icmp.code !== 0) {
      counters.bump(C["icmp.nat_type_dropped"]);
      return;
    }
    const hostDst = ipv6HostDestination(dst, six, this.#disableHostLoopback);
    if (hostDst === "refused") {
      this.#unreachable(
        eth,
        ip.offset,
        dst,
        src,
        Icmpv6Type.DEST_UNREACHABLE,
        Icmpv6Unreachable.NO_ROUTE,
      );
      return;
    }
    if (hostDst === "invalid") {
      counters.bump(C["icmp.nat_bad_destination"]);
      return;
    }
    this.#echo(eth, ip.offset, icmp, src, dst, hostDst, now);
  }

  /** Sends the guest's echo request `icmp` (to `dst`) through its flow's socket to `hostDst`. */
  #echo(
    eth: EthernetFrame,
    ipOffset: number,
    icmp: IcmpMessage | Icmpv6Message,
    src: IpAddress,
    dst: IpAddress,
    hostDst: IpAddress,
    now: number,
  ): void {
    const counters = this.#counters;
    const key = isIpv6(src)
      ? (src << 16n) | BigInt(icmp.identifier)
      : src * 65536 + icmp.identifier;
    let flow = this.#flows.get(key);
    if (flow === undefined) {
      const created = this.#newFlow(key, eth, src, icmp.identifier, now);
      if (created === null) return;
      flow = created;
    }
    flow.lastUsed = now;
    flow.lastDst = dst;
    const sent = this.#host.sendTo(flow.handle, eth.bytes, icmp.offset, icmp.length, hostDst);
    if (sent >= 0) {
      flow.bytesFromGuest += icmp.length;
      counters.bump(C["icmp.nat_echo_sent"]);
      return;
    }
    counters.bump(C["icmp.nat_send_error"]);
    const code = unreachableCode(-sent, src);
    if (code >= 0) this.#unreachable(eth, ipOffset, dst, src, unreachableType(src), code);
  }

  /**
   * Answers the guest's echo request (its IP packet at `ipOffset` of `eth`, from `src` to `dst`)
   * with a destination-unreachable error of `type` and `code`, quoting the request, and counts it.
   */
  #unreachable(
    eth: EthernetFrame,
    ipOffset: number,
    dst: IpAddress,
    src: IpAddress,
    type: number,
    code: number,
  ): void {
    this.#counters.bump(C["icmp.nat_unreachable"]);
    const quoteLength = quoteLengthOf(eth.bytes, ipOffset, eth.bytes.length - ipOffset);
    sendIcmpError(
      this.#tx,
      eth.bytes,
      eth.srcOffset,
      dst,
      src,
      type,
      code,
      0,
      eth.bytes,
      ipOffset,
      quoteLength,
    );
  }

  /**
   * A message received on a ping socket from `src`: `length` bytes of ICMP (header first) are at
   * `tx.frame[IPV4_PAYLOAD_OFFSET..]`, or of ICMPv6 at `tx.frame[IPV6_PAYLOAD_OFFSET..]` for a
   * socket of an IPv6 flow.
   */
  fromHost(handle: number, src: IpAddress, length: number, now: number): void {
    const flow = this.#byHandle.get(handle);
    const frame = this.#tx.frame;
    const v6 = flow !== undefined && isIpv6(flow.guestIp);
    const at = v6 ? IPV6_PAYLOAD_OFFSET : IPV4_PAYLOAD_OFFSET;
    if (
      flow === undefined || length < 8 || length > (v6 ? ICMPV6_MAX_LENGTH : IPV4_MAX_PAYLOAD) ||
      frame[at + ICMP.TYPE] !== (v6 ? Icmpv6Type.ECHO_REPLY : IcmpType.ECHO_REPLY)
    ) {
      this.#counters.bump(C["icmp.nat_type_dropped"]);
      return;
    }
    const from = this.#toGuestSource(flow, src);
    if (from === null) {
      this.#counters.bump(C["icmp.nat_type_dropped"]);
      return;
    }
    flow.lastUsed = now;
    flow.bytesToGuest += length;
    writeU16(frame, at + ICMP.IDENTIFIER, flow.guestId);
    writeU16(frame, at + ICMP.CHECKSUM, 0);
    this.#counters.bump(C["icmp.nat_echo_reply"]);
    if (v6) {
      fillIcmpv6Checksum(frame, at, length, from as bigint, flow.guestIp as bigint);
      this.#tx.sendIpv6(
        flow.guestMac,
        0,
        from as bigint,
        flow.guestIp as bigint,
        Ipv6NextHeader.ICMPV6,
        ICMP_TO_GUEST_TTL,
        0,
        length,
      );
      return;
    }
    writeU16(frame, at + ICMP.CHECKSUM, internetChecksum(frame, at, length));
    this.#tx.sendIpv4(
      flow.guestMac,
      0,
      from as number,
      flow.guestIp as number,
      IpProtocol.ICMP,
      ICMP_TO_GUEST_TTL,
      0,
      length,
    );
  }

  /**
   * An ICMP error the host received about an echo request of a flow; `sequence` is the request's
   * sequence number (from the payload the kernel gave back).
   */
  hostError(handle: number, error: HostUdpError, sequence: number): void {
    const flow = this.#byHandle.get(handle);
    if (flow === undefined || !error.fromIcmp) return;
    const guestIp = flow.guestIp;
    const v6 = isIpv6(guestIp);
    const rest = relayedErrorRest(v6, error.icmpType, error.icmpCode, error.info);
    if (rest < 0) return;
    const dst = error.dst !== null
      ? this.#toGuestSource(flow, error.dst) ?? flow.lastDst
      : flow.lastDst;
    const from = error.offender !== null ? this.#toGuestSource(flow, error.offender) ?? dst : dst;
    const quote = this.#quote;
    quote.fill(0);
    const dataLength = Math.max(0, error.payloadLength - 8);
    let at: number;
    if (v6) {
      emitIpv6Header(
        quote,
        0,
        Math.min(0xffff, ICMP_HEADER_LEN + dataLength),
        Ipv6NextHeader.ICMPV6,
        1,
        guestIp,
        dst as bigint,
      );
      at = IPV6_HEADER_LEN;
      quote[at] = Icmpv6Type.ECHO_REQUEST;
    } else {
      quote[0] = 0x45;
      writeU16(quote, IPV4.TOTAL_LENGTH, Math.min(0xffff, 28 + dataLength));
      quote[IPV4.TTL] = 1;
      quote[IPV4.PROTOCOL] = IpProtocol.ICMP;
      writeIpv4(quote, IPV4.SRC, guestIp);
      writeIpv4(quote, IPV4.DST, dst as number);
      writeU16(quote, IPV4.CHECKSUM, internetChecksum(quote, 0, 20));
      at = 20;
      quote[at] = IcmpType.ECHO_REQUEST;
    }
    writeU16(quote, at + ICMP.IDENTIFIER, flow.guestId);
    writeU16(quote, at + ICMP.SEQUENCE, sequence);
    this.#counters.bump(C["icmp.nat_unreachable"]);
    sendIcmpError(
      this.#tx,
      flow.guestMac,
      0,
      from,
      guestIp,
      error.icmpType,
      error.icmpCode,
      rest,
      quote,
      0,
      at + ICMP_HEADER_LEN,
    );
  }

  /** Closes the sockets idle for {@link ICMP_IDLE_MS}. */
  expire(now: number): void {
    for (const flow of this.#flows.values()) {
      if (now - flow.lastUsed >= ICMP_IDLE_MS) this.#end(flow);
    }
  }

  /** Closes every socket (at stop). */
  close(): void {
    for (const flow of [...this.#flows.values()]) this.#end(flow);
  }

  #newFlow(
    key: number | bigint,
    eth: EthernetFrame,
    guestIp: IpAddress,
    guestId: number,
    now: number,
  ): PingFlow | null {
    const counters = this.#counters;
    const family = isIpv6(guestIp) ? 6 : 4;
    const index = family === 6 ? 1 : 0;
    if (now - this.#forbiddenAt[index] < FORBIDDEN_RETRY_MS) {
      counters.bump(C["icmp.nat_forbidden"]);
      return null;
    }
    if (this.#flows.size >= MAX_ICMP_FLOWS) {
      const oldest = this.#flows.values().next().value!;
      if (now - oldest.lastUsed < 1000) {
        counters.bump(C["icmp.nat_flow_limit"]);
        return null;
      }
      this.#end(oldest);
    }
    const handle = this.#host.open(family);
    if (handle < 0) {
      const errno = -handle;
      if (
        errno === EACCES || errno === EPERM || errno === EPROTONOSUPPORT ||
        errno === EAFNOSUPPORT
      ) {
        this.#forbiddenAt[index] = now;
        counters.bump(C["icmp.nat_forbidden"]);
        if (!this.#warned) {
          this.#warned = true;
          this.#warn(
            "ICMP echo to hosts other than the gateway and DNS address is dropped: this host " +
              "does not allow unprivileged ping sockets for our group (sysctl " +
              'net.ipv4.ping_group_range, e.g. "0 2147483647" allows everyone); replies are ' +
              "never forged",
          );
        }
      } else {
        counters.bump(C["icmp.nat_send_error"]);
      }
      return null;
    }
    this.#forbiddenAt[index] = -Infinity;
    const flow: PingFlow = {
      key,
      handle,
      guestIp,
      guestId,
      guestMac: eth.bytes.slice(eth.srcOffset, eth.srcOffset + 6),
      lastUsed: now,
      lastDst: guestIp,
      createdAt: now,
      bytesFromGuest: 0,
      bytesToGuest: 0,
    };
    this.#flows.set(key, flow);
    this.#byHandle.set(handle, flow);
    return flow;
  }

  #end(flow: PingFlow): void {
    this.#flows.delete(flow.key);
    this.#byHandle.delete(flow.handle);
    this.#host.close(flow.handle);
  }

  /**
   * The source the guest sees for a host sender: IPv4 loopback is the gateway; IPv6 ::1 is the
   * fd00::/64 address the guest last pinged (the gateway when it pinged none), and other senders
   * that the guest could not tell from its own network are refused (null).
   */
  #toGuestSource(flow: PingFlow, address: IpAddress): IpAddress | null {
    if (!isIpv6(address)) return isLoopbackIpv4(address) ? this.#addresses.gateway : address;
    const six = this.#addresses.ipv6;
    if (six === null) return null;
    if (address === IPV6_LOOPBACK) {
      const last = flow.lastDst;
      return isIpv6(last) && inIpv6Prefix(last, six.prefix, six.prefixLength) ? last : six.gateway;
    }
    return isHostIpv6Peer(address, six) ? address : null;
  }
}
