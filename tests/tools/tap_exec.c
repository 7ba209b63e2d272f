/*
 * tap_exec TAPNAME FD PROGRAM [ARG...]: opens (creating if needed) the tap device TAPNAME in the
 * current network namespace, puts it at fd FD without close-on-exec, and executes PROGRAM, so it
 * inherits an open tap fd as `--netns-type=tapfd FD` expects.
 */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: tap_exec TAPNAME FD PROGRAM [ARG...]\n");
    return 2;
  }
  int fd = open("/dev/net/tun", O_RDWR);
  if (fd < 0) {
    perror("open /dev/net/tun");
    return 1;
  }
  struct ifreq req;
  memset(&req, 0, sizeof req);
  strncpy(req.ifr_name, argv[1], IFNAMSIZ - 1);
  req.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &req) < 0) {
    perror("TUNSETIFF");
    return 1;
  }
  int target = atoi(argv[2]);
  if (fd != target) {
    if (dup2(fd, target) < 0) {
      perror("dup2");
      return 1;
    }
    close(fd);
  }
  execvp(argv[3], argv + 3);
  perror("exec");
  return 1;
}
