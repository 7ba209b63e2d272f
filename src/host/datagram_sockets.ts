/**
 * Host datagram sockets (UDP, or ICMP ping sockets) for the NAT, driven by the main-thread
 * `Reactor`: each socket is non-blocking with IP_RECVERR (native/udp_host.c), and when epoll
 * reports it ready, its datagrams are received one synchronous FFI call each, straight into the
 * buffer the frame to the guest is built in (`GuestTx.frame`), and its error queue is drained.
 */

import { EAGAIN, EINTR } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import { EPOLLERR, EPOLLIN } from "../ffi/sockaddr.ts";
import type { HostUdpError } from "../stack/udp_nat.ts";
import type { Reactor } from "./reactor.ts";

/** Datagrams (and queued errors) taken from one socket per wake-up before the next socket. */
export const RECEIVE_BUDGET = 64;
/** sock_extended_err.ee_origin for errors an ICMP message caused. */
const SO_EE_ORIGIN_ICMP = 2;
/** Bytes of the offending datagram kept from an error-queue entry. */
const ERROR_PAYLOAD_BYTES = 64;

/** Where received data goes and who hears about it. */
export interface DatagramSink {
  /** The receive buffer, and where in it the data must land. */
  buffer: Uint8Array;
  offset: number;
  /** Room at `offset`. */
  room: number;
  /** A datagram of `length` bytes arrived from `src:srcPort` on `handle` (the fd). */
  data(handle: number, src: number, srcPort: number, length: number, now: number): void;
  /** The host reported an error about one of our datagrams; `payload` holds its start. */
  error(handle: number, error: HostUdpError, payload: Uint8Array, now: number): void;
}

/**
 * A set of non-blocking datagram sockets of one kind, each watched by the reactor. Implements both
 * `HostUdpSockets` (src/stack/udp_nat.ts) and `HostPingSockets` (src/stack/icmp_nat.ts).
 *
 * @example
 * ```ts
 * import { loadShim } from "../ffi/shim.ts";
 * import { DatagramSockets } from "./datagram_sockets.ts";
 * import { Reactor } from "./reactor.ts";
 * const shim = await loadShim();
 * const reactor = Reactor.create(shim);
 * const sink = {
 *   buffer: new Uint8Array(2048), offset: 0, room: 2048,
 *   data: () => {}, error: () => {},
 * };
 * const udp = new DatagramSockets(shim, reactor, 0, 0, sink);
 * const fd = udp.open();
 * udp.close(fd);
 * await reactor.stop();
 * ```
 */
export class DatagramSockets {
  readonly #shim: Shim;
  readonly #reactor: Reactor;
  readonly #protocol: number;
  readonly #bindAddress: number;
  readonly #sink: DatagramSink;
  /** fd → reactor token. */
  readonly #tokens = new Map<number, number>();
  readonly #from = new Uint32Array(2);
  readonly #info = new Uint32Array(8);
  readonly #errorPayload = new Uint8Array(ERROR_PAYLOAD_BYTES);

  /**
   * @param protocol 0 for UDP, 1 (IPPROTO_ICMP) for ping sockets
   * @param bindAddress IPv4 address (as a number) to bind every socket to, 0 for none
   */
  constructor(
    shim: Shim,
    reactor: Reactor,
    protocol: number,
    bindAddress: number,
    sink: DatagramSink,
  ) {
    this.#shim = shim;
    this.#reactor = reactor;
    this.#protocol = protocol;
    this.#bindAddress = bindAddress;
    this.#sink = sink;
  }

  /** Sockets open now. */
  get size(): number {
    return this.#tokens.size;
  }

  open(): number {
    const fd = this.#shim.shim_dgram_socket(this.#protocol, this.#bindAddress);
    if (fd < 0) return fd;
    const token = this.#reactor.add(fd, EPOLLIN, (events) => this.#ready(fd, events));
    if (token < 0) {
      this.#shim.shim_close(fd);
      return token;
    }
    this.#tokens.set(fd, token);
    return fd;
  }

  sendTo(
    handle: number,
    bytes: Uint8Array,
    offset: number,
    length: number,
    address: number,
    port = 0,
  ): number {
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

  #ready(fd: number, events: number): void {
    const shim = this.#shim;
    const sink = this.#sink;
    const now = performance.now();
    if (events & EPOLLERR) {
      const info = this.#info;
      for (let i = 0; i < RECEIVE_BUDGET && this.#tokens.has(fd); i++) {
        const n = shim.shim_recv_error4(fd, this.#errorPayload, 0, ERROR_PAYLOAD_BYTES, info);
        if (n === -EINTR) continue;
        if (n < 0) break;
        sink.error(
          fd,
          {
            errno: info[0],
            fromIcmp: info[1] === SO_EE_ORIGIN_ICMP,
            icmpType: info[2],
            icmpCode: info[3],
            info: info[4],
            offender: info[5],
            dst: info[6],
            dstPort: info[7],
            payloadLength: n,
          },
          this.#errorPayload,
          now,
        );
      }
    }
    const from = this.#from;
    for (let i = 0; i < RECEIVE_BUDGET && this.#tokens.has(fd); i++) {
      const n = shim.shim_recvfrom4(fd, sink.buffer, sink.offset, sink.room, from);
      if (n === -EAGAIN) break;
      // -ECONNREFUSED and friends: the pending socket error, reported once; the error queue
      // (read above) has the details. Anything else: try again at the next wake-up.
      if (n < 0) {
        if (n === -EINTR || (events & EPOLLERR)) continue;
        break;
      }
      sink.data(fd, from[0], from[1], Math.min(n, sink.room), now);
    }
  }
}
