/**
 * The virtio-net header in front of every frame on a tap opened with IFF_VNET_HDR (Linux
 * <linux/virtio_net.h>, virtio 1.x §5.1.6): 10 bytes, little-endian on the hosts we run on.
 *
 * ```
 *  0      1         2         4          6            8             10
 *  | flags | gso_type | hdr_len | gso_size | csum_start | csum_offset |
 * ```
 *
 * Read side: `NEEDS_CSUM` means the L4 checksum field holds only the pseudo-header sum (the local
 * kernel never computed the rest: the bytes went from memory to memory); `gso_type` other than
 * `NONE` means the frame is a TCP super-frame above the MTU that the sender would have cut into
 * `gso_size`-byte segments. The write side is native/vnet.c (`shim_write_vnet`).
 */

/** Bytes of header (struct virtio_net_hdr, without num_buffers). */
export const VNET_HDR_LEN = 10;

/** Field offsets read here. */
export const VNET_HDR = { FLAGS: 0, GSO_TYPE: 1 } as const;

/** `flags`: the checksum at csum_start + csum_offset is partial. */
export const VNET_F_NEEDS_CSUM = 1;

/** `gso_type` values used here (the ECN bit 0x80 aside). */
export const VnetGso = { NONE: 0, TCPV4: 1, TCPV6: 4 } as const;

/** What the dispatcher is told about a frame read from the tap. */
export const RxOffload = {
  NONE: 0,
  /** The TCP or UDP checksum is partial: do not verify it. */
  CHECKSUM_PARTIAL: 1,
  /** A TCP super-frame (over IPv4 or IPv6): may exceed the MTU. */
  TCP_SEGMENTED: 2,
} as const;

/** The {@link RxOffload} bits of the header at `bytes[at..at + 10)`. */
export function rxOffload(bytes: Uint8Array, at = 0): number {
  const gso = bytes[at + VNET_HDR.GSO_TYPE] & 0x7f;
  return ((bytes[at + VNET_HDR.FLAGS] & VNET_F_NEEDS_CSUM) ? RxOffload.CHECKSUM_PARTIAL : 0) |
    (gso === VnetGso.TCPV4 || gso === VnetGso.TCPV6 ? RxOffload.TCP_SEGMENTED : 0);
}
