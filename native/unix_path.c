/*
 * Path operations for the API socket (src/api/server.ts): done here so that serving the API needs
 * only --allow-ffi, as the rest of the command. Every function returns a value >= 0 on success and
 * -errno on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* lstat(2), not following a final symlink: out[0..2] = st_mode, st_dev, st_ino. */
int shim_lstat(const char *path, uint64_t *out) {
  struct stat st;
  if (lstat(path, &st) < 0) return -errno;
  out[0] = (uint64_t)st.st_mode;
  out[1] = (uint64_t)st.st_dev;
  out[2] = (uint64_t)st.st_ino;
  return 0;
}

/* unlink(2). */
int shim_unlink(const char *path) { return unlink(path) < 0 ? -errno : 0; }
