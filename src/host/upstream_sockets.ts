/**
 * UDP sockets to the host's nameservers for the DNS forwarder (src/dns/forwarder.ts), in the
 * resolver worker's epoll set: one non-blocking socket per use, connected to the nameserver's
 * port 53, so the kernel drops datagrams from anyone else and reports ICMP port unreachable as
 * ECONNREFUSED (fast failover). IPv4 and IPv6 nameservers both work, whatever the family the
 * guest asked in. With `--outbound-addr` (`--outbound-addr6`), sockets to non-loopback IPv4 (IPv6)
 * nameservers are bound to it; a loopback resolver (127.0.0.53, ::1) is reached directly, as
 * slirp4netns does.
 */

import type { Shim } from "../ffi/shim.ts";
import {
  AF_INET,
  AF_INET6,
  encodeSockaddr,
  encodeSockaddrIn,
  encodeSockaddrIn6,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLLIN,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCKADDR_IN6_SIZE,
} from "../ffi/sockaddr.ts";
import { DNS_PORT, type Nameserver } from "../dns/resolv_conf.ts";
import type { UpstreamSockets } from "../dns/forwarder.ts";
import { IPV6_LOOPBACK, parseIpv6 } from "../wire/address.ts";
import { isLoopbackIpv4 } from "../wire/ipv4.ts";

/**
 * Upstream sockets registered in an epoll set with their fd as the token.
 *
 * @example
 * ```ts
 * import { loadShim } from "../ffi/shim.ts";
 * import { parseNameserver } from "../dns/resolv_conf.ts";
 * import { UpstreamUdpSockets } from "./upstream_sockets.ts";
 * const shim = await loadShim();
 * const epoll = shim.shim_epoll_create();
 * const sockets = new UpstreamUdpSockets(shim, epoll, { ipv4: 0, ipv6: 0n });
 * const fd = sockets.open(parseNameserver("127.0.0.1")!);
 * sockets.close(fd);
 * shim.shim_close(epoll);
 * ```
 */
export class UpstreamUdpSockets implements UpstreamSockets {
  readonly #shim: Shim;
  readonly #epoll: number;
  readonly #bind4: number;
  readonly #bind6: bigint;
  readonly #sockaddr = new Uint8Array(SOCKADDR_IN6_SIZE);
  readonly #open = new Set<number>();

  /** @param bind `--outbound-addr` and `--outbound-addr6`; 0 and 0n for none */
  constructor(shim: Shim, epoll: number, bind: { ipv4: number; ipv6: bigint }) {
    this.#shim = shim;
    this.#epoll = epoll;
    this.#bind4 = bind.ipv4;
    this.#bind6 = bind.ipv6;
  }

  /** Sockets open now. */
  get size(): number {
    return this.#open.size;
  }

  open(nameserver: Nameserver): number {
    const shim = this.#shim;
    const sa = this.#sockaddr;
    const family = nameserver.family === 4 ? AF_INET : AF_INET6;
    const fd = shim.shim_socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fd;
    let result = 0;
    const ipv6 = nameserver.family === 6;
    const bind = ipv6 ? this.#bind6 : this.#bind4;
    const loopback = ipv6
      ? parseIpv6(nameserver.text) === IPV6_LOOPBACK
      : isLoopbackIpv4(nameserver.ipv4);
    // A link-local nameserver (fe80::1%2) is left unbound too: the outbound address is global.
    if (bind && !loopback && nameserver.scopeId === 0) {
      result = shim.shim_bind(fd, sa, encodeSockaddr(sa, bind, 0));
    }
    if (result >= 0) {
      const length = nameserver.family === 4
        ? encodeSockaddrIn(sa, nameserver.ipv4, DNS_PORT)
        : encodeSockaddrIn6(sa, nameserver.ipv6, DNS_PORT, nameserver.scopeId);
      result = shim.shim_connect(fd, sa, length);
    }
    if (result >= 0) result = shim.shim_epoll_ctl(this.#epoll, EPOLL_CTL_ADD, fd, EPOLLIN, fd);
    if (result < 0) {
      shim.shim_close(fd);
      return result;
    }
    this.#open.add(fd);
    return fd;
  }

  send(handle: number, message: Uint8Array): number {
    return this.#shim.shim_send(handle, message, message.length, 0);
  }

  close(handle: number): void {
    if (!this.#open.delete(handle)) return;
    this.#shim.shim_epoll_ctl(this.#epoll, EPOLL_CTL_DEL, handle, 0, 0);
    this.#shim.shim_close(handle);
  }

  /** Closes every socket. */
  closeAll(): void {
    for (const fd of [...this.#open]) this.close(fd);
  }
}
