/**
 * The slice of an epoll loop the API server and the forward listeners need: src/host/reactor.ts's
 * `Reactor` provides it on the main thread. Handlers must not block: every fd given is non-blocking.
 */

/**
 * Watches fds for epoll events and calls a handler on the loop's thread when one is ready.
 *
 * @example
 * ```ts
 * import { EPOLLIN } from "../ffi/sockaddr.ts";
 * import type { Readiness } from "./readiness.ts";
 * function watch(readiness: Readiness, fd: number): number {
 *   return readiness.add(fd, EPOLLIN, (events) => console.log(events));
 * }
 * ```
 */
export interface Readiness {
  /** Starts watching `fd`; returns a token for `modify`/`remove`, or -errno. */
  add(fd: number, events: number, handler: (events: number) => void): number;
  /** Changes the events watched (0 pauses the fd); returns 0 or -errno. */
  modify(token: number, fd: number, events: number): number;
  /** Stops watching `fd`; call it before closing the fd. */
  remove(token: number, fd: number): void;
}
