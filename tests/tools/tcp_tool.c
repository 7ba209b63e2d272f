/*
 * TCP ends for the TCP integration tests, on either side of the command under test. Servers
 * listen on ADDR PORT (0: any free port) and print "listening PORT" on stderr once listening.
 *
 *   echo-server ADDR PORT              echo every connection (epoll); at EOF, echo the rest, then
 *                                      shutdown(SHUT_WR) and close; runs until killed
 *   echo-client ADDR PORT CONNS BYTES  CONNS concurrent connections, BYTES each (a pattern per
 *                                      connection), shutdown(SHUT_WR) after sending, read the echo
 *                                      to EOF and compare; prints "ok CONNS"
 *   sink-server ADDR PORT              accept one, copy it to stdout until EOF
 *   source-server ADDR PORT FILE       accept one, send FILE ("zero": zeros until the peer goes),
 *                                      then close; prints "sent N" or "error: ..." on stdout
 *   greet-server ADDR PORT             accept one, send a greeting, shutdown(SHUT_WR), read to EOF,
 *                                      print "got: ..." (the peer still talks after our FIN)
 *   greet-client ADDR PORT             connect, read to EOF, print "got: ...", then send a reply
 *                                      (after the server's FIN) and close
 *   reset-server ADDR PORT             accept one, read one byte, close with RST (SO_LINGER 0)
 *   reset-client ADDR PORT             connect, send one byte, wait 300 ms, close with RST
 *   read-server ADDR PORT              accept one, read to EOF or error: "eof" or "error: ..."
 *   read-client ADDR PORT              connect, send one byte, read to EOF or error: the same
 *   peer-server ADDR PORT              accept one, print "peer ADDRESS", close
 *
 * ADDR is IPv4 or IPv6 text (no brackets).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(2);
}

/* An IPv4 or IPv6 address and port. */
struct endpoint {
  struct sockaddr_storage sa;
  socklen_t len;
};

static struct endpoint address_of(const char *addr, const char *port) {
  struct endpoint e;
  memset(&e, 0, sizeof e);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&e.sa;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&e.sa;
  uint16_t number = htons((uint16_t)atoi(port));
  if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = number;
    e.len = sizeof *v4;
  } else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = number;
    e.len = sizeof *v6;
  } else {
    fprintf(stderr, "bad address %s\n", addr);
    exit(2);
  }
  return e;
}

static int port_of(const struct sockaddr_storage *sa) {
  return ntohs(sa->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
                                         : ((const struct sockaddr_in *)sa)->sin_port);
}

static int listen_on(const char *addr, const char *port) {
  struct endpoint e = address_of(addr, port);
  int fd = socket(e.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&e.sa, e.len) < 0) die("bind");
  if (listen(fd, 1024) < 0) die("listen");
  socklen_t len = sizeof e.sa;
  getsockname(fd, (struct sockaddr *)&e.sa, &len);
  fprintf(stderr, "listening %d\n", port_of(&e.sa));
  fflush(stderr);
  return fd;
}

static int accept_one(int server, struct sockaddr_storage *peer) {
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  int fd = accept(server, (struct sockaddr *)&sa, &len);
  if (fd < 0) die("accept");
  if (peer) *peer = sa;
  return fd;
}

static int connect_to(const char *addr, const char *port) {
  struct endpoint e = address_of(addr, port);
  int fd = socket(e.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)&e.sa, e.len) < 0) die("connect");
  return fd;
}

static void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += n;
    len -= (size_t)n;
  }
}

/* Reads to EOF into a buffer (at most cap bytes kept); returns 0 at EOF or the errno. */
static int read_to_end(int fd, char *buf, size_t cap, size_t *got) {
  *got = 0;
  char scratch[65536];
  for (;;) {
    ssize_t n = read(fd, scratch, sizeof scratch);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return 0;
    size_t keep = (size_t)n;
    if (*got + keep > cap) keep = cap - *got;
    memcpy(buf + *got, scratch, keep);
    *got += keep;
  }
}

static void close_reset(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

static void report_read(int fd) {
  char buf[64];
  size_t got;
  int err = read_to_end(fd, buf, sizeof buf, &got);
  if (err == 0) printf("eof\n");
  else printf("error: %s\n", strerror(err));
}

/* --- echo server --------------------------------------------------------------------------- */

struct echo_conn {
  int fd;
  char *pending; /* bytes read but not yet echoed */
  size_t length;
  int eof;
};

static void echo_server(int server) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, server, &ev);
  static char buf[1 << 16];
  for (;;) {
    struct epoll_event events[64];
    int n = epoll_wait(ep, events, 64, -1);
    for (int i = 0; i < n; i++) {
      struct echo_conn *c = events[i].data.ptr;
      if (c == NULL) {
        int fd = accept4(server, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) continue;
        c = calloc(1, sizeof *c);
        c->fd = fd;
        struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        continue;
      }
      if (!c->eof && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        ssize_t got = read(c->fd, buf, sizeof buf);
        if (got > 0) {
          c->pending = realloc(c->pending, c->length + (size_t)got);
          memcpy(c->pending + c->length, buf, (size_t)got);
          c->length += (size_t)got;
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
          c->eof = 1;
        }
      }
      while (c->length > 0) {
        ssize_t put = write(c->fd, c->pending, c->length);
        if (put <= 0) break;
        memmove(c->pending, c->pending + put, c->length - (size_t)put);
        c->length -= (size_t)put;
      }
      if (c->eof && c->length == 0) {
        shutdown(c->fd, SHUT_WR);
        close(c->fd);
        free(c->pending);
        free(c);
        continue;
      }
      struct epoll_event cev = {
          .events = (c->eof ? 0 : EPOLLIN) | (c->length > 0 ? EPOLLOUT : 0),
          .data.ptr = c,
      };
      epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
    }
  }
}

/* --- echo client --------------------------------------------------------------------------- */

struct client_conn {
  int fd;
  size_t sent;
  size_t received;
  int done;
  int seed;
};

static unsigned char pattern_byte(int seed, size_t i) { return (unsigned char)((seed * 131 + i * 7 + i / 251) & 0xff); }

static int echo_client(const char *addr, const char *port, int conns, size_t bytes) {
  struct endpoint e = address_of(addr, port);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct client_conn *all = calloc((size_t)conns, sizeof *all);
  for (int i = 0; i < conns; i++) {
    int fd = socket(e.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&e.sa, e.len) < 0 && errno != EINPROGRESS) die("connect");
    all[i].fd = fd;
    all[i].seed = i;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = &all[i]};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  int finished = 0;
  static unsigned char buf[1 << 16];
  while (finished < conns) {
    struct epoll_event events[64];
    int n = epoll_wait(ep, events, 64, 30000);
    if (n == 0) {
      fprintf(stderr, "stalled: %d of %d connections finished\n", finished, conns);
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct client_conn *c = events[i].data.ptr;
      if (c->done) continue;
      if (events[i].events & EPOLLERR) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        fprintf(stderr, "connection %d: %s\n", c->seed, strerror(err));
        return 1;
      }
      if ((events[i].events & EPOLLOUT) && c->sent < bytes) {
        size_t chunk = bytes - c->sent;
        if (chunk > sizeof buf) chunk = sizeof buf;
        for (size_t k = 0; k < chunk; k++) buf[k] = pattern_byte(c->seed, c->sent + k);
        ssize_t put = write(c->fd, buf, chunk);
        if (put > 0) c->sent += (size_t)put;
        if (c->sent == bytes) {
          shutdown(c->fd, SHUT_WR);
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
      }
      if (events[i].events & (EPOLLIN | EPOLLHUP)) {
        ssize_t got = read(c->fd, buf, sizeof buf);
        if (got < 0 && errno != EAGAIN) {
          fprintf(stderr, "connection %d: read: %s\n", c->seed, strerror(errno));
          return 1;
        }
        for (ssize_t k = 0; k < got; k++) {
          if (buf[k] != pattern_byte(c->seed, c->received + (size_t)k)) {
            fprintf(stderr, "connection %d: byte %zu differs\n", c->seed, c->received + (size_t)k);
            return 1;
          }
        }
        if (got > 0) c->received += (size_t)got;
        if (got == 0) {
          if (c->received != bytes || c->sent != bytes) {
            fprintf(stderr, "connection %d: EOF after %zu of %zu bytes\n", c->seed, c->received, bytes);
            return 1;
          }
          c->done = 1;
          finished++;
          close(c->fd);
        }
      }
    }
  }
  printf("ok %d\n", conns);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s MODE ADDR PORT [...]\n", argv[0]);
    return 2;
  }
  const char *mode = argv[1], *addr = argv[2], *port = argv[3];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (strcmp(mode, "echo-server") == 0) {
    echo_server(listen_on(addr, port));
  } else if (strcmp(mode, "echo-client") == 0 && argc == 6) {
    return echo_client(addr, port, atoi(argv[4]), (size_t)atoll(argv[5]));
  } else if (strcmp(mode, "sink-server") == 0) {
    int fd = accept_one(listen_on(addr, port), NULL);
    static char buf[1 << 16];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) write_all(1, buf, (size_t)n);
    if (n < 0) die("read");
  } else if (strcmp(mode, "source-server") == 0 && argc == 5) {
    int fd = accept_one(listen_on(addr, port), NULL);
    static char buf[1 << 16];
    unsigned long long sent = 0;
    int zero = strcmp(argv[4], "zero") == 0;
    int in = zero ? -1 : open(argv[4], O_RDONLY | O_CLOEXEC);
    if (!zero && in < 0) die(argv[4]);
    memset(buf, 0, sizeof buf);
    for (;;) {
      ssize_t n = zero ? (ssize_t)sizeof buf : read(in, buf, sizeof buf);
      if (n <= 0) break;
      ssize_t off = 0;
      while (off < n) {
        ssize_t put = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (put < 0) {
          if (errno == EINTR) continue;
          printf("error: %s\n", strerror(errno));
          return 0;
        }
        off += put;
        sent += (unsigned long long)put;
      }
    }
    close(fd);
    printf("sent %llu\n", sent);
  } else if (strcmp(mode, "greet-server") == 0) {
    int fd = accept_one(listen_on(addr, port), NULL);
    const char *greeting = "hello from the host\n";
    write_all(fd, greeting, strlen(greeting));
    shutdown(fd, SHUT_WR);
    char buf[256];
    size_t got;
    int err = read_to_end(fd, buf, sizeof buf - 1, &got);
    buf[got] = 0;
    if (err) printf("error: %s\n", strerror(err));
    else printf("got: %s", buf);
    close(fd);
  } else if (strcmp(mode, "greet-client") == 0) {
    int fd = connect_to(addr, port);
    char buf[256];
    size_t got;
    int err = read_to_end(fd, buf, sizeof buf - 1, &got);
    buf[got] = 0;
    if (err) printf("error: %s\n", strerror(err));
    else printf("got: %s", buf);
    const char *reply = "reply after the host's FIN\n";
    write_all(fd, reply, strlen(reply));
    close(fd);
  } else if (strcmp(mode, "reset-server") == 0) {
    int fd = accept_one(listen_on(addr, port), NULL);
    char c;
    if (read(fd, &c, 1) < 0) die("read");
    close_reset(fd);
    printf("reset\n");
  } else if (strcmp(mode, "reset-client") == 0) {
    int fd = connect_to(addr, port);
    write_all(fd, "x", 1);
    usleep(300000);
    close_reset(fd);
    printf("reset\n");
  } else if (strcmp(mode, "read-server") == 0) {
    report_read(accept_one(listen_on(addr, port), NULL));
  } else if (strcmp(mode, "read-client") == 0) {
    int fd = connect_to(addr, port);
    write_all(fd, "x", 1);
    report_read(fd);
  } else if (strcmp(mode, "peer-server") == 0) {
    struct sockaddr_storage peer;
    int fd = accept_one(listen_on(addr, port), &peer);
    char text[INET6_ADDRSTRLEN];
    if (peer.ss_family == AF_INET6) {
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, text, sizeof text);
    } else {
      inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, text, sizeof text);
    }
    printf("peer %s\n", text);
    close(fd);
  } else {
    fprintf(stderr, "unknown mode or arguments: %s\n", mode);
    return 2;
  }
  return 0;
}
