/**
 * What the TCP relay needs from the host: non-blocking TCP sockets in the host's namespaces, and
 * readiness events for them. The worker implements it over FFI sockets and epoll
 * (src/ffi/host_tcp.ts); tests implement it in memory. The relay never blocks on it.
 *
 * Return values follow the kernel: a count ≥ 0, or -errno (see {@link Errno}).
 */

import type { IpAddress } from "../../wire/address.ts";

/** The errno values the relay tells apart (Linux numbering). */
export const Errno = {
  EPERM: 1,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EPIPE: 32,
  EMFILE: 24,
  ENFILE: 23,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  ECONNRESET: 104,
  ENOBUFS: 105,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
} as const;

/** Readiness bits reported with {@link HostSockets} events (the epoll values). */
export const HostEvent = {
  READABLE: 0x001,
  WRITABLE: 0x004,
  ERROR: 0x008,
  HANGUP: 0x010,
} as const;

/**
 * Host sockets, identified by a handle (the fd). `token` is what events for the socket carry back
 * to the relay (`TcpRelay.hostEvent(token, events, now)`).
 */
export interface HostSockets {
  /**
   * Starts a non-blocking connect to `address:port` (IPv4 as a number, IPv6 as a bigint), bound
   * to the outbound address of that family if one is configured. Returns the handle, or -errno when it failed at once. Completion
   * is reported as WRITABLE (or ERROR) once `watch(handle, token, false, true)` asked for it.
   */
  connect(address: IpAddress, port: number, token: number): number;
  /**
   * Takes over a socket opened elsewhere (a port forward's accepted client): from now on it is
   * one of these sockets, closed by `close`, `reset` or the owner's cleanup.
   */
  adopt?(handle: number): void;
  /** The result of a finished connect: 0, or the errno (SO_ERROR). */
  connectResult(handle: number): number;
  /** Sends up to `length` bytes; the count accepted, or -errno (-EAGAIN when full). */
  send(handle: number, bytes: Uint8Array, offset: number, length: number): number;
  /** Receives up to `length` bytes; the count (0 at end of stream), or -errno (-EAGAIN: none). */
  recv(handle: number, bytes: Uint8Array, offset: number, length: number): number;
  /** shutdown(SHUT_WR): the peer reads end of stream once the queued bytes are delivered. */
  shutdownWrite(handle: number): void;
  /** Closes gracefully (FIN after the queued bytes). */
  close(handle: number): void;
  /** Closes abortively: the peer gets RST (SO_LINGER 0). */
  reset(handle: number): void;
  /** Which readiness events to report for the socket from now on (level-triggered). */
  watch(handle: number, token: number, readable: boolean, writable: boolean): void;
}
