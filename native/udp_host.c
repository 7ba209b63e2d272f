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

/*
 * The IPv6 peers of the functions above: addresses are 16 bytes in network order (the kernel's
 * in6_addr), ports in host order. The sockets are IPV6_V6ONLY (an IPv4-mapped destination never
 * leaves through them) with IPV6_RECVERR.
 */

/*
 * A non-blocking, close-on-exec AF_INET6 datagram socket: `protocol` 0 for UDP, IPPROTO_ICMPV6
 * for a ping socket (EACCES when net.ipv4.ping_group_range excludes our group, which governs
 * both families). Bound to `[bind_addr]:0` when bind_addr is not all zero (--outbound-addr6).
 */
int shim_dgram_socket6(int protocol, const uint8_t *bind_addr) {
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -errno;
  int one = 1;
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0 ||
      setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  static const uint8_t unspecified[16];
  if (memcmp(bind_addr, unspecified, 16) != 0) {
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    memcpy(&sa.sin6_addr, bind_addr, 16);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
      int err = errno;
      close(fd);
      return -err;
    }
  }
  return fd;
}

/* sendto(2) of buf[offset, offset + len) to [addr]:port. */
int shim_sendto6(int fd, const uint8_t *buf, int offset, int len, const uint8_t *addr, int port) {
  struct sockaddr_in6 sa;
  memset(&sa, 0, sizeof sa);
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons((uint16_t)port);
  memcpy(&sa.sin6_addr, addr, 16);
  ssize_t n = sendto(fd, buf + offset, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL,
                     (struct sockaddr *)&sa, sizeof sa);
  return n < 0 ? -errno : (int)n;
}

/*
 * recvfrom(2) into buf[offset, offset + len); from[0..16) = the sender's address, from[16..18)
 * its port in network order (all zero if not AF_INET6). Returns the datagram length (MSG_TRUNC,
 * as shim_recvfrom4).
 */
int shim_recvfrom6(int fd, uint8_t *buf, int offset, int len, uint8_t *from) {
  struct sockaddr_in6 sa;
  socklen_t salen = sizeof sa;
  memset(&sa, 0, sizeof sa);
  ssize_t n = recvfrom(fd, buf + offset, (size_t)len, MSG_DONTWAIT | MSG_TRUNC,
                       (struct sockaddr *)&sa, &salen);
  if (n < 0) return -errno;
  if (sa.sin6_family == AF_INET6) {
    memcpy(from, &sa.sin6_addr, 16);
    memcpy(from + 16, &sa.sin6_port, 2);
  } else {
    memset(from, 0, 18);
  }
  return (int)n;
}

/*
 * One entry of the error queue of an AF_INET6 socket: as shim_recv_error4, with
 *   info [0] ee_errno, [1] ee_origin, [2] ee_type, [3] ee_code, [4] ee_info,
 *        [5] 1 if the offender is known, [6] 1 if the original destination is, [7] its port;
 *   addrs[0..16) the offender, addrs[16..32) the original destination.
 */
int shim_recv_error6(int fd, uint8_t *buf, int offset, int len, uint32_t *info, uint8_t *addrs) {
  struct sockaddr_in6 dst;
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
  memset(addrs, 0, 32);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != IPPROTO_IPV6 || c->cmsg_type != IPV6_RECVERR) continue;
    struct sock_extended_err *ee = (struct sock_extended_err *)CMSG_DATA(c);
    info[0] = ee->ee_errno;
    info[1] = ee->ee_origin;
    info[2] = ee->ee_type;
    info[3] = ee->ee_code;
    info[4] = ee->ee_info;
    struct sockaddr_in6 *offender = (struct sockaddr_in6 *)SO_EE_OFFENDER(ee);
    if (offender->sin6_family == AF_INET6) {
      info[5] = 1;
      memcpy(addrs, &offender->sin6_addr, 16);
    }
  }
  if (dst.sin6_family == AF_INET6) {
    info[6] = 1;
    info[7] = ntohs(dst.sin6_port);
    memcpy(addrs + 16, &dst.sin6_addr, 16);
  }
  return (int)n;
}
