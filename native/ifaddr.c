/*
 * Interface addresses for --outbound-addr=IFNAME: the first IPv4 address of an interface, in
 * getifaddrs(3) order, as slirp4netns looks it up. Returns 0 on success and -errno on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* The first AF_INET address of interface `name` into out[0..3] (network byte order); -ENOENT if
 * the interface has none (or does not exist). */
int shim_interface_ipv4(const char *name, uint8_t *out) {
  struct ifaddrs *list;
  if (getifaddrs(&list) < 0) return -errno;
  int rc = -ENOENT;
  for (struct ifaddrs *ifa = list; ifa != NULL; ifa = ifa->ifa_next) {
    if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET) continue;
    if (ifa->ifa_name == NULL || strcmp(ifa->ifa_name, name) != 0) continue;
    memcpy(out, &((struct sockaddr_in *)ifa->ifa_addr)->sin_addr, 4);
    rc = 0;
    break;
  }
  freeifaddrs(list);
  return rc;
}
