/**
 * The entry point for frames from the guest: Ethernet → ARP; IPv4 → ICMP echo to the emulated
 * hosts and DHCP; IPv6 (with `-6`) → Neighbor Discovery, router solicitations and ICMPv6 echo to
 * fd00::2, fd00::3 and fe80::2. TCP, UDP and ICMP echo to other hosts and DNS queries go to the
 * `Forwarders`; everything else is dropped and counted, one counter per reason
 * (`nat.not_implemented` where no forwarder is set).
 *
 * Checks, in order: frame length (runt, above MTU + 14 unless the tap says it is a TCP super-frame,
 * src/wire/virtio_net.ts), destination and source MAC, EtherType;
 * for IPv4: lengths, header checksum, options, fragments, source and destination address.
 * Fragments are reassembled (`Ipv4Reassembler`, with strict limits) and the whole datagram, which
 * may exceed the MTU, continues from the address checks on.
 * For IPv6 (RFC 8200): lengths, source and destination address classes (a guest source is in
 * fd00::/64, or link-local or :: for Neighbor Discovery and local echo), the extension-header
 * chain (src/wire/ipv6_ext.ts), fragments (`Ipv6Reassembler`), then the upper layer. A packet is
 * handed on with its upper-layer header right behind the fixed header: extension headers are
 * stripped by copying into a scratch buffer (rare: only the guest's MLD reports carry any).
 * Multicast the guest sends (MLD reports to ff02::16, DHCPv6, mDNS) is counted, never forwarded.
 */

import type { Addresses, Ipv6Addresses } from "../config.ts";
import { type IpAddress, readIpv6, writeIpv6 } from "../wire/address.ts";
import { finishChecksum, pseudoHeaderSumAt, sumBytes } from "../wire/checksum.ts";
import { ArpPacket } from "../wire/arp.ts";
import { DHCP_SERVER_PORT } from "../wire/dhcp.ts";
import {
  ETHERNET_HEADER_LEN,
  EthernetFrame,
  EtherType,
  isMulticastMac,
  macEquals,
} from "../wire/ethernet.ts";
import { IcmpMessage } from "../wire/icmp.ts";
import { Icmpv6Message, Icmpv6Type } from "../wire/icmpv6.ts";
import {
  IpProtocol,
  Ipv4Packet,
  isLoopbackIpv4,
  isMulticastIpv4,
  isThisNetworkIpv4,
  LIMITED_BROADCAST,
} from "../wire/ipv4.ts";
import { IPV6, IPV6_HEADER_LEN, Ipv6NextHeader, Ipv6Packet } from "../wire/ipv6.ts";
import { FRAGMENT_HEADER_LEN, FragmentHeader, Ipv6ExtensionHeaders } from "../wire/ipv6_ext.ts";
import { UdpDatagram } from "../wire/udp.ts";
import { copyBytes, writeU16 } from "../wire/view.ts";
import { RxOffload } from "../wire/virtio_net.ts";
import { ArpResponder } from "./arp.ts";
import { C, type Counters } from "./counters.ts";
import { DhcpServer } from "./dhcp_server.ts";
import type { Forwarders } from "./forwarders.ts";
import type { GuestLink } from "./guest_link.ts";
import { GuestTx, IPV6_MAX_PAYLOAD, IPV6_PAYLOAD_OFFSET } from "./guest_tx.ts";
import { IcmpEchoResponder } from "./icmp_echo.ts";
import { Ipv4Reassembler } from "./ipv4_reassembly.ts";
import { Ipv6Reassembler } from "./ipv6_reassembly.ts";
import { equal16, NeighborDiscovery } from "./ndp.ts";
import { GuestNeighbors } from "./neighbors.ts";
import { isSlirpMac } from "./slirp_mac.ts";

/** The DNS server port (RFC 1035 §4.2). */
const DNS_PORT = 53;

/** What an IPv6 source address is to the dispatcher. */
const Source6 = {
  /** ::, for duplicate address detection and router solicitations only. */
  UNSPECIFIED: 0,
  /** fe80::/10: Neighbor Discovery and echo to our addresses only. */
  LINK_LOCAL: 1,
  /** fd00::/64, the guest's own addresses. */
  PREFIX: 2,
} as const;

/** What an IPv6 destination address is to the dispatcher. */
const Destination6 = {
  /** fd00::2, fd00::3, fe80::2. */
  OURS: 0,
  MULTICAST: 1,
  /** Anything a forwarder takes: other fd00::/64 addresses, global addresses. */
  FORWARD: 2,
} as const;

/**
 * Parses each frame from the guest with reusable views (nothing allocated per frame) and hands
 * it to the responder for its kind. Never throws on guest input.
 *
 * @example
 * ```ts
 * import { deriveAddresses } from "../config.ts";
 * import { ICMP_ECHO_REQUEST_TO_GATEWAY } from "../wire/testdata/captured.ts";
 * import { Counters } from "./counters.ts";
 * import { Dispatcher } from "./dispatcher.ts";
 * import { MemoryLink } from "./memory_link.ts";
 * const link = new MemoryLink();
 * const dispatcher = new Dispatcher(deriveAddresses(0x0a000200, 24), 1500, link, new Counters());
 * dispatcher.handleFrame(ICMP_ECHO_REQUEST_TO_GATEWAY, 0);
 * if (link.take().length !== 1) throw new Error("no echo reply");
 * ```
 */
export class Dispatcher {
  /** The guest's address → MAC pairs, learned from ARP and DHCP, and from NDP and IPv6 traffic. */
  readonly neighbors: GuestNeighbors;
  /** The transmit side: scratch buffer and link. */
  readonly tx: GuestTx;
  readonly dhcp: DhcpServer;
  readonly counters: Counters;
  readonly #addresses: Addresses;
  readonly #arp: ArpResponder;
  readonly #echo: IcmpEchoResponder;
  readonly #maxFrameLength: number;
  readonly #eth = new EthernetFrame();
  readonly #arpPacket = new ArpPacket();
  readonly #ip = new Ipv4Packet();
  readonly #icmp = new IcmpMessage();
  readonly #udp = new UdpDatagram();
  readonly #wholeEth = new EthernetFrame();
  readonly #forward: Forwarders;
  /** The RxOffload bits of the frame being handled. */
  #offload: number = RxOffload.NONE;
  /** Fragments waiting for the rest of their datagram. */
  readonly reassembler: Ipv4Reassembler;
  /** IPv6 fragments waiting for the rest of their packet. */
  readonly reassembler6: Ipv6Reassembler;
  /** Neighbor Discovery and router advertisements; null without `-6`. */
  readonly ndp: NeighborDiscovery | null;
  readonly #v6: Ipv6Addresses | null;
  readonly #ip6 = new Ipv6Packet();
  readonly #icmp6 = new Icmpv6Message();
  readonly #ext = new Ipv6ExtensionHeaders();
  readonly #fragmentHeader = new FragmentHeader();
  /** Where IPv6 packets with extension headers are rebuilt without them (allocated with -6). */
  readonly #strip: Uint8Array;
  /** Our addresses as bytes (compared without bigints): the prefix's first 8 bytes, then each. */
  readonly #prefix6 = new Uint8Array(16);
  readonly #gateway6 = new Uint8Array(16);
  readonly #dns6 = new Uint8Array(16);
  readonly #router6 = new Uint8Array(16);
  /** The last source address and MAC learned from IPv6 traffic, and the table's version then. */
  readonly #learnedSrc = new Uint8Array(16);
  readonly #learnedMac = new Uint8Array(6);
  #learnedVersion = -1;

  /**
   * @param addresses the network's addresses (`deriveAddresses`)
   * @param mtu the link MTU (68..65521): frames above MTU + 14 are dropped, replies never exceed it
   * @param link where frames for the guest go
   * @param counters the counter table to bump
   * @param forward where TCP, UDP, ICMP to other hosts and DNS queries go
   */
  constructor(
    addresses: Addresses,
    mtu: number,
    link: GuestLink,
    counters: Counters,
    forward: Forwarders = {},
  ) {
    this.#addresses = addresses;
    this.#forward = forward;
    this.counters = counters;
    this.#maxFrameLength = mtu + ETHERNET_HEADER_LEN;
    this.neighbors = new GuestNeighbors(addresses);
    this.tx = new GuestTx(link, mtu, addresses, counters);
    this.#arp = new ArpResponder(addresses, this.neighbors, this.tx, counters);
    this.#echo = new IcmpEchoResponder(this.tx, counters);
    this.dhcp = new DhcpServer(addresses, this.tx, this.neighbors, counters);
    this.reassembler = new Ipv4Reassembler(counters);
    this.reassembler6 = new Ipv6Reassembler(counters);
    const v6 = addresses.ipv6;
    this.#v6 = v6;
    if (v6 !== null) {
      this.ndp = new NeighborDiscovery(addresses, mtu, this.neighbors, this.tx, counters);
      this.#strip = new Uint8Array(IPV6_PAYLOAD_OFFSET + IPV6_MAX_PAYLOAD);
      writeIpv6(this.#prefix6, 0, v6.prefix);
      writeIpv6(this.#gateway6, 0, v6.gateway);
      writeIpv6(this.#dns6, 0, v6.dns);
      writeIpv6(this.#router6, 0, v6.routerLinkLocal);
    } else {
      this.ndp = null;
      this.#strip = new Uint8Array(0);
    }
  }

  /**
   * Asks the guest for the MAC of its address `ip` (its answer lands in `neighbors`): an ARP
   * request for IPv4, a Neighbor Solicitation for IPv6 (ignored without `-6`).
   */
  requestMac(ip: IpAddress): void {
    if (typeof ip === "bigint") this.ndp?.solicit(ip);
    else this.#arp.request(ip);
  }

  /** Starts the timers (unsolicited router advertisements with `-6`). */
  start(now: number): void {
    this.ndp?.start(now);
  }

  /** When `tick` next has work to do, on the `now` clock; Infinity when nothing is scheduled. */
  get nextDeadline(): number {
    return this.ndp === null ? Infinity : this.ndp.nextDeadline;
  }

  /** Does the timed work due at `now` (router advertisements). */
  tick(now: number): void {
    this.ndp?.tick(now);
  }

  /**
   * Handles one Ethernet frame (without FCS) read from the tap. Replies, if any, are sent
   * through the link before this returns. `now` is a monotonic clock in milliseconds; `offload`
   * holds the {@link RxOffload} bits of the frame's virtio-net header.
   */
  handleFrame(frame: Uint8Array, now: number, offload: number = RxOffload.NONE): void {
    const counters = this.counters;
    counters.bump(C["frame.received"]);
    if (frame.length > this.#maxFrameLength && !(offload & RxOffload.TCP_SEGMENTED)) {
      counters.bump(C["frame.too_long"]);
      return;
    }
    this.#offload = offload;
    const eth = this.#eth.wrap(frame);
    if (eth.check() !== "ok") {
      counters.bump(C["frame.runt"]);
      return;
    }
    // A super-frame (virtio-net GSO) is only ever a whole TCP datagram (checked in #ipv4, #ipv6).
    if (
      (offload & RxOffload.TCP_SEGMENTED) && eth.ethertype !== EtherType.IPV4 &&
      eth.ethertype !== EtherType.IPV6
    ) {
      counters.bump(C["frame.too_long"]);
      return;
    }
    const bytes = eth.bytes;
    // The guest talks only to the emulated hosts (52:55:…); group addresses are sorted out per
    // protocol below.
    if (!isMulticastMac(bytes, eth.dstOffset) && !isSlirpMac(bytes, eth.dstOffset)) {
      counters.bump(C["eth.not_for_us"]);
      return;
    }
    // IEEE 802.3 clause 3.2.3: a source address is always an individual address.
    if (isMulticastMac(bytes, eth.srcOffset)) {
      counters.bump(C["eth.bad_source"]);
      return;
    }
    switch (eth.ethertype) {
      case EtherType.ARP:
        this.#arp.handle(eth, this.#arpPacket.wrap(bytes, eth.payloadOffset, eth.payloadLength));
        return;
      case EtherType.IPV4:
        this.#ipv4(eth, now);
        return;
      case EtherType.IPV6:
        if (this.#v6 === null) counters.bump(C["ipv6.unsupported"]);
        else this.#ipv6(eth, now);
        return;
      case EtherType.VLAN:
      case EtherType.QINQ:
        counters.bump(C["eth.vlan_unsupported"]);
        return;
      default:
        counters.bump(C["eth.unknown_ethertype"]);
        return;
    }
  }

  #ipv4(eth: EthernetFrame, now: number): void {
    const counters = this.counters;
    const ip = this.#ip.wrap(eth.bytes, eth.payloadOffset, eth.payloadLength);
    switch (ip.check()) {
      case "ok":
        break;
      case "truncated":
        counters.bump(C["ipv4.truncated"]);
        return;
      case "bad_version":
        counters.bump(C["ipv4.bad_version"]);
        return;
      case "bad_header_length":
        counters.bump(C["ipv4.bad_header_length"]);
        return;
      case "total_length_exceeds_buffer":
        counters.bump(C["ipv4.total_length_exceeds_frame"]);
        return;
    }
    if (
      (this.#offload & RxOffload.TCP_SEGMENTED) && (ip.isFragment || ip.protocol !== IpProtocol.TCP)
    ) {
      counters.bump(C["frame.too_long"]);
      return;
    }
    if (!ip.verifyChecksum()) {
      counters.bump(C["ipv4.bad_checksum"]);
      return;
    }
    if (!ip.optionsValid()) {
      counters.bump(C["ipv4.bad_options"]);
      return;
    }
    if (ip.isFragment) {
      const whole = this.reassembler.add(eth, ip, now);
      if (whole === null) return;
      // The reassembled header was checked as the first fragment's; its length now covers all.
      const wholeEth = this.#wholeEth.wrap(whole);
      this.#ip.wrap(whole, wholeEth.payloadOffset, wholeEth.payloadLength);
      this.#route(wholeEth, this.#ip, now);
      return;
    }
    this.#route(eth, ip, now);
  }

  /** Address checks and the hand-off by protocol, for a checked, whole datagram. */
  #route(eth: EthernetFrame, ip: Ipv4Packet, now: number): void {
    const counters = this.counters;
    const a = this.#addresses;
    const src = ip.src;
    const dst = ip.dst;
    const protocol = ip.protocol;
    // RFC 1122 §3.2.1.3: a source is never broadcast, multicast or loopback; 0.0.0.0 only while
    // the host learns its address, which here means DHCP (checked below).
    if (
      src === LIMITED_BROADCAST || src === a.broadcast || isMulticastIpv4(src) ||
      isLoopbackIpv4(src) || (isThisNetworkIpv4(src) && protocol !== IpProtocol.UDP)
    ) {
      counters.bump(C["ipv4.bad_source"]);
      return;
    }

    if (dst === LIMITED_BROADCAST || dst === a.broadcast) {
      if (protocol === IpProtocol.UDP) {
        const udp = this.#udpOf(ip);
        if (udp === null) return;
        if (udp.dstPort === DHCP_SERVER_PORT) {
          this.dhcp.handle(udp, now);
          return;
        }
      }
      counters.bump(C["ipv4.broadcast_dropped"]);
      return;
    }
    if (isThisNetworkIpv4(src)) {
      counters.bump(C["ipv4.bad_source"]);
      return;
    }
    if (isMulticastIpv4(dst)) {
      counters.bump(C["ipv4.multicast_dropped"]);
      return;
    }
    if (isThisNetworkIpv4(dst) || isLoopbackIpv4(dst)) {
      counters.bump(C["ipv4.bad_destination"]);
      return;
    }

    const forward = this.#forward;
    switch (protocol) {
      case IpProtocol.ICMP:
        if (dst === a.gateway || dst === a.dns) {
          this.#echo.handle(eth, ip, this.#icmp.wrap(ip.bytes, ip.payloadOffset, ip.payloadLength));
        } else {
          this.#hand(forward.icmp, eth.bytes, now);
        }
        return;
      case IpProtocol.UDP: {
        const udp = this.#udpOf(ip);
        if (udp === null) return;
        // RENEWING clients unicast to the server (RFC 2131 §4.4.5).
        if (dst === a.gateway && udp.dstPort === DHCP_SERVER_PORT) {
          this.dhcp.handle(udp, now);
        } else if (dst === a.dns && udp.dstPort === DNS_PORT && forward.dns) {
          forward.dns(eth.bytes, now);
        } else {
          this.#hand(forward.udp, eth.bytes, now);
        }
        return;
      }
      case IpProtocol.TCP:
        if (forward.tcp) {
          forward.tcp(eth.bytes, now, (this.#offload & RxOffload.CHECKSUM_PARTIAL) !== 0);
        } else counters.bump(C["nat.not_implemented"]);
        return;
      default:
        counters.bump(C["ipv4.unknown_protocol"]);
        return;
    }
  }

  #hand(
    handler: ((frame: Uint8Array, now: number) => void) | undefined,
    frame: Uint8Array,
    now: number,
  ): void {
    if (handler) handler(frame, now);
    else this.counters.bump(C["nat.not_implemented"]);
  }

  /** The UDP view of a checked IPv4 datagram or IPv6 packet, or null (counted) if malformed. */
  #udpOf(ip: Ipv4Packet | Ipv6Packet): UdpDatagram | null {
    const counters = this.counters;
    const udp = this.#udp.wrap(ip.bytes, ip.payloadOffset, ip.payloadLength);
    switch (udp.check()) {
      case "ok":
        break;
      case "truncated":
        counters.bump(C["udp.truncated"]);
        return null;
      case "bad_length":
        counters.bump(C["udp.bad_length"]);
        return null;
    }
    if (this.#offload & RxOffload.CHECKSUM_PARTIAL) return udp;
    if (udp.checksum === 0) {
      // RFC 768: none was computed, over IPv4; RFC 8200 §8.1: over IPv6 it is discarded.
      if (ip.version === 4) return udp;
      counters.bump(C["udp.ipv6_zero_checksum"]);
      return null;
    }
    const length = udp.udpLength;
    const sum = pseudoHeaderSumAt(ip.bytes, ip.offset, IpProtocol.UDP, length);
    if (finishChecksum(sumBytes(ip.bytes, udp.offset, length, sum)) !== 0) {
      counters.bump(C["udp.bad_checksum"]);
      return null;
    }
    return udp;
  }

  /** An IPv6 frame with `-6` on: header, address classes, then the extension-header chain. */
  #ipv6(eth: EthernetFrame, now: number): void {
    const counters = this.counters;
    const ip = this.#ip6.wrap(eth.bytes, eth.payloadOffset, eth.payloadLength);
    switch (ip.check()) {
      case "ok":
        break;
      case "truncated":
        counters.bump(C["ipv6.truncated"]);
        return;
      case "bad_version":
        counters.bump(C["ipv6.bad_version"]);
        return;
      case "payload_length_exceeds_buffer":
        counters.bump(C["ipv6.payload_length_exceeds_frame"]);
        return;
    }
    if ((this.#offload & RxOffload.TCP_SEGMENTED) && ip.nextHeader !== Ipv6NextHeader.TCP) {
      counters.bump(C["frame.too_long"]);
      return;
    }
    const bytes = ip.bytes;
    const srcAt = ip.offset + IPV6.SRC;
    const dstAt = ip.offset + IPV6.DST;
    // RFC 4291 §2.7: multicast is never a source; :: only while an address is not yet
    // configured (RFC 4861 §7.2.2, RFC 4862 §5.4.2, RFC 3810 §5.2.13); the guest's unicast
    // addresses are in fd00::/64 or link-local; ours are never its.
    let source: number;
    if (bytes[srcAt] === 0xff) source = -1;
    else if (isZero(bytes, srcAt, 16)) source = Source6.UNSPECIFIED;
    else if (isLinkLocal(bytes, srcAt)) source = Source6.LINK_LOCAL;
    else if (equalBytes(bytes, srcAt, this.#prefix6, 0, 8)) source = Source6.PREFIX;
    else source = -1;
    if (source < 0 || (source !== Source6.UNSPECIFIED && this.#isOurs(bytes, srcAt))) {
      counters.bump(C["ipv6.bad_source"]);
      return;
    }
    let destination: number;
    if (bytes[dstAt] === 0xff) {
      destination = Destination6.MULTICAST;
    } else if (this.#isOurs(bytes, dstAt)) {
      destination = Destination6.OURS;
    } else if (isLinkLocal(bytes, dstAt) || isZero(bytes, dstAt, 10)) {
      // Other link-local addresses, ::, ::1, IPv4-mapped and -compatible: nobody we reach.
      counters.bump(C["ipv6.bad_destination"]);
      return;
    } else {
      destination = Destination6.FORWARD;
    }
    // The contract with the forwarders: sources in fd00::/64 only.
    if (destination === Destination6.FORWARD && source !== Source6.PREFIX) {
      counters.bump(C["ipv6.bad_source"]);
      return;
    }
    this.#walk6(eth, ip, source, destination, true, now);
  }

  /**
   * The extension headers of a checked packet (RFC 8200 §4), then its upper layer. `first`: the
   * chain starts at the fixed header (false for a reassembled packet's fragmentable part).
   */
  #walk6(
    eth: EthernetFrame,
    ip: Ipv6Packet,
    source: number,
    destination: number,
    first: boolean,
    now: number,
  ): void {
    const counters = this.counters;
    const ext = this.#ext;
    const start = ip.payloadOffset;
    const end = start + ip.payloadLength;
    switch (ext.walk(ip.bytes, start, end, ip.nextHeader, first)) {
      case "ok":
        break;
      case "fragment":
        if (first) this.#fragment6(eth, ip, source, destination, now);
        else counters.bump(C["ipv6.fragment_nested"]);
        return;
      case "truncated":
        counters.bump(C["ipv6.ext_truncated"]);
        return;
      case "too_many_headers":
        counters.bump(C["ipv6.ext_too_many"]);
        return;
      case "hop_by_hop_not_first":
        counters.bump(C["ipv6.hop_by_hop_not_first"]);
        return;
      case "bad_options":
        counters.bump(C["ipv6.bad_options"]);
        return;
      case "unrecognized_option":
        counters.bump(C["ipv6.unrecognized_option"]);
        return;
      case "routing_header":
        counters.bump(C["ipv6.routing_header"]);
        return;
    }
    if (ext.upperOffset !== start) {
      // Rebuild the packet with the upper layer right behind the fixed header.
      const out = this.#strip;
      const length = end - ext.upperOffset;
      copyBytes(out, 0, eth.bytes, eth.offset, ETHERNET_HEADER_LEN + IPV6_HEADER_LEN);
      out.set(ip.bytes.subarray(ext.upperOffset, end), IPV6_PAYLOAD_OFFSET);
      out[ETHERNET_HEADER_LEN + IPV6.NEXT_HEADER] = ext.protocol;
      writeU16(out, ETHERNET_HEADER_LEN + IPV6.PAYLOAD_LENGTH, length);
      const frame = out.subarray(0, IPV6_PAYLOAD_OFFSET + length);
      eth = this.#wholeEth.wrap(frame);
      ip = this.#ip6.wrap(frame, ETHERNET_HEADER_LEN, IPV6_HEADER_LEN + length);
    }
    this.#upper6(eth, ip, source, destination, now);
  }

  /** A fragment (RFC 8200 §4.5): to the reassembler, and the whole packet on from the walk. */
  #fragment6(
    eth: EthernetFrame,
    ip: Ipv6Packet,
    source: number,
    destination: number,
    now: number,
  ): void {
    const bytes = ip.bytes;
    const fragment = this.#fragmentHeader.wrap(bytes, this.#ext.upperOffset, FRAGMENT_HEADER_LEN);
    const end = ip.payloadOffset + ip.payloadLength;
    // RFC 7112 §5: the first fragment holds the whole chain up to the upper-layer header.
    if (
      fragment.fragmentOffset === 0 &&
      this.#ext.walk(
          bytes,
          fragment.offset + FRAGMENT_HEADER_LEN,
          end,
          fragment.nextHeader,
          false,
        ) ===
        "truncated"
    ) {
      this.counters.bump(C["ipv6.fragment_incomplete_chain"]);
      return;
    }
    const whole = this.reassembler6.add(eth, ip, fragment, now);
    if (whole === null) return;
    const wholeEth = this.#wholeEth.wrap(whole);
    const wholeIp = this.#ip6.wrap(whole, wholeEth.payloadOffset, wholeEth.payloadLength);
    this.#walk6(wholeEth, wholeIp, source, destination, false, now);
  }

  /** The upper layer of a packet whose upper-layer header follows the fixed header. */
  #upper6(
    eth: EthernetFrame,
    ip: Ipv6Packet,
    source: number,
    destination: number,
    now: number,
  ): void {
    const counters = this.counters;
    const protocol = ip.nextHeader;
    if (protocol === Ipv6NextHeader.ICMPV6) {
      this.#icmpv6(eth, ip, source, destination, now);
      return;
    }
    if (protocol !== Ipv6NextHeader.TCP && protocol !== Ipv6NextHeader.UDP) {
      counters.bump(
        C[
          protocol === Ipv6NextHeader.NO_NEXT_HEADER
            ? "ipv6.no_next_header"
            : "ipv6.unknown_next_header"
        ],
      );
      return;
    }
    if (destination === Destination6.MULTICAST) {
      counters.bump(C["ipv6.multicast_dropped"]);
      return;
    }
    // TCP and UDP reach the host from the guest's fd00::/64 addresses, to fd00::2, fd00::3 or
    // beyond; fe80::2 serves Neighbor Discovery and echo only.
    if (source !== Source6.PREFIX) {
      counters.bump(C["ipv6.bad_source"]);
      return;
    }
    const bytes = ip.bytes;
    const dstAt = ip.offset + IPV6.DST;
    if (destination === Destination6.OURS && equal16(bytes, dstAt, this.#router6, 0)) {
      counters.bump(C["ipv6.bad_destination"]);
      return;
    }
    const forward = this.#forward;
    if (protocol === Ipv6NextHeader.TCP) {
      this.#learnFrom(eth, ip);
      if (forward.tcp) {
        forward.tcp(eth.bytes, now, (this.#offload & RxOffload.CHECKSUM_PARTIAL) !== 0);
      } else counters.bump(C["nat.not_implemented"]);
      return;
    }
    const udp = this.#udpOf(ip);
    if (udp === null) return;
    this.#learnFrom(eth, ip);
    if (
      udp.dstPort === DNS_PORT && forward.dns && equal16(bytes, dstAt, this.#dns6, 0)
    ) {
      forward.dns(eth.bytes, now);
    } else {
      this.#hand(forward.udp, eth.bytes, now);
    }
  }

  /** ICMPv6 (RFC 4443): NDP and echo to our addresses here, echo to others to the forwarder. */
  #icmpv6(
    eth: EthernetFrame,
    ip: Ipv6Packet,
    source: number,
    destination: number,
    now: number,
  ): void {
    const counters = this.counters;
    const icmp = this.#icmp6.wrap(ip.bytes, ip.payloadOffset, ip.payloadLength);
    if (icmp.check() !== "ok") {
      counters.bump(C["icmpv6.truncated"]);
      return;
    }
    const length = icmp.length;
    if (
      !icmp.verifyChecksum(pseudoHeaderSumAt(ip.bytes, ip.offset, Ipv6NextHeader.ICMPV6, length))
    ) {
      counters.bump(C["icmpv6.bad_checksum"]);
      return;
    }
    const type = icmp.type;
    switch (type) {
      case Icmpv6Type.ROUTER_SOLICITATION:
      case Icmpv6Type.ROUTER_ADVERTISEMENT:
      case Icmpv6Type.NEIGHBOR_SOLICITATION:
      case Icmpv6Type.NEIGHBOR_ADVERTISEMENT:
      case Icmpv6Type.REDIRECT:
        if (destination === Destination6.FORWARD) counters.bump(C["icmpv6.type_ignored"]);
        else this.ndp!.handle(eth, ip, icmp, source === Source6.UNSPECIFIED, now);
        return;
      case Icmpv6Type.MLD_QUERY:
      case Icmpv6Type.MLD_REPORT:
      case Icmpv6Type.MLD_DONE:
      case Icmpv6Type.MLDV2_REPORT:
        // There is no multicast routing here: reports (to ff02::16 and the like) are not needed.
        counters.bump(C["icmpv6.mld_ignored"]);
        return;
      case Icmpv6Type.ECHO_REQUEST:
        if (source === Source6.UNSPECIFIED) {
          counters.bump(C["ipv6.bad_source"]);
          return;
        }
        this.#learnFrom(eth, ip);
        if (destination === Destination6.OURS) {
          this.#echo.handleIpv6(eth, ip, icmp);
        } else if (destination === Destination6.MULTICAST) {
          counters.bump(C["ipv6.multicast_dropped"]);
        } else {
          this.#hand(this.#forward.icmp, eth.bytes, now);
        }
        return;
      default:
        // Echo replies and errors have no socket behind them here.
        counters.bump(C["icmpv6.type_ignored"]);
        return;
    }
  }

  /** Whether the address at `bytes[at..]` is fd00::2, fd00::3 or fe80::2. */
  #isOurs(bytes: Uint8Array, at: number): boolean {
    return equal16(bytes, at, this.#gateway6, 0) || equal16(bytes, at, this.#dns6, 0) ||
      equal16(bytes, at, this.#router6, 0);
  }

  /**
   * Learns the guest's source address and MAC from a checked packet it sent to be answered or
   * forwarded (Neighbor Discovery messages teach through their options instead). The last pair is
   * remembered, so a stream of packets costs one comparison each.
   */
  #learnFrom(eth: EthernetFrame, ip: Ipv6Packet): void {
    const bytes = ip.bytes;
    const srcAt = ip.offset + IPV6.SRC;
    const neighbors = this.neighbors;
    if (
      this.#learnedVersion === neighbors.version && equal16(bytes, srcAt, this.#learnedSrc, 0) &&
      macEquals(eth.bytes, eth.srcOffset, this.#learnedMac, 0)
    ) {
      return;
    }
    if (!neighbors.learn(readIpv6(bytes, srcAt), eth.bytes, eth.srcOffset)) return;
    copyBytes(this.#learnedSrc, 0, bytes, srcAt, 16);
    copyBytes(this.#learnedMac, 0, eth.bytes, eth.srcOffset, 6);
    this.#learnedVersion = neighbors.version;
  }
}

/** Whether `length` bytes at `bytes[at..]` are all zero. */
function isZero(bytes: Uint8Array, at: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (bytes[at + i] !== 0) return false;
  return true;
}

/** Whether `length` bytes at `a[aOffset..]` and `b[bOffset..]` are equal. */
function equalBytes(
  a: Uint8Array,
  aOffset: number,
  b: Uint8Array,
  bOffset: number,
  length: number,
): boolean {
  for (let i = 0; i < length; i++) if (a[aOffset + i] !== b[bOffset + i]) return false;
  return true;
}

/** Whether the IPv6 address at `bytes[at..]` is in fe80::/10 (RFC 4291 §2.5.6). */
function isLinkLocal(bytes: Uint8Array, at: number): boolean {
  return bytes[at] === 0xfe && (bytes[at + 1] & 0xc0) === 0x80;
}
