/*
 * Socket and event wrappers for the host side of the stack. Addresses travel as raw struct
 * sockaddr bytes (encoded in src/ffi/sockaddr.ts), so IPv4 and IPv6 share every function.
 * Every function returns a value >= 0 on success and -errno on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* socket(2); pass SOCK_NONBLOCK | SOCK_CLOEXEC in `type` as needed. */
int shim_socket(int domain, int type, int protocol) {
  int fd = socket(domain, type, protocol);
  return fd < 0 ? -errno : fd;
}

int shim_connect(int fd, const void *sa, int salen) {
  return connect(fd, sa, (socklen_t)salen) < 0 ? -errno : 0;
}

int shim_bind(int fd, const void *sa, int salen) {
  return bind(fd, sa, (socklen_t)salen) < 0 ? -errno : 0;
}

int shim_listen(int fd, int backlog) { return listen(fd, backlog) < 0 ? -errno : 0; }

/* accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC; the peer address goes to sa (*salen bytes in,
 * the address length out). */
int shim_accept(int fd, void *sa, int32_t *salen) {
  socklen_t len = (socklen_t)*salen;
  int conn = accept4(fd, sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (conn < 0) return -errno;
  *salen = (int32_t)len;
  return conn;
}

int shim_send(int fd, const void *buf, int len, int flags) {
  ssize_t n = send(fd, buf, (size_t)len, flags | MSG_NOSIGNAL);
  return n < 0 ? -errno : (int)n;
}

int shim_recv(int fd, void *buf, int len, int flags) {
  ssize_t n = recv(fd, buf, (size_t)len, flags);
  return n < 0 ? -errno : (int)n;
}

int shim_sendto(int fd, const void *buf, int len, int flags, const void *sa, int salen) {
  ssize_t n = sendto(fd, buf, (size_t)len, flags | MSG_NOSIGNAL, sa, (socklen_t)salen);
  return n < 0 ? -errno : (int)n;
}

/* recvfrom(2); the sender's address goes to sa (*salen bytes in, the address length out). */
int shim_recvfrom(int fd, void *buf, int len, int flags, void *sa, int32_t *salen) {
  socklen_t alen = (socklen_t)*salen;
  ssize_t n = recvfrom(fd, buf, (size_t)len, flags, sa, &alen);
  if (n < 0) return -errno;
  *salen = (int32_t)alen;
  return (int)n;
}

int shim_shutdown(int fd, int how) { return shutdown(fd, how) < 0 ? -errno : 0; }

int shim_setsockopt_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

/* getsockopt(2) of an int option (e.g. SO_ERROR): the value, or -errno. */
int shim_getsockopt_int(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof value;
  return getsockopt(fd, level, name, &value, &len) < 0 ? -errno : value;
}

/* getsockopt(2) of a struct option (e.g. TCP_INFO) into buf: the length written, or -errno. */
int shim_getsockopt(int fd, int level, int name, void *buf, int len) {
  socklen_t size = (socklen_t)len;
  return getsockopt(fd, level, name, buf, &size) < 0 ? -errno : (int)size;
}

int shim_getsockname(int fd, void *sa, int32_t *salen) {
  socklen_t len = (socklen_t)*salen;
  if (getsockname(fd, sa, &len) < 0) return -errno;
  *salen = (int32_t)len;
  return 0;
}

int shim_epoll_create(void) {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

/* epoll_ctl(2): `token` comes back with the fd's events from shim_epoll_wait(). */
int shim_epoll_ctl(int ep, int op, int fd, uint32_t events, uint32_t token) {
  struct epoll_event event;
  memset(&event, 0, sizeof event);
  event.events = events;
  event.data.u64 = token;
  return epoll_ctl(ep, op, fd, &event) < 0 ? -errno : 0;
}

/* epoll_wait(2) into `out`: two u32 per ready fd (events, token). Returns the count or -errno. */
int shim_epoll_wait(int ep, uint32_t *out, int max, int timeout_ms) {
  struct epoll_event events[256];
  if (max > 256) max = 256;
  int n = epoll_wait(ep, events, max, timeout_ms);
  if (n < 0) return -errno;
  for (int i = 0; i < n; i++) {
    out[2 * i] = events[i].events;
    out[2 * i + 1] = (uint32_t)events[i].data.u64;
  }
  return n;
}

/*
 * shim_epoll_wait() with no timeout, after sched_yield(2): one turn of a busy poll that lets the
 * threads queued on this CPU run first. A busy-polling caller would otherwise keep the thread it
 * waits for off the CPU: the host peer its last send woke (a sync wake-up puts it on the waker's
 * CPU, expecting the waker to sleep), or the guest's process. With nothing queued the yield
 * returns at once.
 */
int shim_epoll_poll_yield(int ep, uint32_t *out, int max) {
  sched_yield();
  return shim_epoll_wait(ep, out, max, 0);
}

/* Adds 1 to an eventfd: wakes whoever polls it. */
int shim_eventfd_signal(int fd) {
  uint64_t one = 1;
  return write(fd, &one, sizeof one) < 0 ? -errno : 0;
}

/* Resets a (non-blocking) eventfd to zero. */
int shim_eventfd_drain(int fd) {
  uint64_t value;
  return read(fd, &value, sizeof value) < 0 ? -errno : 0;
}
