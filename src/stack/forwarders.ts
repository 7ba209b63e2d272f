/**
 * Where the dispatcher hands the IPv4 traffic it does not answer itself: the NAT of TCP, UDP and
 * ICMP to other hosts, and DNS queries to the DNS address. Each handler gets the whole Ethernet
 * frame, with a checked, unfragmented IPv4 packet at offset 14 (its total length may be shorter
 * than the frame: Ethernet padding). The bytes are valid only until the call returns.
 */
export interface Ipv4Forwarders {
  /**
   * TCP segments, to any address but the emulated hosts' own answers; `checksumPartial`: the tap
   * left the checksum to be computed (virtio-net NEEDS_CSUM), so it must not be verified.
   */
  tcp?(frame: Uint8Array, now: number, checksumPartial: boolean): void;
  /** UDP datagrams not handled here (DHCP) and not DNS queries taken by `dns`. */
  udp?(frame: Uint8Array, now: number): void;
  /** UDP datagrams to the DNS address, port 53. When absent, they go to `udp`. */
  dns?(frame: Uint8Array, now: number): void;
  /** ICMP messages to addresses other than the gateway and DNS. */
  icmp?(frame: Uint8Array, now: number): void;
}
