/*
 * Small file reads for configuration the host keeps in /etc (resolv.conf): done here so that the
 * command needs no --allow-read for them, and so that a compiled binary behaves the same.
 * Every function returns a value >= 0 on success and -errno on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* stat(2), following symlinks: out[0..3] = st_dev, st_ino, st_size, st_mtim in nanoseconds. */
int shim_stat(const char *path, uint64_t *out) {
  struct stat st;
  if (stat(path, &st) < 0) return -errno;
  out[0] = (uint64_t)st.st_dev;
  out[1] = (uint64_t)st.st_ino;
  out[2] = (uint64_t)st.st_size;
  out[3] = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
  return 0;
}

/* Reads up to len bytes from the start of a file: the number read, or -errno. */
int shim_read_file(const char *path, void *buf, int len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -errno;
  int done = 0;
  while (done < len) {
    ssize_t n = read(fd, (char *)buf + done, (size_t)(len - done));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return -err;
    }
    if (n == 0) break;
    done += (int)n;
  }
  close(fd);
  return done;
}
