/**
 * Where the dispatcher hands the traffic it does not answer itself, IPv4 and IPv6 alike: the NAT
 * of TCP, UDP and ICMP to other hosts, and DNS queries to the DNS address. Each handler gets the
 * whole Ethernet frame with a checked packet at offset 14 (the EtherType, or `frame[14] >> 4`,
 * tells the family):
 * - IPv4: an unfragmented datagram (its total length may be shorter than the frame: Ethernet
 *   padding);
 * - IPv6: the upper-layer header right behind the 40-byte fixed header (fragments reassembled,
 *   hop-by-hop, routing and destination options headers stripped), so Next Header is 6, 17 or 58
 *   and Payload Length covers exactly the upper layer; the source is in fd00::/64.
 * The bytes are valid only until the call returns.
 */
export interface Forwarders {
  /**
   * TCP segments, to any address but the emulated hosts' own answers; `checksumPartial`: the tap
   * left the checksum to be computed (virtio-net NEEDS_CSUM), so it must not be verified.
   */
  tcp?(frame: Uint8Array, now: number, checksumPartial: boolean): void;
  /** UDP datagrams not handled here (DHCP) and not DNS queries taken by `dns`. */
  udp?(frame: Uint8Array, now: number): void;
  /** UDP datagrams to the DNS address (10.0.2.3, fd00::3), port 53. When absent, they go to `udp`. */
  dns?(frame: Uint8Array, now: number): void;
  /**
   * ICMP messages to addresses other than the gateway and DNS; for IPv6 only echo requests to
   * addresses that are not ours (fd00::2, fd00::3, fe80::2).
   */
  icmp?(frame: Uint8Array, now: number): void;
}
