/* The virtio-net header on the tap (IFF_VNET_HDR): with checksum and TSO offload on, the guest's
 * kernel hands us TCP frames of up to 64 KiB at any MTU with the checksum left partial, and it
 * takes such frames from us, cutting them into MSS-sized segments itself (<linux/virtio_net.h>;
 * the header is little-endian, 10 bytes: flags, gso_type, hdr_len, gso_size, csum_start,
 * csum_offset). */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>

/* Our header size: the 10-byte struct virtio_net_hdr (no num_buffers). */
#define VNET_HDR_LEN 10

/* Whether the tap behind `fd` carries virtio-net headers: 1, after setting the header size to 10
 * and asking for checksum and TCP segmentation offload (offload refused still returns 1: the
 * headers are there, only all-zero); 0 without IFF_VNET_HDR (then never ask for offload: the
 * kernel would send partial checksums with no header to say so); or -errno. */
int shim_tap_offload(int fd) {
  struct ifreq req;
  memset(&req, 0, sizeof req);
  if (ioctl(fd, TUNGETIFF, &req) < 0) return -errno;
  if (!(req.ifr_flags & IFF_VNET_HDR)) return 0;
  int size = VNET_HDR_LEN;
  if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) return -errno;
  ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6));
  return 1;
}

/* Writes one frame behind a virtio-net header: `csum_start` > 0 asks the guest's kernel to finish
 * the checksum at csum_start + csum_offset (the field holds the pseudo-header sum), `gso_type`
 * VIRTIO_NET_HDR_GSO_TCPV4 (or TCPV6) with `gso_size` the MSS to cut a frame above the MTU. All zero: a
 * plain frame. Returns the bytes written (header included) or -errno. */
int shim_write_vnet(int fd, const void *frame, int len, int csum_start, int csum_offset,
                    int gso_type, int gso_size) {
  struct virtio_net_hdr hdr;
  memset(&hdr, 0, sizeof hdr);
  if (csum_start > 0) {
    hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr.csum_start = (uint16_t)csum_start;
    hdr.csum_offset = (uint16_t)csum_offset;
  }
  hdr.gso_type = (uint8_t)gso_type;
  hdr.gso_size = (uint16_t)gso_size;
  struct iovec iov[2] = {{&hdr, VNET_HDR_LEN}, {(void *)frame, (size_t)len}};
  ssize_t n = writev(fd, iov, 2);
  return n < 0 ? -errno : (int)n;
}
