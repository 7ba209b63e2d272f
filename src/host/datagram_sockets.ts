/**
 * Host datagram sockets (UDP, or ICMP/ICMPv6 ping sockets) of both families for the NAT, driven
 * by the main-thread `Reactor`: each socket is non-blocking with IP_RECVERR or IPV6_RECVERR
 * (native/udp_host.c), and when epoll reports it ready, its datagrams are received one
 * synchronous FFI call each, straight into the buffer the frame to the guest is built in
 * (`GuestTx.frame`, where the family's payload starts), and its error queue is drained.
 */

import { EAGAIN, EINTR } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import { EPOLLERR, EPOLLIN, IPPROTO_ICMP, IPPROTO_ICMPV6 } from "../ffi/sockaddr.ts";
import type { HostUdpError } from "../stack/udp_nat.ts";
import { type IpAddress, isIpv6, readIpv6, writeIpv6 } from "../wire/address.ts";
import { readU16 } from "../wire/view.ts";
import type { Reactor } from "./reactor.ts";

/** Datagrams (and queued errors) taken from one socket per wake-up before the next socket. */
export const RECEIVE_BUDGET = 64;
/** sock_extended_err.ee_origin for errors an ICMP message caused. */
const SO_EE_ORIGIN_ICMP = 2;
/** sock_extended_err.ee_origin for errors an ICMPv6 message caused. */
const SO_EE_ORIGIN_ICMP6 = 3;
/** Bytes of the offending datagram kept from an error-queue entry. */
const ERROR_PAYLOAD_BYTES = 64;

/** Where received data of one family lands in the sink's buffer. */
export interface DatagramRoom {
  offset: number;
  /** Room at `offset`. */
  room: number;
}

/** Where received data goes and who hears about it. */
export interface DatagramSink {
  /** The receive buffer. */
  buffer: Uint8Array;
  /** Where in it the data of IPv4 and of IPv6 sockets must land. */
  ipv4: DatagramRoom;
  ipv6: DatagramRoom;
  /** A datagram of `length` bytes arrived from `src:srcPort` on `handle` (the fd). */
  data(handle: number, src: IpAddress, srcPort: number, length: number, now: number): void;
  /** The host reported an error about one of our datagrams; `payload` holds its start. */
  error(handle: number, error: HostUdpError, payload: Uint8Array, now: number): void;
}

/** The addresses sockets are bound to (`--outbound-addr`, `--outbound-addr6`); 0 / 0n: none. */
export interface BindAddresses {
  ipv4: number;
  ipv6: bigint;
}

/**
 * A set of non-blocking datagram sockets of one kind, of either family, each watched by the
 * reactor. Implements both `HostUdpSockets` (src/stack/udp_nat.ts) and `HostPingSockets`
 * (src/stack/icmp_nat.ts).
 *
 * @example
 * ```ts
 * import { loadShim } from "../ffi/shim.ts";
 * import { DatagramSockets } from "./datagram_sockets.ts";
 * import { Reactor } from "./reactor.ts";
 * const shim = await loadShim();
 * const reactor = Reactor.create(shim);
 * const sink = {
 *   buffer: new Uint8Array(2048),
 *   ipv4: { offset: 0, room: 2048 },
 *   ipv6: { offset: 0, room: 2048 },
 *   data: () => {},
 *   error: () => {},
 * };
 * const udp = new DatagramSockets(shim, reactor, "udp", { ipv4: 0, ipv6: 0n }, sink);
 * const fd = udp.open(4);
 * udp.close(fd);
 * await reactor.stop();
 * ```
 */
export class DatagramSockets {
  readonly #shim: Shim;
  readonly #reactor: Reactor;
  readonly #ping: boolean;
  readonly #bind4: number;
  /** The IPv6 bind address as in6_addr bytes (all zero: none). */
  readonly #bind6 = new Uint8Array(16);
  readonly #sink: DatagramSink;
  /** fd → reactor token. */
  readonly #tokens = new Map<number, number>();
  readonly #from4 = new Uint32Array(2);
  /** An IPv6 sender: in6_addr, then the port in network order. */
  readonly #from6 = new Uint8Array(18);
  /** An IPv6 destination for sendto. */
  readonly #to6 = new Uint8Array(16);
  readonly #info = new Uint32Array(8);
  /** IPv6 error-queue addresses: offender, then original destination. */
  readonly #errorAddrs = new Uint8Array(32);
  readonly #errorPayload = new Uint8Array(ERROR_PAYLOAD_BYTES);

  /**
   * @param kind "udp", or "ping" for ICMP / ICMPv6 ping sockets
   * @param bind the addresses to bind every socket of each family to
   */
  constructor(
    shim: Shim,
    reactor: Reactor,
    kind: "udp" | "ping",
    bind: BindAddresses,
    sink: DatagramSink,
  ) {
    this.#shim = shim;
    this.#reactor = reactor;
    this.#ping = kind === "ping";
    this.#bind4 = bind.ipv4;
    writeIpv6(this.#bind6, 0, bind.ipv6);
    this.#sink = sink;
  }

  /** Sockets open now. */
  get size(): number {
    return this.#tokens.size;
  }

  open(family: 4 | 6): number {
    const shim = this.#shim;
    const v6 = family === 6;
    const fd = v6
      ? shim.shim_dgram_socket6(this.#ping ? IPPROTO_ICMPV6 : 0, this.#bind6)
      : shim.shim_dgram_socket(this.#ping ? IPPROTO_ICMP : 0, this.#bind4);
    if (fd < 0) return fd;
    const token = this.#reactor.add(fd, EPOLLIN, (events) => this.#ready(fd, events, v6));
    if (token < 0) {
      shim.shim_close(fd);
      return token;
    }
    this.#tokens.set(fd, token);
    return fd;
  }

  /** Sends to `address:port` (port 0 for ping sockets); the socket must be of its family. */
  sendTo(
    handle: number,
    bytes: Uint8Array,
    offset: number,
    length: number,
    address: IpAddress,
    port = 0,
  ): number {
    if (isIpv6(address)) {
      writeIpv6(this.#to6, 0, address);
      return this.#shim.shim_sendto6(handle, bytes, offset, length, this.#to6, port);
    }
    return this.#shim.shim_sendto4(handle, bytes, offset, length, address, port);
  }

  close(handle: number): void {
    const token = this.#tokens.get(handle);
    if (token === undefined) return;
    this.#tokens.delete(handle);
    this.#reactor.remove(token, handle);
    this.#shim.shim_close(handle);
  }

  /** Closes every socket. */
  closeAll(): void {
    for (const fd of [...this.#tokens.keys()]) this.close(fd);
  }

  /** Drains the error queue (on EPOLLERR), then receives up to the budget. */
  #ready(fd: number, events: number, v6: boolean): void {
    const shim = this.#shim;
    const sink = this.#sink;
    const now = performance.now();
    if (events & EPOLLERR) {
      const payload = this.#errorPayload;
      for (let i = 0; i < RECEIVE_BUDGET && this.#tokens.has(fd); i++) {
        const n = v6
          ? shim.shim_recv_error6(fd, payload, 0, ERROR_PAYLOAD_BYTES, this.#info, this.#errorAddrs)
          : shim.shim_recv_error4(fd, payload, 0, ERROR_PAYLOAD_BYTES, this.#info);
        if (n === -EINTR) continue;
        if (n < 0) break;
        sink.error(fd, this.#hostError(n, v6), payload, now);
      }
    }
    const { offset, room } = v6 ? sink.ipv6 : sink.ipv4;
    const from4 = this.#from4;
    const from6 = this.#from6;
    for (let i = 0; i < RECEIVE_BUDGET && this.#tokens.has(fd); i++) {
      const n = v6
        ? shim.shim_recvfrom6(fd, sink.buffer, offset, room, from6)
        : shim.shim_recvfrom4(fd, sink.buffer, offset, room, from4);
      if (n === -EAGAIN) break;
      // -ECONNREFUSED and friends: the pending socket error, reported once; the error queue
      // (read above) has the details. Anything else: try again at the next wake-up.
      if (n < 0) {
        if (n === -EINTR || (events & EPOLLERR)) continue;
        break;
      }
      if (v6) sink.data(fd, readIpv6(from6, 0), readU16(from6, 16), Math.min(n, room), now);
      else sink.data(fd, from4[0], from4[1], Math.min(n, room), now);
    }
  }

  /** The error-queue entry just read (`payloadLength` bytes of our datagram came back). */
  #hostError(payloadLength: number, v6: boolean): HostUdpError {
    const info = this.#info;
    const addrs = this.#errorAddrs;
    return {
      errno: info[0],
      fromIcmp: info[1] === (v6 ? SO_EE_ORIGIN_ICMP6 : SO_EE_ORIGIN_ICMP),
      icmpType: info[2],
      icmpCode: info[3],
      info: info[4],
      offender: info[5] === 0 ? null : v6 ? readIpv6(addrs, 0) : info[5],
      dst: info[6] === 0 ? null : v6 ? readIpv6(addrs, 16) : info[6],
      dstPort: info[7],
      payloadLength,
    };
  }
}
