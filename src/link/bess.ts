/**
 * `--target-type=bess SOCKETPATH` (reference §1.2, §4.1 step 7): instead of a tap, the link is
 * one client of an AF_UNIX SOCK_SEQPACKET socket (User-Mode Linux's BESS transport). Each packet
 * is one plain Ethernet frame both ways, with no virtio-net header, so the stack treats the
 * accepted fd as a tap without offloads (`vnet: false`).
 *
 * slirp4netns makes the socket in its forked child, blocks there in accept(2) and passes the
 * accepted fd to the parent. We have no child for this: the socket is made here and the accept
 * waits in poll on Deno's blocking pool, together with an eventfd, so SIGTERM and SIGINT (whose
 * listeners run on the event loop) still end the wait. The messages are the ones a user of
 * slirp4netns sees on stderr, fd numbers included.
 */
import { isSocket, lstat } from "../api/server.ts";
import { EAGAIN, EINTR, ENOENT, errnoText } from "../ffi/errno.ts";
import { POLLIN, PollSet } from "../ffi/poll.ts";
import { cString, type Shim } from "../ffi/shim.ts";
import {
  AF_UNIX,
  encodeSockaddrUn,
  SOCK_CLOEXEC,
  SOCKADDR_UN_SIZE,
  SUN_PATH_SIZE,
} from "../ffi/sockaddr.ts";

/** SOCK_SEQPACKET (<bits/socket_type.h>): reliable, ordered, record boundaries kept. */
export const SOCK_SEQPACKET = 5;

/** How a BESS wait ended. */
export type BessAccepted =
  /** A client connected: `fd` is the link; `announce` holds the stderr lines to print now. */
  | { kind: "accepted"; fd: number; announce: string[] }
  /** The wait was cancelled (a stop signal): nothing to print, exit as after a normal run. */
  | { kind: "cancelled" }
  /** The socket could not be made or accepted on: print `lines` and exit 1. */
  | { kind: "failed"; lines: string[] };

/** A listening BESS socket waiting for its one client. */
export interface BessListener {
  /** The listening fd (SOCK_SEQPACKET, close-on-exec). */
  fd: number;
  /** The path it is bound at. */
  path: string;
}

/**
 * Makes the listening socket at `path`: a stale socket there is removed (slirp4netns unlinks
 * whatever the path names; we never remove anything that is not a socket), then bind and listen.
 * Returns the listener or the lines to print.
 */
export function listenBess(shim: Shim, path: string): BessListener | { lines: string[] } {
  const sa = new Uint8Array(SOCKADDR_UN_SIZE);
  const salen = encodeSockaddrUn(sa, path);
  if (salen < 0) {
    return {
      lines: [
        path.includes("\0")
          ? "the BESS socket path contains a NUL byte"
          : `the BESS socket path is too long (>= ${SUN_PATH_SIZE})`,
      ],
    };
  }
  const existing = lstat(shim, path);
  if (typeof existing !== "number") {
    if (!isSocket(existing[0])) {
      return { lines: [`${path} exists and is not a socket; not removing it`] };
    }
    const removed = shim.shim_unlink(cString(path));
    if (removed < 0 && removed !== -ENOENT) {
      return { lines: [`unlink: ${errnoText(shim, -removed)}`] };
    }
  }
  const fd = shim.shim_socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return { lines: [`socket: ${errnoText(shim, -fd)}`] };
  const bound = shim.shim_bind(fd, sa, salen);
  if (bound < 0) {
    shim.shim_close(fd);
    return { lines: [`bind: ${errnoText(shim, -bound)}`] };
  }
  const listening = shim.shim_listen(fd, 1);
  if (listening < 0) {
    shim.shim_close(fd);
    shim.shim_unlink(cString(path));
    return { lines: [`listen: ${errnoText(shim, -listening)}`] };
  }
  return { fd, path };
}

/**
 * Waits for one client on `listener` without blocking the event loop, then closes the listener
 * (slirp4netns serves exactly one client). `cancelled` resolving ends the wait: the socket file
 * is removed then, as nobody is using it.
 */
export async function acceptBess(
  shim: Shim,
  listener: BessListener,
  cancelled: Promise<unknown>,
): Promise<BessAccepted> {
  const wake = shim.shim_eventfd();
  if (wake < 0) {
    shim.shim_close(listener.fd);
    return { kind: "failed", lines: [`eventfd: ${errnoText(shim, -wake)}`] };
  }
  let cancel = false;
  cancelled.then(() => {
    cancel = true;
    shim.shim_eventfd_signal(wake);
  });
  const polled = new PollSet([{ fd: listener.fd, events: POLLIN }, { fd: wake, events: POLLIN }]);
  let result: BessAccepted | null = null;
  while (result === null) {
    const ready = await shim.shim_poll_async(polled.bytes, polled.count, -1);
    if (cancel || polled.revents(1) !== 0) {
      shim.shim_unlink(cString(listener.path));
      result = { kind: "cancelled" };
    } else if (ready < 0 && ready !== -EINTR) {
      result = { kind: "failed", lines: [`poll: ${errnoText(shim, -ready)}`] };
    } else if (ready > 0) {
      const fd = shim.shim_accept(listener.fd, new Uint8Array(SOCKADDR_UN_SIZE), new Uint8Array(4));
      if (fd >= 0) {
        result = {
          kind: "accepted",
          fd,
          announce: [
            `sent "tapfd"=${fd} (not really TAP) for ${listener.path}`,
            `received tapfd=${fd}`,
          ],
        };
      } else if (fd !== -EINTR && fd !== -EAGAIN /* the client left again */) {
        result = { kind: "failed", lines: [`accept: ${errnoText(shim, -fd)}`] };
      }
    }
  }
  shim.shim_close(wake);
  shim.shim_close(listener.fd);
  return result;
}
