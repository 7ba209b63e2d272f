/*
 * Host-side datagram socket helpers for the UDP and ICMP NAT (src/host/datagram_sockets.ts) and
 * the DNS resolver worker: one call to make a socket, send or receive with the IPv4 address as a
 * number and the data at an offset of a buffer (no sockaddr bytes, no subarray per datagram), and
 * the error queue of IP_RECVERR (ICMP errors the host received for our datagrams).
 * Every function returns a value >= 0 on success and -errno on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * A non-blocking, close-on-exec AF_INET datagram socket: `protocol` 0 for UDP, IPPROTO_ICMP for a
 * ping socket (EACCES when net.ipv4.ping_group_range excludes our group). IP_RECVERR is on, so
 * ICMP errors queue up with the original destination. Bound to `bind_addr:0` (host byte order)
 * when bind_addr is not 0 (--outbound-addr).
 */
int shim_dgram_socket(int protocol, uint32_t bind_addr) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -errno;
  int one = 1;
  if (setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  if (bind_addr != 0) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(bind_addr);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
      int err = errno;
      close(fd);
      return -err;
    }
  }
  return fd;
}

/* sendto(2) of buf[offset, offset + len) to addr:port (host byte order). */
int shim_sendto4(int fd, const uint8_t *buf, int offset, int len, uint32_t addr, int port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(addr);
  ssize_t n = sendto(fd, buf + offset, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL,
                     (struct sockaddr *)&sa, sizeof sa);
  return n < 0 ? -errno : (int)n;
}

/*
 * recvfrom(2) into buf[offset, offset + len); from[0] = the sender's IPv4 address, from[1] its port
 * (host byte order; 0/0 if not AF_INET). Returns the datagram length (0 for an empty one; longer
 * datagrams are cut to len and reported with their real length: MSG_TRUNC).
 */
int shim_recvfrom4(int fd, uint8_t *buf, int offset, int len, uint32_t *from) {
  struct sockaddr_in sa;
  socklen_t salen = sizeof sa;
  memset(&sa, 0, sizeof sa);
  ssize_t n = recvfrom(fd, buf + offset, (size_t)len, MSG_DONTWAIT | MSG_TRUNC,
                       (struct sockaddr *)&sa, &salen);
  if (n < 0) return -errno;
  if (sa.sin_family == AF_INET) {
    from[0] = ntohl(sa.sin_addr.s_addr);
    from[1] = ntohs(sa.sin_port);
  } else {
    from[0] = 0;
    from[1] = 0;
  }
  return (int)n;
}

/*
 * One entry of the error queue (recvmsg MSG_ERRQUEUE): the payload of the datagram that caused
 * it goes to buf[offset, offset + len), and info gets
 *   [0] ee_errno, [1] ee_origin, [2] ee_type, [3] ee_code, [4] ee_info,
 *   [5] offender IPv4 (host order, 0 if none), [6] original destination IPv4, [7] its port.
 * Returns the payload length, or -EAGAIN when the queue is empty.
 */
int shim_recv_error4(int fd, uint8_t *buf, int offset, int len, uint32_t *info) {
  struct sockaddr_in dst;
  char control[512];
  struct iovec iov = {.iov_base = buf + offset, .iov_len = (size_t)len};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  memset(&dst, 0, sizeof dst);
  msg.msg_name = &dst;
  msg.msg_namelen = sizeof dst;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
  if (n < 0) return -errno;
  memset(info, 0, 8 * sizeof *info);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_RECVERR) continue;
    struct sock_extended_err *ee = (struct sock_extended_err *)CMSG_DATA(c);
    info[0] = ee->ee_errno;
    info[1] = ee->ee_origin;
    info[2] = ee->ee_type;
    info[3] = ee->ee_code;
    info[4] = ee->ee_info;
    struct sockaddr_in *offender = (struct sockaddr_in *)SO_EE_OFFENDER(ee);
    if (offender->sin_family == AF_INET) info[5] = ntohl(offender->sin_addr.s_addr);
  }
  if (dst.sin_family == AF_INET) {
    info[6] = ntohl(dst.sin_addr.s_addr);
    info[7] = ntohs(dst.sin_port);
  }
  return (int)n;
}
