/*
 * The process-wide half of --enable-sandbox and --enable-seccomp (src/sandbox/): handing the
 * process over to the sandbox launcher with execve, the checks the continuation makes before it
 * reports ready, and installing a seccomp filter on every thread at once. Every function returns
 * a value >= 0 on success and -errno on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Sets or clears FD_CLOEXEC: the fds the continuation inherits must survive execve. */
int shim_set_cloexec(int fd, int on) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return -errno;
  flags = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
  return fcntl(fd, F_SETFD, flags) < 0 ? -errno : 0;
}

/* readlink(2) into buf (NUL-terminated); the length, or -errno. */
int shim_readlink(const char *path, char *buf, int len) {
  ssize_t n = readlink(path, buf, (size_t)len - 1);
  if (n < 0) return -errno;
  buf[n] = 0;
  return (int)n;
}

/* An O_PATH handle on a directory, for the *at calls below after the path is gone from view. */
int shim_open_dir(const char *path) {
  int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

/* fstatat(AT_SYMLINK_NOFOLLOW): out[0..2] = st_mode, st_dev, st_ino. */
int shim_lstat_at(int dirfd, const char *name, uint64_t *out) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
  out[0] = (uint64_t)st.st_mode;
  out[1] = (uint64_t)st.st_dev;
  out[2] = (uint64_t)st.st_ino;
  return 0;
}

/* unlinkat(2) of a file. */
int shim_unlink_at(int dirfd, const char *name) {
  return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}

static void stop_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGINT);
}

/* The thread that will call execve: where a held stop signal is kept pending. */
static pid_t holding_thread;

static void forward_stop_signal(int sig) {
  int saved = errno;
  syscall(SYS_tgkill, getpid(), holding_thread, sig);
  errno = saved;
}

/*
 * From now on SIGTERM and SIGINT stay pending on the calling thread, whichever thread they are
 * delivered to: blocked here, and caught elsewhere by a handler (replacing the runtime's) that
 * sends them on to this thread. A pending signal survives execve, so a stop asked for while the
 * process hands itself to the sandbox launcher reaches the launcher and the continuation, instead
 * of being taken by the runtime's handler in the old image and lost.
 */
int shim_hold_stop_signals(void) {
  sigset_t set;
  stop_signals(&set);
  holding_thread = (pid_t)syscall(SYS_gettid);
  int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (rc != 0) return -rc;
  struct sigaction forward = {.sa_handler = forward_stop_signal, .sa_flags = SA_RESTART};
  sigemptyset(&forward.sa_mask);
  if (sigaction(SIGTERM, &forward, NULL) < 0 || sigaction(SIGINT, &forward, NULL) < 0)
    return -errno;
  return 0;
}

/*
 * execve(path, args) from the calling thread: the whole process becomes the new image (same PID,
 * the other threads end). `args` is argv as NUL-terminated strings one after the other, `count`
 * of them; the environment is the process's own. SIGTERM and SIGINT are blocked first, so a stop
 * asked for meanwhile stays pending for the new image instead of killing it half-way. Returns
 * only on failure.
 */
int shim_exec(const char *path, const char *args, int count) {
  char **argv = calloc((size_t)count + 1, sizeof *argv);
  if (argv == NULL) return -ENOMEM;
  for (int i = 0; i < count; i++) {
    argv[i] = (char *)args;
    args += strlen(args) + 1;
  }
  sigset_t set, old;
  stop_signals(&set);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  extern char **environ;
  execve(path, argv, environ);
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  free(argv);
  return -err;
}

/* Undoes shim_exec's blocking in the continuation, once its signal listeners are in place. */
int shim_unblock_stop_signals(void) {
  sigset_t set;
  stop_signals(&set);
  return -pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/*
 * What the continuation checks before it reports ready, for the calling thread:
 * out[0] NoNewPrivs, out[1..2] CapEff (low, high 32 bits), out[3..4] CapPrm, out[5..6] CapInh,
 * out[7..8] CapBnd, out[9] 1 if "/" is mounted read-only, out[10] CapAmb (low 32 bits).
 */
int shim_sandbox_state(uint32_t *out) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  if (nnp < 0) return -errno;
  if (syscall(SYS_capget, &header, data) < 0) return -errno;
  out[0] = (uint32_t)nnp;
  out[1] = data[0].effective;
  out[2] = data[1].effective;
  out[3] = data[0].permitted;
  out[4] = data[1].permitted;
  out[5] = data[0].inheritable;
  out[6] = data[1].inheritable;
  out[7] = out[8] = 0;
  for (int cap = 0; cap < 64; cap++) {
    int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in < 0) break; /* past the kernel's last capability */
    if (in) out[7 + cap / 32] |= 1u << (cap % 32);
  }
  struct statvfs vfs;
  if (statvfs("/", &vfs) < 0) return -errno;
  out[9] = (vfs.f_flag & ST_RDONLY) ? 1 : 0;
  out[10] = 0;
  for (int cap = 0; cap < 32; cap++) {
    int in = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
    if (in < 0) break;
    if (in) out[10] |= 1u << cap;
  }
  return 0;
}

/* seccomp(SECCOMP_GET_ACTION_AVAIL): 0 when the kernel knows `action`. */
int shim_seccomp_action_available(uint32_t action) {
  return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0 ? -errno : 0;
}

/*
 * Installs a classic BPF program (`count` instructions of 8 bytes) as a seccomp filter on every
 * thread of the process (SECCOMP_FILTER_FLAG_TSYNC; threads started later inherit it), after
 * no_new_privs, which TSYNC also sets on every thread. Returns 0, -errno, or the positive id of a
 * thread that could not be synchronized.
 */
int shim_seccomp_install(const void *filter, int count) {
  struct sock_fprog prog = {(unsigned short)count, (struct sock_filter *)filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -errno;
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
  if (rc < 0) return -errno;
  return (int)rc;
}
