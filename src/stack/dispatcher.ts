/**
 * The entry point for frames from the guest: Ethernet → ARP, or IPv4 → ICMP echo to the emulated
 * hosts and DHCP; TCP, UDP and ICMP to other hosts and DNS queries go to the `Ipv4Forwarders`;
 * everything else is dropped and counted, one counter per reason (`nat.not_implemented` where no
 * forwarder is set).
 *
 * Checks, in order: frame length (runt, above MTU + 14 unless the tap says it is a TCP super-frame,
 * src/wire/virtio_net.ts), destination and source MAC, EtherType;
 * for IPv4: lengths, header checksum, options, fragments, source and destination address.
 * Fragments are reassembled (`Ipv4Reassembler`, with strict limits) and the whole datagram, which
 * may exceed the MTU, continues from the address checks on.
 */

import type { Addresses } from "../config.ts";
import { ArpPacket } from "../wire/arp.ts";
import { DHCP_SERVER_PORT } from "../wire/dhcp.ts";
import { ETHERNET_HEADER_LEN, EthernetFrame, EtherType, isMulticastMac } from "../wire/ethernet.ts";
import { IcmpMessage } from "../wire/icmp.ts";
import {
  IpProtocol,
  Ipv4Packet,
  isLoopbackIpv4,
  isMulticastIpv4,
  isThisNetworkIpv4,
  LIMITED_BROADCAST,
} from "../wire/ipv4.ts";
import { UdpDatagram } from "../wire/udp.ts";
import { RxOffload } from "../wire/virtio_net.ts";
import { ArpResponder } from "./arp.ts";
import { C, type Counters } from "./counters.ts";
import { DhcpServer } from "./dhcp_server.ts";
import type { Ipv4Forwarders } from "./forwarders.ts";
import type { GuestLink } from "./guest_link.ts";
import { GuestTx } from "./guest_tx.ts";
import { IcmpEchoResponder } from "./icmp_echo.ts";
import { Ipv4Reassembler } from "./ipv4_reassembly.ts";
import { GuestNeighbors } from "./neighbors.ts";
import { isSlirpMac } from "./slirp_mac.ts";

/** The DNS server port (RFC 1035 §4.2). */
const DNS_PORT = 53;

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
  /** The guest's IPv4 → MAC pairs, learned from ARP and DHCP. */
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
  readonly #forward: Ipv4Forwarders;
  /** The RxOffload bits of the frame being handled. */
  #offload: number = RxOffload.NONE;
  /** Fragments waiting for the rest of their datagram. */
  readonly reassembler: Ipv4Reassembler;

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
    forward: Ipv4Forwarders = {},
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
  }

  /** Sends an ARP request for the guest address `ip` (its answer lands in `neighbors`). */
  requestMac(ip: number): void {
    this.#arp.request(ip);
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
    // A super-frame (virtio-net GSO) is only ever a whole IPv4 TCP datagram (checked in #ipv4).
    if ((offload & RxOffload.TCP_SEGMENTED) && eth.ethertype !== EtherType.IPV4) {
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
        counters.bump(C["ipv6.unsupported"]);
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

  /** The UDP view of a checked IPv4 datagram, or null (counted) if malformed. */
  #udpOf(ip: Ipv4Packet): UdpDatagram | null {
    const udp = this.#udp.wrap(ip.bytes, ip.payloadOffset, ip.payloadLength);
    switch (udp.check()) {
      case "ok":
        break;
      case "truncated":
        this.counters.bump(C["udp.truncated"]);
        return null;
      case "bad_length":
        this.counters.bump(C["udp.bad_length"]);
        return null;
    }
    if (!(this.#offload & RxOffload.CHECKSUM_PARTIAL) && !udp.verifyChecksum(ip.src, ip.dst)) {
      this.counters.bump(C["udp.bad_checksum"]);
      return null;
    }
    return udp;
  }
}
