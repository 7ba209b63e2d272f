/*
 * Packet capture (`--pcap`): the file's one open and the append of one record. The record format
 * is libpcap's savefile (pcap-savefile(5); draft-ietf-opsawg-pcap §4-5): a 16-byte header, then
 * the frame. Fields are little-endian, like the file header src/link/capture.ts writes (the magic
 * tells readers the byte order). Every function returns a value >= 0 on success and -errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Creates (or truncates) the capture file for appending, close-on-exec: the fd, or -errno. */
int shim_pcap_open(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
  return fd < 0 ? -errno : fd;
}

static void put_le32(uint8_t *at, uint32_t value) {
  at[0] = (uint8_t)value;
  at[1] = (uint8_t)(value >> 8);
  at[2] = (uint8_t)(value >> 16);
  at[3] = (uint8_t)(value >> 24);
}

/*
 * Appends one record: the time of day in microseconds, the captured and original lengths (the
 * frame is cut at snaplen), and the frame, in a single writev(2) on the O_APPEND fd. A short
 * write (the disk filled up) is cut off again with ftruncate, so that the file ends with a whole
 * record, and reported as -ENOSPC. Returns 0 or -errno.
 */
int shim_pcap_append(int fd, const void *frame, int len, int snaplen) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint32_t captured = (uint32_t)(len < snaplen ? len : snaplen);
  uint8_t header[16];
  put_le32(header, (uint32_t)now.tv_sec);
  put_le32(header + 4, (uint32_t)(now.tv_nsec / 1000));
  put_le32(header + 8, captured);
  put_le32(header + 12, (uint32_t)len);
  struct iovec iov[2] = {
      {.iov_base = header, .iov_len = sizeof header},
      {.iov_base = (void *)frame, .iov_len = captured},
  };
  ssize_t n;
  do {
    n = writev(fd, iov, 2);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  if ((size_t)n != sizeof header + captured) {
    off_t end = lseek(fd, 0, SEEK_CUR);
    if (end >= n && ftruncate(fd, end - n) < 0) return -errno;
    return -ENOSPC;
  }
  return 0;
}
