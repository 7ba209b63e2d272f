/*
 * The native shim: the few things Deno cannot do itself, loaded with Deno.dlopen.
 *
 * - shim_open_tap(): join a user and network namespace in a child process, open a tap device
 *   there (optionally configuring it), and pass the fd back over a unix socket with SCM_RIGHTS.
 *   A multithreaded process (Deno always is) cannot setns(CLONE_NEWUSER) itself, so the child is
 *   required. It is created with clone(CLONE_VM|CLONE_VFORK): its cost does not grow with the
 *   heap, and the parent stays suspended until the child exits. The child runs on its own stack,
 *   with every signal blocked, and makes only raw system calls: no malloc, no stdio, no locks.
 * - Thin wrappers over system calls that return -errno instead of setting errno, because errno is
 *   not reliable across FFI calls.
 *
 * Every function returns a value >= 0 on success and -errno (or an encoded step, see below) on
 * failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/if_tun.h>

/* Steps of shim_open_tap(); a failure returns -(step * 1000 + errno). Keep in sync with
 * src/ffi/open_tap.ts. */
enum step {
  STEP_OPEN_USERNS = 1,
  STEP_OPEN_NETNS = 2,
  STEP_SETNS_NET = 3,
  STEP_OPEN_TUN = 4,
  STEP_TUNSETIFF = 5,
  STEP_CONFIG_SOCKET = 6,
  STEP_LO_UP = 7,
  STEP_TAP_UP = 8,
  STEP_SET_MTU = 9,
  STEP_SET_MAC = 10,
  STEP_SET_ADDR = 11,
  STEP_SET_NETMASK = 12,
  STEP_SET_ROUTE = 13,
  STEP_SENDMSG = 14,
  STEP_SOCKETPAIR = 20,
  STEP_CLONE = 21,
  STEP_RECVMSG = 22,
  STEP_CHILD_DIED = 23,
};

/* Flags of shim_open_tap(). */
#define SHIM_CONFIGURE 1

#define CHILD_STACK_SIZE (64 * 1024)

/* Everything the child needs, prepared by the parent before clone(). */
struct tap_job {
  int userns_fd; /* -1: stay in the current user namespace */
  int netns_fd;
  int sock;      /* the child's end of the socketpair */
  int flags;
  struct ifreq tun_req;
  struct ifreq lo_up;
  struct ifreq tap_up;
  struct ifreq mtu;
  struct ifreq mac;
  int has_mac;
  struct ifreq addr;
  struct ifreq netmask;
  struct rtentry route;
};

/* What the child reports back; the tap fd travels beside it as SCM_RIGHTS. */
struct tap_report {
  int32_t step; /* 0 on success */
  int32_t err;
  int32_t child_fd;
};

static void child_report(int sock, int step, int err, int tapfd) {
  struct tap_report report = {step, err, tapfd};
  struct iovec iov = {&report, sizeof report};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (tapfd >= 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &tapfd, sizeof(int));
  }
  sendmsg(sock, &msg, MSG_NOSIGNAL);
}

static int set_flags_up(int cfg, struct ifreq *req) {
  if (ioctl(cfg, SIOCGIFFLAGS, req) < 0) return -1;
  req->ifr_flags |= IFF_UP | IFF_RUNNING;
  return ioctl(cfg, SIOCSIFFLAGS, req);
}

/* The child: raw system calls only. Returns the exit status. */
static int tap_child(void *arg) {
  struct tap_job *job = arg;
  int step = 0;
  int tapfd = -1;
  int cfg = -1;

  /* Joining fails with EINVAL when we are already a member; slirp4netns ignores the error. */
  if (job->userns_fd >= 0) setns(job->userns_fd, CLONE_NEWUSER);
  if (setns(job->netns_fd, CLONE_NEWNET) < 0) { step = STEP_SETNS_NET; goto fail; }
  tapfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tapfd < 0) { step = STEP_OPEN_TUN; goto fail; }
  if (ioctl(tapfd, TUNSETIFF, &job->tun_req) < 0) { step = STEP_TUNSETIFF; goto fail; }
  if (job->flags & SHIM_CONFIGURE) {
    /* Configured here, in the same step as the tap appears, as slirp4netns does: callers wait
     * for the device and then expect it configured. */
    cfg = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (cfg < 0) { step = STEP_CONFIG_SOCKET; goto fail; }
    if (set_flags_up(cfg, &job->lo_up) < 0) { step = STEP_LO_UP; goto fail; }
    if (set_flags_up(cfg, &job->tap_up) < 0) { step = STEP_TAP_UP; goto fail; }
    if (ioctl(cfg, SIOCSIFMTU, &job->mtu) < 0) { step = STEP_SET_MTU; goto fail; }
    if (job->has_mac && ioctl(cfg, SIOCSIFHWADDR, &job->mac) < 0) { step = STEP_SET_MAC; goto fail; }
    if (ioctl(cfg, SIOCSIFADDR, &job->addr) < 0) { step = STEP_SET_ADDR; goto fail; }
    if (ioctl(cfg, SIOCSIFNETMASK, &job->netmask) < 0) { step = STEP_SET_NETMASK; goto fail; }
    if (ioctl(cfg, SIOCADDRT, &job->route) < 0) { step = STEP_SET_ROUTE; goto fail; }
    close(cfg);
  }
  child_report(job->sock, 0, 0, tapfd);
  return 0;
fail:
  child_report(job->sock, step, errno, -1);
  return 1;
}

static void set_name(struct ifreq *req, const char *name) {
  memset(req, 0, sizeof *req);
  strncpy(req->ifr_name, name, IFNAMSIZ - 1);
}

static void set_inet(struct sockaddr *sa, uint32_t address) {
  struct sockaddr_in *sin = (struct sockaddr_in *)sa;
  memset(sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl(address);
}

static int same_namespace(int fd, const char *own) {
  struct stat a, b;
  if (fstat(fd, &a) < 0 || stat(own, &b) < 0) return 0;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int recv_report(int sock, struct tap_report *report, int *tapfd) {
  struct iovec iov = {report, sizeof *report};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  memset(&control, 0, sizeof control);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  if (n != sizeof *report) return -EPROTO;
  *tapfd = -1;
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  if (cmsg && cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS)
    memcpy(tapfd, CMSG_DATA(cmsg), sizeof(int));
  return 0;
}

/*
 * Opens the tap device `tapname` inside the network namespace at `netns_path`, after joining the
 * user namespace at `userns_path` (NULL: none; skipped when it is already ours).
 * With SHIM_CONFIGURE: brings lo and the tap up, sets the MTU, the MAC (when mac_len > 0),
 * address/netmask and a default route via `gateway`. Addresses are in host byte order.
 * Returns the tap fd (close-on-exec) and stores the fd number the child had in *child_fd, or
 * returns -(step * 1000 + errno); for STEP_CHILD_DIED the errno part is the wait status.
 */
int shim_open_tap(const char *userns_path, const char *netns_path, const char *tapname, int flags,
                  int mtu, uint32_t address, uint32_t netmask, uint32_t gateway,
                  const uint8_t *mac, int mac_len, int32_t *child_fd) {
  struct tap_job job;
  int result;
  memset(&job, 0, sizeof job);
  job.flags = flags;
  job.userns_fd = -1;
  job.netns_fd = -1;

  job.netns_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
  if (job.netns_fd < 0) {
    result = -(STEP_OPEN_NETNS * 1000 + errno);
    goto out;
  }
  if (userns_path != NULL) {
    job.userns_fd = open(userns_path, O_RDONLY | O_CLOEXEC);
    if (job.userns_fd < 0) {
      result = -(STEP_OPEN_USERNS * 1000 + errno);
      goto out;
    }
    if (same_namespace(job.userns_fd, "/proc/self/ns/user")) {
      close(job.userns_fd);
      job.userns_fd = -1;
    }
  }


  set_name(&job.tun_req, tapname);
  /* Every frame carries a virtio-net header (native/vnet.c turns the offloads on). */
  job.tun_req.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  set_name(&job.lo_up, "lo");
  set_name(&job.tap_up, tapname);
  set_name(&job.mtu, tapname);
  job.mtu.ifr_mtu = mtu;
  set_name(&job.mac, tapname);
  if (mac_len > 0) {
    job.has_mac = 1;
    job.mac.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(job.mac.ifr_hwaddr.sa_data, mac, mac_len > 6 ? 6 : mac_len);
  }
  set_name(&job.addr, tapname);
  set_inet(&job.addr.ifr_addr, address);
  set_name(&job.netmask, tapname);
  set_inet(&job.netmask.ifr_netmask, netmask);
  set_inet(&job.route.rt_dst, 0);
  set_inet(&job.route.rt_genmask, 0);
  set_inet(&job.route.rt_gateway, gateway);
  job.route.rt_flags = RTF_UP | RTF_GATEWAY;
  job.route.rt_dev = job.tap_up.ifr_name;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    result = -(STEP_SOCKETPAIR * 1000 + errno);
    goto out;
  }
  job.sock = sv[1];

  void *stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    result = -(STEP_CLONE * 1000 + errno);
    goto out_sock;
  }
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  pid_t pid = clone(tap_child, (char *)stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD,
                    &job);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  munmap(stack, CHILD_STACK_SIZE);
  if (pid < 0) {
    result = -(STEP_CLONE * 1000 + clone_errno);
    goto out_sock;
  }
  int status = 0;
  while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
  }
  struct tap_report report;
  int tapfd = -1;
  int rc = recv_report(sv[0], &report, &tapfd);
  if (rc < 0) {
    result = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? -(STEP_RECVMSG * 1000 - rc)
                                                           : -(STEP_CHILD_DIED * 1000 + (status & 0x7ff));
  } else if (report.step != 0) {
    result = -(report.step * 1000 + report.err);
  } else if (tapfd < 0) {
    result = -(STEP_RECVMSG * 1000 + EPROTO);
  } else {
    *child_fd = report.child_fd;
    result = tapfd;
  }
out_sock:
  close(sv[0]);
  close(sv[1]);
out:
  if (job.userns_fd >= 0) close(job.userns_fd);
  if (job.netns_fd >= 0) close(job.netns_fd);
  return result;
}

/* The name of the tap device behind `fd` into `name` (IFNAMSIZ bytes), or -errno (e.g. EBADFD
 * for an fd that is not a tun/tap device). */
int shim_tap_name(int fd, char *name) {
  struct ifreq req;
  memset(&req, 0, sizeof req);
  if (ioctl(fd, TUNGETIFF, &req) < 0) return -errno;
  if (!(req.ifr_flags & IFF_TAP)) return -EINVAL;
  memcpy(name, req.ifr_name, IFNAMSIZ);
  return 0;
}

/* read(2), returning the byte count or -errno. */
int shim_read(int fd, void *buf, int len) {
  ssize_t n = read(fd, buf, (size_t)len);
  return n < 0 ? -errno : (int)n;
}

/* read(2) into buf[offset, offset + len): the count or -errno. The offset lets the caller read
 * straight into a slot of a ring without making a view of it. */
int shim_read_at(int fd, uint8_t *buf, int offset, int len) {
  ssize_t n = read(fd, buf + offset, (size_t)len);
  return n < 0 ? -errno : (int)n;
}

/* write(2), returning the byte count or -errno. */
int shim_write(int fd, const void *buf, int len) {
  ssize_t n = write(fd, buf, (size_t)len);
  return n < 0 ? -errno : (int)n;
}

/* poll(2) over `count` struct pollfd (8 bytes each: i32 fd, i16 events, i16 revents); returns the
 * number of ready fds or -errno. EINTR is returned, not retried: the caller decides. */
int shim_poll(struct pollfd *fds, int count, int timeout_ms) {
  int n = poll(fds, (nfds_t)count, timeout_ms);
  return n < 0 ? -errno : n;
}

int shim_close(int fd) { return close(fd) < 0 ? -errno : 0; }

/* eventfd(2) with EFD_CLOEXEC | EFD_NONBLOCK: a wake-up fd for poll loops. */
int shim_eventfd(void) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd < 0 ? -errno : fd;
}

/* Sets or clears O_NONBLOCK. */
int shim_set_nonblocking(int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
  return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

/* access(path, F_OK): 0 or -errno. */
int shim_access(const char *path) { return access(path, F_OK) < 0 ? -errno : 0; }

/* Whether `fd` was inherited from the process that started us: 0, or -EBADF when it is not open
 * or is close-on-exec. An fd that survived exec cannot be close-on-exec, while the runtime opens
 * its own files (e.g. Deno's caches) close-on-exec, possibly at the very number the caller named
 * but did not open. */
int shim_fd_inherited(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return -errno;
  return flags & FD_CLOEXEC ? -EBADF : 0;
}

/* The text of an errno value, NUL-terminated into buf. */
int shim_strerror(int err, char *buf, int len) {
  const char *text = strerror_r(err, buf, (size_t)len);
  if (text != buf) {
    strncpy(buf, text, (size_t)len - 1);
    buf[len - 1] = 0;
  }
  return 0;
}
