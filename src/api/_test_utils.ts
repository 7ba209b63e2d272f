/**
 * Helpers for the API tests: clients on non-blocking FFI sockets driven by the same epoll loop as
 * the code under test (a blocking call would stop the loop that has to answer it), and unique
 * socket paths. Unit tests get only --allow-ffi and --allow-read=., so nothing here uses Deno's own
 * file or socket APIs.
 *
 * @module
 */
import { EAGAIN, EINTR } from "../ffi/errno.ts";
import { cString, type Shim } from "../ffi/shim.ts";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  encodeSockaddr,
  encodeSockaddrUn,
  EPOLLIN,
  EPOLLOUT,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_UN_SIZE,
} from "../ffi/sockaddr.ts";
import type { IpAddress } from "../wire/address.ts";
import type { Readiness } from "./readiness.ts";

const EINPROGRESS = 115;

/** A socket path in /tmp no other test run uses; unlinked by the caller (or the server). */
export function tempSocketPath(label: string): string {
  return `/tmp/s4n-${label}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.sock`;
}

/** Whether something exists at `path` (lstat). */
export function pathExists(shim: Shim, path: string): boolean {
  return shim.shim_lstat(cString(path), new BigUint64Array(3)) === 0;
}

/** Resolves with the events once `fd` is ready for `events`, or with 0 after `timeoutMs`. */
export function waitFor(
  readiness: Readiness,
  fd: number,
  events: number,
  timeoutMs = 5000,
): Promise<number> {
  return new Promise((resolve) => {
    let token = -1;
    const timer = setTimeout(() => {
      readiness.remove(token, fd);
      resolve(0);
    }, timeoutMs);
    token = readiness.add(fd, events, (ready) => {
      clearTimeout(timer);
      readiness.remove(token, fd);
      resolve(ready);
    });
    if (token < 0) {
      clearTimeout(timer);
      resolve(0);
    }
  });
}

/** Connects a non-blocking socket to a unix path or a loopback port of either family; the fd. */
export async function connect(
  shim: Shim,
  readiness: Readiness,
  to: string | { address: IpAddress; port: number },
): Promise<number> {
  const unix = typeof to === "string";
  const sa = new Uint8Array(unix ? SOCKADDR_UN_SIZE : SOCKADDR_IN6_SIZE);
  const length = unix ? encodeSockaddrUn(sa, to) : encodeSockaddr(sa, to.address, to.port);
  const family = unix ? AF_UNIX : typeof to.address === "bigint" ? AF_INET6 : AF_INET;
  for (let attempt = 0;; attempt++) {
    const fd = shim.shim_socket(
      family,
      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
      0,
    );
    if (fd < 0) throw new Error(`socket: ${-fd}`);
    const rc = shim.shim_connect(fd, sa, length);
    if (rc === 0) return fd;
    if (rc === -EINPROGRESS) {
      await waitFor(readiness, fd, EPOLLOUT);
      return fd;
    }
    shim.shim_close(fd);
    // A unix listener with a full backlog says EAGAIN: try again shortly.
    if (rc !== -EAGAIN || attempt > 200) throw new Error(`connect: ${-rc}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Sends all of `bytes`, waiting for room as needed; false if the peer went away. */
export async function sendAll(
  shim: Shim,
  readiness: Readiness,
  fd: number,
  bytes: Uint8Array,
): Promise<boolean> {
  let done = 0;
  while (done < bytes.length) {
    const n = shim.shim_send(fd, bytes.subarray(done), bytes.length - done, 0);
    if (n === -EAGAIN) {
      if ((await waitFor(readiness, fd, EPOLLOUT)) === 0) return false;
      continue;
    }
    if (n === -EINTR) continue;
    if (n < 0) return false;
    done += n;
  }
  return true;
}

/** Reads until end of input (or an error, or `timeoutMs` without data); returns the bytes. */
export async function readAll(
  shim: Shim,
  readiness: Readiness,
  fd: number,
  timeoutMs = 5000,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  for (;;) {
    const n = shim.shim_recv(fd, buffer, buffer.length, 0);
    if (n === -EAGAIN) {
      if ((await waitFor(readiness, fd, EPOLLIN, timeoutMs)) === 0) break;
      continue;
    }
    if (n === -EINTR) continue;
    if (n <= 0) break;
    chunks.push(buffer.slice(0, n));
  }
  const total = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    total.set(chunk, offset);
    offset += chunk.length;
  }
  return total;
}

/**
 * One API exchange as Podman and RootlessKit do it: connect, send the request, shutdown(SHUT_WR)
 * (unless `halfClose` is false), read the reply until the server closes.
 */
export async function apiRequest(
  shim: Shim,
  readiness: Readiness,
  path: string,
  request: string | Uint8Array,
  options: { halfClose?: boolean } = {},
): Promise<string> {
  const fd = await connect(shim, readiness, path);
  try {
    const bytes = typeof request === "string" ? new TextEncoder().encode(request) : request;
    await sendAll(shim, readiness, fd, bytes);
    if (options.halfClose ?? true) shim.shim_shutdown(fd, SHUT_WR);
    return new TextDecoder().decode(await readAll(shim, readiness, fd));
  } finally {
    shim.shim_close(fd);
  }
}
