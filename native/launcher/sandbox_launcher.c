/*
 * slirp4netns-sandbox: builds the --enable-sandbox environment for a whole process, then executes
 * the program that is to run inside it (the Deno runtime with our cli.ts, as a continuation).
 *
 * Why a separate executable: the mount namespace, the root directory and the capability sets are
 * per thread in Linux, and unshare(CLONE_NEWNS) or setns(CLONE_NEWUSER) fail with EINVAL in a
 * multithreaded process. The Deno process has many threads before its first line of TypeScript,
 * so it execve()s this single-threaded program (same PID, its fds inherited), which builds the
 * sandbox and execve()s the runtime again: every thread the runtime then starts is created inside.
 * It never reads its own path (it may run from a memfd: the package ships it prebuilt and static,
 * native/launcher/launcher_cc.sh).
 * See src/sandbox/mod.ts for the Theory of Operation; the steps follow slirp4netns's sandbox.c
 * (reference §4.3), with the paths the runtime needs added read-only.
 *
 *   slirp4netns-sandbox [--userns PATH] [--bind SRC DST]... [--scratch DST]
 *                       [--api-socket DIRFD NAME INO] [--setenv NAME=VALUE]... -- PROGRAM [ARG]...
 *
 * --userns      the user namespace to join when this process has no CAP_SYS_ADMIN of its own
 *               (the target's, as slirp4netns joins /proc/PID/ns/user, or --userns-path)
 * --bind        a file or directory made visible read-only at DST inside (code may be mapped);
 *               DST may be below the scratch directory
 * --scratch     a small private tmpfs at DST (noexec), for the runtime's compile cache: without a
 *               writable cache directory Deno retries creating one for 150 ms at start-up
 * --api-socket  the API socket to remove if the sandbox cannot be built (the process then exits 1
 *               and nobody else would remove it)
 * --setenv      an environment variable for PROGRAM
 *
 * Errors print one line naming the failed step, then "create_sandbox failed", and exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define ATTR_RDONLY 0x00000001
#define ATTR_NOSUID 0x00000002
#define ATTR_NODEV 0x00000004
#define ATTR_NOEXEC 0x00000008

struct mount_attr_v0 {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};

/* Where the new root is assembled before pivot_root, as slirp4netns does. */
#define STAGE "/tmp"
#define MAX_BINDS 64
#define MAX_ENV 32

/*
 * One read-only bind. Sources are opened in the new mount namespace (a bind from a mount of
 * another namespace is refused) and before the stage hides them (a source may be below /tmp).
 */
struct bind {
  const char *src;
  char dst[PATH_MAX];
  int fd;
  /* MOUNT_ATTR_* flags besides read-only. */
  uint64_t attrs;
};

static struct bind binds[MAX_BINDS];
static int nbinds;

static const char *scratch;
static int api_dirfd = -1;
static const char *api_name;
static unsigned long long api_ino;

/* Removes the API socket (if still ours) and exits 1: the caller sees a failure before ready. */
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("sandbox: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\ncreate_sandbox failed\n", stderr);
  if (api_dirfd >= 0) {
    struct stat st;
    if (fstatat(api_dirfd, api_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_ino == api_ino)
      unlinkat(api_dirfd, api_name, 0);
  }
  exit(1);
}

static void usage(void) {
  fputs("usage: slirp4netns-sandbox [--userns PATH] [--bind SRC DST]... [--scratch DST] "
        "[--api-socket DIRFD NAME INO] [--setenv NAME=VALUE]... -- PROGRAM [ARG]...\n",
        stderr);
  exit(1);
}

static void add_bind(const char *src, const char *dst, uint64_t attrs) {
  if (nbinds == MAX_BINDS) die("too many paths to bind");
  struct bind *b = &binds[nbinds++];
  b->src = src;
  snprintf(b->dst, sizeof b->dst, "%s", dst);
  b->attrs = attrs;
  b->fd = -1;
}

static void open_binds(void) {
  for (int k = 0; k < nbinds; k++) {
    binds[k].fd = open(binds[k].src, O_PATH | O_CLOEXEC);
    if (binds[k].fd < 0) die("cannot open %s: %s", binds[k].src, strerror(errno));
  }
}

static int has_cap(int cap) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &header, data) < 0) return 0;
  return (data[cap / 32].effective >> (cap % 32)) & 1;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  int saved = errno;
  close(fd);
  errno = saved;
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * Gets CAP_SYS_ADMIN over a user namespace this process is in, as slirp4netns does for non-root
 * (it joins /proc/PID/ns/user). Already having it (root, or root inside a user namespace as Podman
 * runs us): nothing to do. Else join `userns`; else (no PID, no --userns-path: slirp4netns #317)
 * make a user namespace of our own, our uid and gid mapped to 0 in it.
 */
static void gain_admin(const char *userns) {
  if (has_cap(CAP_SYS_ADMIN)) return;
  char joined[512] = "no user namespace to join";
  if (userns != NULL) {
    int fd = open(userns, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(joined, sizeof joined, "%s: %s", userns, strerror(errno));
    } else {
      int rc = setns(fd, CLONE_NEWUSER);
      snprintf(joined, sizeof joined, "setns(%s): %s", userns, strerror(errno));
      close(fd);
      if (rc == 0 && has_cap(CAP_SYS_ADMIN)) return;
    }
  }
  uid_t uid = geteuid();
  gid_t gid = getegid();
  char map[64];
  const char *step = "unshare(CLONE_NEWUSER)";
  if (unshare(CLONE_NEWUSER) == 0) {
    step = "writing /proc/self/uid_map";
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
    if (write_file("/proc/self/uid_map", map) == 0) {
      step = "writing /proc/self/gid_map";
      snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
      if (write_file("/proc/self/setgroups", "deny") == 0 &&
          write_file("/proc/self/gid_map", map) == 0 && has_cap(CAP_SYS_ADMIN))
        return;
    }
  }
  die("no capability to create a mount namespace (%s; %s: %s)", joined, step, strerror(errno));
}

/* mkdir -p for the directories above `path` (inside the stage). */
static void make_parents(const char *path) {
  char buf[PATH_MAX + 16];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) die("mkdir %s: %s", buf, strerror(errno));
    *p = '/';
  }
}

/*
 * Read-only, plus `attrs`, for the mount at `target` and every mount below it (an rbind of /run
 * carries /run's submounts, which slirp4netns leaves writable). Flags the kernel locked for an
 * unprivileged namespace are only ever added to, never cleared.
 */
static void make_readonly(const char *target, uint64_t attrs) {
  struct mount_attr_v0 attr = {ATTR_RDONLY | attrs, 0, 0, 0};
  if (syscall(SYS_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof attr) == 0) return;
  if (errno != ENOSYS) die("mount_setattr(%s, read-only): %s", target, strerror(errno));
  /* Before Linux 5.12: the top mount only, keeping the flags it has (they may be locked). */
  struct statvfs vfs;
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
  if (statvfs(target, &vfs) == 0) {
    if (vfs.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (vfs.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (vfs.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (vfs.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (vfs.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (vfs.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  }
  if (attrs & ATTR_NOSUID) flags |= MS_NOSUID;
  if (attrs & ATTR_NODEV) flags |= MS_NODEV;
  if (attrs & ATTR_NOEXEC) flags |= MS_NOEXEC;
  if (mount(NULL, target, NULL, flags, NULL) < 0)
    die("remount %s read-only: %s", target, strerror(errno));
}

/* Binds one source at STAGE/dst: an empty file or a directory as the mount point, then rslave. */
static void mount_bind(struct bind *b) {
  char target[PATH_MAX + sizeof STAGE];
  char source[64];
  struct stat st;
  if (fstat(b->fd, &st) < 0) die("stat %s: %s", b->src, strerror(errno));
  snprintf(target, sizeof target, STAGE "%s", b->dst);
  make_parents(target);
  if (S_ISDIR(st.st_mode)) {
    if (mkdir(target, 0755) < 0 && errno != EEXIST) die("mkdir %s: %s", target, strerror(errno));
  } else {
    int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
    if (fd < 0) die("create %s: %s", target, strerror(errno));
    close(fd);
  }
  snprintf(source, sizeof source, "/proc/self/fd/%d", b->fd);
  if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) < 0)
    die("cannot bind %s to %s: %s", b->src, b->dst, strerror(errno));
  /* Propagation from the caller's mounts in, never out (reference §4.3 step 3). */
  if (mount(NULL, target, NULL, MS_REC | MS_SLAVE, NULL) < 0 && errno != EINVAL)
    die("make %s rslave: %s", target, strerror(errno));
  make_readonly(target, b->attrs);
  close(b->fd);
}

/* The system directories the dynamic loader reads: symlinks are copied, directories bound. */
static void add_system_dir(const char *name) {
  char path[64], link[PATH_MAX];
  struct stat st;
  snprintf(path, sizeof path, "/%s", name);
  if (lstat(path, &st) < 0) return;
  if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0) die("readlink %s: %s", path, strerror(errno));
    link[n] = 0;
    char at[80];
    snprintf(at, sizeof at, STAGE "/%s", name);
    if (symlink(link, at) < 0) die("symlink %s: %s", at, strerror(errno));
  } else if (S_ISDIR(st.st_mode)) {
    add_bind(strdup(path), path, ATTR_NOSUID | ATTR_NODEV);
  }
}

/*
 * slirp4netns §4.3 step 4: a resolv.conf that resolves outside /etc and /run (WSL, NixOS,
 * openSUSE) is bound at its real path, or DNS would stop working inside.
 */
static void add_escaped_resolv_conf(void) {
  char real[PATH_MAX];
  if (realpath("/etc/resolv.conf", real) == NULL) return;
  if (strncmp(real, "/etc/", 5) == 0 || strncmp(real, "/run/", 5) == 0) return;
  if (strncmp(real, "/usr/", 5) == 0) return; /* bound anyway */
  fprintf(stderr,
          "sandbox: /etc/resolv.conf (-> %s) seems a symlink to a file outside {/etc, /run}, "
          "attempting to bind it as well.\n",
          real);
  add_bind(strdup(real), real, ATTR_NOSUID | ATTR_NODEV | ATTR_NOEXEC);
}

/* Bounding set, ambient set, then eff = prm = inh = {CAP_NET_BIND_SERVICE} (step 7). */
static void drop_capabilities(void) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    die("prctl(PR_CAP_AMBIENT_CLEAR_ALL): %s", strerror(errno));
  for (int cap = 0; cap < 64; cap++) {
    if (cap == CAP_NET_BIND_SERVICE) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break; /* past the kernel's last capability */
      die("prctl(PR_CAPBSET_DROP, %d): %s", cap, strerror(errno));
    }
  }
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  data[0].effective = data[0].permitted = data[0].inheritable = 1u << CAP_NET_BIND_SERVICE;
  if (syscall(SYS_capset, &header, data) < 0) die("capset: %s", strerror(errno));
  /*
   * Across execve a uid 0 (in its user namespace) keeps inheritable & bounding = the one
   * capability. Any other uid would lose it: the ambient set carries it over.
   */
  if (geteuid() != 0 &&
      prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) < 0)
    die("prctl(PR_CAP_AMBIENT_RAISE): %s", strerror(errno));
}

/* A stop asked for while we ran (the signals are blocked across both execs) ends us here. */
static void stop_if_asked(void) {
  sigset_t pending;
  if (sigpending(&pending) < 0) return;
  const char *name = sigismember(&pending, SIGTERM)  ? "SIGTERM"
                     : sigismember(&pending, SIGINT) ? "SIGINT"
                                                     : NULL;
  if (name == NULL) return;
  fprintf(stderr, "%s received\n", name);
  if (api_dirfd >= 0) {
    struct stat st;
    if (fstatat(api_dirfd, api_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_ino == api_ino)
      unlinkat(api_dirfd, api_name, 0);
  }
  exit(0);
}

int main(int argc, char **argv) {
  const char *userns = NULL;
  const char *env[MAX_ENV];
  int nenv = 0;
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    } else if (strcmp(a, "--userns") == 0 && i + 1 < argc) {
      userns = argv[++i];
    } else if (strcmp(a, "--bind") == 0 && i + 2 < argc) {
      if (argv[i + 2][0] != '/') usage();
      add_bind(argv[i + 1], argv[i + 2], ATTR_NOSUID | ATTR_NODEV);
      i += 2;
    } else if (strcmp(a, "--scratch") == 0 && i + 1 < argc) {
      scratch = argv[++i];
      if (scratch[0] != '/') usage();
    } else if (strcmp(a, "--api-socket") == 0 && i + 3 < argc) {
      api_dirfd = atoi(argv[i + 1]);
      api_name = argv[i + 2];
      api_ino = strtoull(argv[i + 3], NULL, 10);
      i += 3;
    } else if (strcmp(a, "--setenv") == 0 && i + 1 < argc && nenv < MAX_ENV) {
      env[nenv++] = argv[++i];
    } else {
      usage();
    }
  }
  if (i >= argc) usage();
  char **program = &argv[i];
  pid_t pid = getpid();

  gain_admin(userns);

  add_bind("/etc", "/etc", ATTR_NOSUID | ATTR_NODEV | ATTR_NOEXEC);
  add_bind("/run", "/run", ATTR_NOSUID | ATTR_NODEV | ATTR_NOEXEC);
  char proc_pid[32];
  snprintf(proc_pid, sizeof proc_pid, "/proc/%d", (int)pid);
  /* The runtime reads /proc/self/maps (the main thread's stack), /proc/self/exe and the like. */
  add_bind(proc_pid, proc_pid, ATTR_NOSUID | ATTR_NODEV | ATTR_NOEXEC);
  /* V8 seeds its address-space randomization from /dev/urandom. */
  add_bind("/dev/null", "/dev/null", ATTR_NOSUID | ATTR_NOEXEC);
  add_bind("/dev/urandom", "/dev/urandom", ATTR_NOSUID | ATTR_NOEXEC);

  if (unshare(CLONE_NEWNS) < 0) die("unshare(CLONE_NEWNS): %s", strerror(errno));
  /* Nothing we mount or unmount from here on may propagate to the caller's namespace. */
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
    /* The root is not a mount point: a chroot, a rootfs or an initramfs (slirp4netns #249). */
    if (errno == EINVAL) die("cannot pivot_root: / is not a mount point (a chroot, rootfs or initramfs)");
    die("make / rslave: %s", strerror(errno));
  }
  add_escaped_resolv_conf();
  open_binds();
  if (mount("tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=755") < 0)
    die("cannot mount tmpfs on " STAGE ": %s", strerror(errno));
  static const char *const system_dirs[] = {"usr", "lib", "lib64", "lib32", "libx32"};
  int opened = nbinds;
  for (size_t k = 0; k < sizeof system_dirs / sizeof *system_dirs; k++)
    add_system_dir(system_dirs[k]);
  for (int k = opened; k < nbinds; k++) {
    binds[k].fd = open(binds[k].src, O_PATH | O_CLOEXEC);
    if (binds[k].fd < 0) die("cannot open %s: %s", binds[k].src, strerror(errno));
  }
  /* The scratch first: a bind may go below it (a module cache inside the runtime's cache). */
  if (scratch != NULL) {
    char target[PATH_MAX + sizeof STAGE];
    snprintf(target, sizeof target, STAGE "%s", scratch);
    make_parents(target);
    if (mkdir(target, 0700) < 0 && errno != EEXIST) die("mkdir %s: %s", target, strerror(errno));
    if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64m,mode=700") < 0)
      die("cannot mount tmpfs on %s: %s", scratch, strerror(errno));
  }
  for (int k = 0; k < nbinds; k++) mount_bind(&binds[k]);
  char pid_text[16];
  snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
  if (symlink(pid_text, STAGE "/proc/self") < 0) die("symlink /proc/self: %s", strerror(errno));

  /* pivot_root(".", "."): the old root lands on top of the new one and is detached from it. */
  if (chdir(STAGE) < 0) die("chdir " STAGE ": %s", strerror(errno));
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("cannot pivot_root to " STAGE ": %s", strerror(errno));
  if (umount2(".", MNT_DETACH) < 0) die("umount the old root: %s", strerror(errno));
  if (chdir("/") < 0) die("chdir /: %s", strerror(errno));
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
            NULL) < 0)
    die("remount / read-only: %s", strerror(errno));
  /* The tmpfs itself too; refused in some environments (slirp4netns #163), the mount is ro. */
  mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);

  drop_capabilities();
  stop_if_asked();
  for (int k = 0; k < nenv; k++) {
    const char *eq = strchr(env[k], '=');
    if (eq == NULL) continue;
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)(eq - env[k]), env[k]);
    setenv(name, eq + 1, 1);
  }
  extern char **environ;
  execve(program[0], program, environ);
  die("cannot execute %s: %s", program[0], strerror(errno));
}
