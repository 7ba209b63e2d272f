/*
 * Small helpers for bench/metrics.ts; bench/run.sh builds this file into a temporary directory.
 *
 *   tcptool server ADDR PORT      accept every connection and echo what arrives (epoll), and echo
 *                                 UDP datagrams to ADDR:PORT; prints "listening" once bound; holds
 *                                 idle connections open
 *   tcptool pingpong ADDR PORT N [GAP_US]
 *                                 one connection, N 1-byte round trips (after 100 warm-up ones),
 *                                 back to back or GAP_US apart (a sleep after each answer, as a
 *                                 real client leaves); prints "median_us avg_us p90_us"
 *   tcptool hold ADDR PORT N      opens N connections, prints "held N", then sleeps until killed
 *   tcptool churn ADDR PORT N     N times: connect, one byte and its echo, close
 *   tcptool udp ADDR PORT LPORT N from local port LPORT (the same flow every time), N datagrams,
 *                                 each waiting up to 1 s for its echo; prints "echoed K of N";
 *                                 fails when none came back
 *   tcptool dns ADDR N NAME [GAP_US]
 *                                 N sequential DNS queries (type A, class IN, RD) for NAME to
 *                                 ADDR:53 from one socket (after 100 warm-up ones; with GAP_US,
 *                                 a sleep that long after each answer), each waiting
 *                                 up to 1 s for the answer with its ID, which must hold an
 *                                 address (NOERROR, ANCOUNT > 0); prints "median_us p90_us"
 *   tcptool startup FD NSPID TAP CMD...
 *                                 runs CMD with the write end of a pipe as FD; prints
 *                                 "TAP_US READY_US": the microseconds from fork to the link TAP
 *                                 appearing in the network namespace of NSPID (RTM_NEWLINK, seen
 *                                 by a watcher subscribed there before the fork) and to the first
 *                                 byte on that pipe; then SIGKILLs CMD and reaps it
 *
 * Everything here talks to the addresses it is given; bench/metrics.ts passes only 127.0.0.1 (host)
 * and the gateway addresses (from the namespaces they made).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/rtnetlink.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static struct sockaddr_in address(const char *addr, const char *port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)atoi(port));
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
    fprintf(stderr, "bad address %s\n", addr);
    exit(2);
  }
  return sa;
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int connect_to(struct sockaddr_in *sa) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)sa, sizeof *sa) < 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

_Noreturn static void server(struct sockaddr_in *sa) {
  raise_nofile();
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr *)sa, sizeof *sa) < 0) die("bind");
  if (listen(lfd, 4096) < 0) die("listen");
  int ufd = socket(AF_INET, SOCK_DGRAM, 0);
  if (bind(ufd, (struct sockaddr *)sa, sizeof *sa) < 0) die("bind udp");
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event uev = {.events = EPOLLIN, .data.fd = ufd};
  epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &uev);
  printf("listening\n");
  fflush(stdout);
  struct epoll_event events[256];
  char buf[65536];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) continue;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        continue;
      }
      if (fd == ufd) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t r = recvfrom(ufd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (r >= 0) sendto(ufd, buf, r, 0, (struct sockaddr *)&from, len);
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        close(fd);
        continue;
      }
      for (ssize_t off = 0; off < r;) {
        ssize_t w = write(fd, buf + off, r - off);
        if (w <= 0) break;
        off += w;
      }
    }
  }
}

/* Sleeps `us` microseconds (none for 0): the gap a real client leaves between requests. */
static void gap(int us) {
  if (us <= 0) return;
  struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int pingpong(struct sockaddr_in *sa, int rounds, int gap_us) {
  int fd = connect_to(sa);
  double *t = calloc(rounds, sizeof *t);
  char c = 'x';
  for (int i = -100; i < rounds; i++) {
    gap(gap_us);
    double start = now_us();
    if (write(fd, &c, 1) != 1) die("write");
    if (read(fd, &c, 1) != 1) die("read");
    if (i >= 0) t[i] = now_us() - start;
  }
  double sum = 0;
  for (int i = 0; i < rounds; i++) sum += t[i];
  qsort(t, rounds, sizeof *t, cmp);
  printf("%.1f %.1f %.1f\n", t[rounds / 2], sum / rounds, t[rounds * 9 / 10]);
  return 0;
}

_Noreturn static void hold(struct sockaddr_in *sa, int count) {
  raise_nofile();
  for (int i = 0; i < count; i++) {
    int fd = connect_to(sa);
    /* One byte and its echo: the connection is fully set up on both sides. */
    char c = 'x';
    if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) die("hold echo");
  }
  printf("held %d\n", count);
  fflush(stdout);
  for (;;) pause();
}

static int churn(struct sockaddr_in *sa, int count) {
  for (int i = 0; i < count; i++) {
    int fd = connect_to(sa);
    char c = 'x';
    if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) die("churn echo");
    close(fd);
  }
  return 0;
}

static int udp(struct sockaddr_in *sa, int lport, int count) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct timeval timeout = {.tv_sec = 1};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons((unsigned short)lport)};
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) die("bind");
  if (connect(fd, (struct sockaddr *)sa, sizeof *sa) < 0) die("connect");
  char buf[64] = "soak";
  int echoed = 0;
  for (int i = 0; i < count; i++) {
    if (send(fd, buf, sizeof buf, 0) != sizeof buf) die("send");
    if (recv(fd, buf, sizeof buf, 0) == sizeof buf) echoed++;
  }
  printf("echoed %d of %d\n", echoed, count);
  return echoed > 0 ? 0 : 1;
}

/* A minimal query (RFC 1035 §4.1): header with RD and one question, QTYPE A, QCLASS IN. */
static size_t dns_query(unsigned char *buf, size_t size, const char *name, unsigned id) {
  size_t n = 12;
  memset(buf, 0, n);
  buf[0] = id >> 8;
  buf[1] = id & 0xff;
  buf[2] = 0x01; /* RD */
  buf[5] = 1;    /* QDCOUNT */
  for (const char *label = name; *label;) {
    size_t len = strcspn(label, ".");
    if (len == 0 || len > 63 || n + len + 6 > size) {
      fprintf(stderr, "bad name %s\n", name);
      exit(2);
    }
    buf[n++] = len;
    memcpy(buf + n, label, len);
    n += len;
    label += len;
    if (*label == '.') label++;
  }
  buf[n++] = 0;
  buf[n++] = 0, buf[n++] = 1; /* QTYPE A */
  buf[n++] = 0, buf[n++] = 1; /* QCLASS IN */
  return n;
}

static int dns(struct sockaddr_in *sa, int count, const char *name, int gap_us) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  struct timeval timeout = {.tv_sec = 1};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, (struct sockaddr *)sa, sizeof *sa) < 0) die("connect");
  double *t = calloc(count, sizeof *t);
  unsigned char query[512], answer[1500];
  for (int i = -100; i < count; i++) {
    unsigned id = (unsigned)(i + 100) & 0xffff;
    size_t len = dns_query(query, sizeof query, name, id);
    gap(gap_us);
    double start = now_us();
    if (send(fd, query, len, 0) != (ssize_t)len) die("send");
    for (;;) {
      ssize_t r = recv(fd, answer, sizeof answer, 0);
      if (r < 0) die("recv (no DNS answer within 1 s)");
      /* An answer (QR) with our ID; anything else is a stray late one. */
      if (r >= 12 && (answer[0] << 8 | answer[1]) == id && (answer[2] & 0x80)) break;
    }
    /* NOERROR with an answer record: the name resolved (a stray resolver would say NXDOMAIN). */
    if ((answer[3] & 0x0f) != 0 || (answer[6] << 8 | answer[7]) == 0) {
      fprintf(stderr, "DNS answer without an address for %s (rcode %d)\n", name, answer[3] & 0x0f);
      return 1;
    }
    if (i >= 0) t[i] = now_us() - start;
  }
  qsort(t, count, sizeof *t, cmp);
  printf("%.1f %.1f\n", t[count / 2], t[count * 9 / 10]);
  return 0;
}

/*
 * A child that joins the namespaces of nspid (the user namespace too when it is another one),
 * subscribes to link notifications there, writes one byte to `out` once subscribed, and then the
 * monotonic time in µs (a double) at which the link `name` appeared.
 */
static pid_t watch_link(int nspid, const char *name, int out) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid > 0) return pid;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/user", nspid);
  int userns = open(path, O_RDONLY | O_CLOEXEC);
  struct stat theirs, ours;
  if (userns >= 0 && fstat(userns, &theirs) == 0 && stat("/proc/self/ns/user", &ours) == 0 &&
      theirs.st_ino != ours.st_ino && setns(userns, CLONE_NEWUSER) < 0)
    die("setns user");
  snprintf(path, sizeof path, "/proc/%d/ns/net", nspid);
  int netns = open(path, O_RDONLY | O_CLOEXEC);
  if (netns < 0 || setns(netns, CLONE_NEWNET) < 0) die("setns net");
  int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl < 0) die("netlink socket");
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
  if (bind(nl, (struct sockaddr *)&sa, sizeof sa) < 0) die("netlink bind");
  if (write(out, "w", 1) != 1) _exit(1);
  static char buf[65536];
  for (;;) {
    ssize_t n = recv(nl, buf, sizeof buf, 0);
    double at = now_us();
    if (n < 0) die("netlink recv");
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type != RTM_NEWLINK) continue;
      struct ifinfomsg *ifi = NLMSG_DATA(h);
      int len = IFLA_PAYLOAD(h);
      for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == IFLA_IFNAME && strcmp(RTA_DATA(a), name) == 0) {
          if (write(out, &at, sizeof at) != sizeof at) _exit(1);
          _exit(0);
        }
      }
    }
  }
}

static int startup(int fd, int nspid, const char *tap, char **argv) {
  int p[2], w[2];
  if (pipe(p) < 0 || pipe(w) < 0) die("pipe");
  pid_t watcher = watch_link(nspid, tap, w[1]);
  close(w[1]);
  char c;
  if (read(w[0], &c, 1) != 1) {
    fprintf(stderr, "the link watcher failed\n");
    return 1;
  }
  double start = now_us();
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(p[0]);
    close(w[0]);
    if (p[1] != fd) {
      if (dup2(p[1], fd) < 0) die("dup2");
      close(p[1]);
    }
    execvp(argv[0], argv);
    die("execvp");
  }
  close(p[1]);
  ssize_t r = read(p[0], &c, 1);
  double ready = now_us() - start;
  // The link exists by the ready byte; the watcher may still be reading its notification.
  struct pollfd pw = {.fd = w[0], .events = POLLIN};
  double tapAt = 0;
  int got = poll(&pw, 1, 5000) == 1 && read(w[0], &tapAt, sizeof tapAt) == sizeof tapAt;
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  kill(watcher, SIGKILL);
  waitpid(watcher, NULL, 0);
  if (r != 1) {
    fprintf(stderr, "no ready byte\n");
    return 1;
  }
  if (!got) {
    fprintf(stderr, "no link %s seen\n", tap);
    return 1;
  }
  printf("%.0f %.0f\n", tapAt - start, ready);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "server") == 0) {
    struct sockaddr_in sa = address(argv[2], argv[3]);
    server(&sa);
  }
  if (argc >= 5 && strcmp(argv[1], "pingpong") == 0) {
    struct sockaddr_in sa = address(argv[2], argv[3]);
    return pingpong(&sa, atoi(argv[4]), argc >= 6 ? atoi(argv[5]) : 0);
  }
  if (argc >= 5 && strcmp(argv[1], "hold") == 0) {
    struct sockaddr_in sa = address(argv[2], argv[3]);
    hold(&sa, atoi(argv[4]));
  }
  if (argc >= 5 && strcmp(argv[1], "churn") == 0) {
    struct sockaddr_in sa = address(argv[2], argv[3]);
    return churn(&sa, atoi(argv[4]));
  }
  if (argc >= 6 && strcmp(argv[1], "udp") == 0) {
    struct sockaddr_in sa = address(argv[2], argv[3]);
    return udp(&sa, atoi(argv[4]), atoi(argv[5]));
  }
  if (argc >= 5 && strcmp(argv[1], "dns") == 0) {
    struct sockaddr_in sa = address(argv[2], "53");
    return dns(&sa, atoi(argv[3]), argv[4], argc >= 6 ? atoi(argv[5]) : 0);
  }
  if (argc >= 6 && strcmp(argv[1], "startup") == 0) {
    return startup(atoi(argv[2]), atoi(argv[3]), argv[4], argv + 5);
  }
  fprintf(stderr, "usage: see the comment at the top of bench/tcptool.c\n");
  return 2;
}
