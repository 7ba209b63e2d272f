/**
 * The records that cross between threads in FrameRings besides plain Ethernet frames. Kept apart
 * from the Worker modules, which install message handlers when imported.
 */

/**
 * A guest IPv4 address and the MAC it was learned at (ARP or DHCP), in the ring to the main
 * thread: shorter than any frame there (those hold a whole IPv4 datagram or IPv6 packet, at least
 * 42 bytes), so told apart by its length.
 */
export const NEIGHBOR_RECORD = { IP: 0, MAC: 4, LENGTH: 10 } as const;

/**
 * A guest IPv6 address (16 bytes, network order) and the MAC it was learned at (Neighbor
 * Discovery or its traffic), in the same ring, told apart by its length as well.
 */
export const NEIGHBOR6_RECORD = { IP: 0, MAC: 16, LENGTH: 22 } as const;

/**
 * A guest segment in the segment ring: one byte, 1 if its checksum is partial (not to be
 * verified, see `TcpRelay.handleFrame`), then the Ethernet frame at `FRAME`. The bytes between
 * are room for the tap's virtio-net header (10 bytes, src/wire/virtio_net.ts): the tap reader
 * reads a frame straight into a slot of the ring, header and all, and commits it in place when it
 * is a TCP segment.
 *
 * ```
 *  0                 1     2             12                          12 + frame length
 *  | checksumPartial | -   | vnet header | Ethernet frame            |
 * ```
 */
export const SEGMENT_RECORD = { CHECKSUM_PARTIAL: 0, FRAME: 12 } as const;

/**
 * A port forward's accepted client, handed over in the forward ring: the socket (the worker owns
 * it from then on), the client as the guest sees it, and the guest's end. `ipv6` is 1 when both
 * addresses are IPv6 (16 bytes each); IPv4 addresses take the first 4 bytes of their field.
 * `forwardId` is the forward's API id, for its byte counts in get_stats.
 *
 * ```
 *  0    4      5   6          8           10         16         32          48          52
 *  | fd | ipv6 | - | peerPort | guestPort | guestMac | peerAddr | guestAddr | forwardId |
 * ```
 */
export const FORWARD_RECORD = {
  FD: 0,
  IPV6: 4,
  PEER_PORT: 6,
  GUEST_PORT: 8,
  GUEST_MAC: 10,
  PEER_ADDR: 16,
  GUEST_ADDR: 32,
  FORWARD_ID: 48,
  LENGTH: 52,
} as const;
