/**
 * The main thread's readiness loop for host sockets (UDP NAT, ping sockets): one epoll set, one
 * `epoll_wait` in flight on Deno's blocking pool (`shim_epoll_wait_async`), and on each wake-up
 * the handler of every ready fd runs synchronously, draining its socket with plain synchronous FFI
 * calls. That costs one thread hop (~30 µs) per wake-up, not per datagram (docs: nonblocking FFI
 * per packet is 9× slower). An eventfd in the set interrupts the wait for `stop()`; fds added while
 * a wait is in flight are picked up by that wait (epoll_ctl is safe concurrently with epoll_wait).
 *
 * Level-triggered: a handler may stop draining early (a budget per wake-up keeps one busy socket
 * from starving the others and the event loop); the next wait reports the fd again.
 */

import { EINTR, errnoText } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import { EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLIN } from "../ffi/sockaddr.ts";
import { log } from "../log.ts";

/** Called with the epoll events (EPOLLIN, EPOLLERR, ...) of a ready fd. */
export type ReadyHandler = (events: number) => void;

/** Ready fds reported per wake-up (shim_epoll_wait's limit). */
const MAX_EVENTS = 256;
/** The token of the wake-up eventfd. */
const WAKE_TOKEN = 0;

/**
 * An epoll loop on the main thread.
 *
 * @example
 * ```ts
 * import { loadShim } from "../ffi/shim.ts";
 * import { Reactor } from "./reactor.ts";
 * const reactor = Reactor.create(await loadShim());
 * const done = reactor.run();
 * await reactor.stop();
 * await done;
 * ```
 */
export class Reactor {
  readonly #shim: Shim;
  readonly #epoll: number;
  readonly #wake: number;
  readonly #handlers = new Map<number, ReadyHandler>();
  readonly #events = new Uint32Array(2 * MAX_EVENTS);
  #nextToken = WAKE_TOKEN + 1;
  #stopping = false;
  #closed = false;
  #loop: Promise<void> | null = null;
  #stopped: Promise<void> | null = null;
  /** Wake-ups so far (each one thread hop). */
  wakeups = 0;

  private constructor(shim: Shim, epoll: number, wake: number) {
    this.#shim = shim;
    this.#epoll = epoll;
    this.#wake = wake;
  }

  /** Creates the epoll set and its wake-up eventfd; throws if the kernel refuses. */
  static create(shim: Shim): Reactor {
    const epoll = shim.shim_epoll_create();
    if (epoll < 0) throw new Error(`Cannot create an epoll set: ${errnoText(shim, -epoll)}`);
    const wake = shim.shim_eventfd();
    if (wake < 0) {
      shim.shim_close(epoll);
      throw new Error(`Cannot create an eventfd: ${errnoText(shim, -wake)}`);
    }
    const added = shim.shim_epoll_ctl(epoll, EPOLL_CTL_ADD, wake, EPOLLIN, WAKE_TOKEN);
    if (added < 0) {
      shim.shim_close(wake);
      shim.shim_close(epoll);
      throw new Error(`Cannot watch an eventfd: ${errnoText(shim, -added)}`);
    }
    return new Reactor(shim, epoll, wake);
  }

  /** Fds watched now. */
  get size(): number {
    return this.#handlers.size;
  }

  /**
   * Watches `fd` for `events`; `handler` runs on this thread when it is ready. Returns a token
   * for `remove` (tokens are never reused, so a stale event of a removed fd is ignored), or
   * -errno.
   */
  add(fd: number, events: number, handler: ReadyHandler): number {
    if (this.#closed) return -9; // EBADF
    const token = this.#nextToken;
    this.#nextToken = this.#nextToken >= 0xfffffffe ? WAKE_TOKEN + 1 : this.#nextToken + 1;
    const result = this.#shim.shim_epoll_ctl(this.#epoll, EPOLL_CTL_ADD, fd, events, token);
    if (result < 0) return result;
    this.#handlers.set(token, handler);
    return token;
  }

  /** Changes the events watched for a registered fd. */
  modify(token: number, fd: number, events: number): number {
    return this.#shim.shim_epoll_ctl(this.#epoll, EPOLL_CTL_MOD, fd, events, token);
  }

  /** Stops watching `fd` (before the owner closes it). */
  remove(token: number, fd: number): void {
    if (!this.#handlers.delete(token)) return;
    if (!this.#closed) this.#shim.shim_epoll_ctl(this.#epoll, EPOLL_CTL_DEL, fd, 0, 0);
  }

  /** Runs the loop until `stop()`. Calling it again returns the same promise. */
  run(): Promise<void> {
    this.#loop ??= this.#run();
    return this.#loop;
  }

  async #run(): Promise<void> {
    const shim = this.#shim;
    const events = this.#events;
    while (!this.#stopping) {
      const n = await shim.shim_epoll_wait_async(this.#epoll, events, MAX_EVENTS, -1);
      if (n === -EINTR) continue;
      if (n < 0) {
        log.error(`epoll_wait on the host sockets: ${errnoText(shim, -n)}`);
        break;
      }
      this.wakeups++;
      for (let i = 0; i < n && !this.#stopping; i++) {
        const token = events[2 * i + 1];
        if (token === WAKE_TOKEN) {
          shim.shim_eventfd_drain(this.#wake);
          continue;
        }
        const handler = this.#handlers.get(token);
        if (handler === undefined) continue; // removed during this batch
        try {
          handler(events[2 * i]);
        } catch (error) {
          log.error(`host socket handler: ${error instanceof Error ? error.stack : error}`);
        }
      }
    }
  }

  /** Interrupts the wait, ends the loop and closes the epoll set. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#shim.shim_eventfd_signal(this.#wake);
    if (this.#loop) await this.#loop;
    this.#closed = true;
    this.#handlers.clear();
    this.#shim.shim_close(this.#wake);
    this.#shim.shim_close(this.#epoll);
  }
}
