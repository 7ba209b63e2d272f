/*
 * Interface addresses for --outbound-addr=IFNAME and --outbound-addr6=IFNAME: the first address
 * of an interface in getifaddrs(3) order, as slirp4netns looks it up. Returns 0 on success and
 * -errno on failure.
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

/* The first AF_INET6 address of interface `name` that is not link-local (fe80::/10: a socket
 * bound to one cannot reach off-link hosts, and binding it needs a scope id) into out[0..15];
 * -ENOENT if there is none. The kernel lists an interface's IPv6 addresses widest scope first. */
int shim_interface_ipv6(const char *name, uint8_t *out) {
  struct ifaddrs *list;
  if (getifaddrs(&list) < 0) return -errno;
  int rc = -ENOENT;
  for (struct ifaddrs *ifa = list; ifa != NULL; ifa = ifa->ifa_next) {
    if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET6) continue;
    if (ifa->ifa_name == NULL || strcmp(ifa->ifa_name, name) != 0) continue;
    const struct in6_addr *a = &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;
    if (IN6_IS_ADDR_LINKLOCAL(a)) continue;
    memcpy(out, a, 16);
    rc = 0;
    break;
  }
  freeifaddrs(list);
  return rc;
}
