/**
 * The TCP relay's host sockets (`HostSockets`, src/stack/tcp/host_sockets.ts) over FFI and one
 * epoll set: non-blocking TCP sockets of either family in the host's namespaces (the process
 * never leaves them), bound to `--outbound-addr` or `--outbound-addr6` when given, each registered with the connection id as its token.
 * Interest is level-triggered; a socket that needs no event leaves the epoll set altogether,
 * because EPOLLHUP and EPOLLERR are reported whatever the mask, and would spin the loop while the
 * relay cannot act on them (its queue towards the guest is full).
 */

import type { Shim } from "../ffi/shim.ts";
import {
  encodeSockaddr,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLLIN,
  EPOLLOUT,
  SHUT_WR,
  SO_ERROR,
  SOCKADDR_IN6_SIZE,
  SOL_SOCKET,
} from "../ffi/sockaddr.ts";
import type { HostSockets } from "../stack/tcp/host_sockets.ts";
import type { IpAddress } from "../wire/address.ts";

/** Where to bind outgoing sockets of each family (`--outbound-addr`, `--outbound-addr6`). */
export interface OutboundAddresses {
  ipv4?: number;
  ipv6?: bigint;
}

/**
 * FFI TCP sockets in an epoll set.
 *
 * @example
 * ```ts
 * import { loadShim } from "../ffi/shim.ts";
 * import { FfiTcpSockets } from "./tcp_sockets.ts";
 * const shim = await loadShim();
 * const epoll = shim.shim_epoll_create();
 * const sockets = new FfiTcpSockets(shim, epoll, {});
 * const fd = sockets.connect(0x7f000001, 9, 1); // 127.0.0.1:9, token 1
 * if (fd >= 0) sockets.close(fd);
 * shim.shim_close(epoll);
 * ```
 */
export class FfiTcpSockets implements HostSockets {
  readonly #shim: Shim;
  readonly #epoll: number;
  /** sockaddr bytes of the outbound address per family; length 0: none. */
  readonly #bind4: Uint8Array;
  readonly #bind6: Uint8Array;
  readonly #target = new Uint8Array(SOCKADDR_IN6_SIZE);
  /** fd → events registered (absent: not in the epoll set). */
  readonly #registered = new Map<number, number>();

  constructor(shim: Shim, epoll: number, outbound: OutboundAddresses) {
    this.#shim = shim;
    this.#epoll = epoll;
    this.#bind4 = bindAddress(outbound.ipv4);
    this.#bind6 = bindAddress(outbound.ipv6);
  }

  /** Sockets open now. */
  get size(): number {
    return this.#open.size;
  }

  readonly #open = new Set<number>();

  connect(address: IpAddress, port: number, _token: number): number {
    const target = this.#target;
    const length = encodeSockaddr(target, address, port);
    const bind = typeof address === "bigint" ? this.#bind6 : this.#bind4;
    const fd = this.#shim.shim_tcp_connect(target, length, bind, bind.length);
    if (fd >= 0) this.#open.add(fd);
    return fd;
  }

  adopt(handle: number): void {
    this.#open.add(handle);
  }

  connectResult(handle: number): number {
    const error = this.#shim.shim_getsockopt_int(handle, SOL_SOCKET, SO_ERROR);
    return error < 0 ? -error : error;
  }

  send(handle: number, bytes: Uint8Array, offset: number, length: number): number {
    return this.#shim.shim_send_at(handle, bytes, offset, length);
  }

  recv(handle: number, bytes: Uint8Array, offset: number, length: number): number {
    return this.#shim.shim_recv_at(handle, bytes, offset, length);
  }

  shutdownWrite(handle: number): void {
    this.#shim.shim_shutdown(handle, SHUT_WR);
  }

  close(handle: number): void {
    this.#forget(handle);
    this.#shim.shim_close(handle);
  }

  reset(handle: number): void {
    this.#forget(handle);
    this.#shim.shim_close_reset(handle);
  }

  watch(handle: number, token: number, readable: boolean, writable: boolean): void {
    const events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
    const current = this.#registered.get(handle);
    if (events === 0) {
      if (current !== undefined) {
        this.#shim.shim_epoll_ctl(this.#epoll, EPOLL_CTL_DEL, handle, 0, 0);
        this.#registered.delete(handle);
      }
      return;
    }
    if (current === events) return;
    const op = current === undefined ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    this.#shim.shim_epoll_ctl(this.#epoll, op, handle, events, token);
    this.#registered.set(handle, events);
  }

  /** Closes every socket (the worker stops). */
  closeAll(): void {
    for (const fd of this.#open) this.#shim.shim_close(fd);
    this.#open.clear();
    this.#registered.clear();
  }

  #forget(handle: number): void {
    // close() takes the fd out of the epoll set by itself (no other fd refers to the socket).
    this.#registered.delete(handle);
    this.#open.delete(handle);
  }
}

/** The sockaddr (port 0) to bind outgoing sockets to, or an empty array for none. */
function bindAddress(address: IpAddress | undefined): Uint8Array {
  if (address === undefined) return new Uint8Array(0);
  const sa = new Uint8Array(SOCKADDR_IN6_SIZE);
  return sa.subarray(0, encodeSockaddr(sa, address, 0));
}
