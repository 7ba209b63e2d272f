/*
 * Host-side TCP socket helpers for the TCP relay (src/ffi/host_tcp.ts), beyond the plain wrappers
 * in socket.c: one call per connect attempt, an abortive close (RST), and the fd limit. Every
 * function returns a value >= 0 on success and -errno on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * A non-blocking, close-on-exec TCP socket of the family of `sa` (sockaddr_in or sockaddr_in6)
 * with TCP_NODELAY, bound to `bind_sa` when `bind_salen` > 0 (the outbound address, port 0),
 * connecting to `sa`. Returns the fd once the connect is under way (EINPROGRESS) or done; -errno
 * when it failed at once (the socket is closed).
 */
int shim_tcp_connect(const void *sa, int salen, const void *bind_sa, int bind_salen) {
  int family = ((const struct sockaddr *)sa)->sa_family;
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind_salen > 0 && bind(fd, (const struct sockaddr *)bind_sa, (socklen_t)bind_salen) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  if (connect(fd, (const struct sockaddr *)sa, (socklen_t)salen) < 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

/* Closes with SO_LINGER {1, 0}: the kernel sends RST instead of FIN and keeps no TIME_WAIT. */
int shim_close_reset(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  return close(fd) < 0 ? -errno : 0;
}

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force (capped at
 * INT32_MAX). */
int shim_raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return -errno;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && getrlimit(RLIMIT_NOFILE, &rl) < 0) return -errno;
  }
  return rl.rlim_cur > INT32_MAX ? INT32_MAX : (int)rl.rlim_cur;
}

/* send(2) of buf[offset, offset + len) with MSG_NOSIGNAL: the count, or -errno. The offset saves
 * the caller a subarray per call. */
int shim_send_at(int fd, const uint8_t *buf, int offset, int len) {
  ssize_t n = send(fd, buf + offset, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
  return n < 0 ? -errno : (int)n;
}

/* recv(2) into buf[offset, offset + len): the count (0 at end of stream), or -errno. */
int shim_recv_at(int fd, uint8_t *buf, int offset, int len) {
  ssize_t n = recv(fd, buf + offset, (size_t)len, MSG_DONTWAIT);
  return n < 0 ? -errno : (int)n;
}
