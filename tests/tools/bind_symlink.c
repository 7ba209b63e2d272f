/*
 * bind_symlink LINK TARGET: bind-mounts the symlink LINK itself (not what it points to) over
 * TARGET, e.g. over /etc/resolv.conf in a test's private mount namespace, so that the file
 * becomes a symlink there as on systemd-resolved, NetworkManager or WSL hosts.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: bind_symlink LINK TARGET\n");
    return 2;
  }
  int fd = open(argv[1], O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    perror(argv[1]);
    return 1;
  }
  char source[64];
  snprintf(source, sizeof source, "/proc/self/fd/%d", fd);
  if (mount(source, argv[2], NULL, MS_BIND, NULL) < 0) {
    perror("mount");
    return 1;
  }
  return 0;
}
