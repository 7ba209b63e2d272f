/**
 * Test support for code that writes to an fd: a connected pair of AF_UNIX datagram sockets (one
 * write, one datagram: the frame boundaries a tap keeps), in memory and autobound in the abstract
 * namespace, so that nothing is left on disk.
 */

import assert from "node:assert/strict";
import type { Shim } from "./shim.ts";
import { AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCKADDR_UN_SIZE } from "./sockaddr.ts";

/** Two connected datagram sockets: write to `writer`, `read()` the next datagram from `reader`. */
export interface DatagramPair {
  writer: number;
  reader: number;
  /** The next datagram (at most 70 000 bytes), or null when none is waiting. */
  read(): Uint8Array | null;
  [Symbol.dispose](): void;
}

/**
 * Opens a {@link DatagramPair}.
 *
 * @example
 * ```ts ignore
 * using pair = unixDatagramPair(shim);
 * shim.shim_write(pair.writer, new Uint8Array([1, 2]), 2);
 * pair.read(); // Uint8Array [1, 2]
 * ```
 */
export function unixDatagramPair(shim: Shim): DatagramPair {
  const type = SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const reader = shim.shim_socket(AF_UNIX, type, 0);
  const writer = shim.shim_socket(AF_UNIX, type, 0);
  assert.ok(reader >= 0 && writer >= 0, "AF_UNIX sockets");
  const sa = new Uint8Array(SOCKADDR_UN_SIZE);
  sa[0] = AF_UNIX;
  // Binding just the family autobinds a unique abstract address (unix(7)).
  assert.equal(shim.shim_bind(reader, sa, 2), 0, "autobind");
  const length = new Int32Array([sa.length]);
  assert.equal(shim.shim_getsockname(reader, sa, new Uint8Array(length.buffer)), 0);
  assert.equal(shim.shim_connect(writer, sa, length[0]), 0, "connect");
  const buffer = new Uint8Array(70_000);
  return {
    writer,
    reader,
    read() {
      const n = shim.shim_recv(reader, buffer, buffer.length, 0);
      return n < 0 ? null : buffer.slice(0, n);
    },
    [Symbol.dispose]() {
      shim.shim_close(writer);
      shim.shim_close(reader);
    },
  };
}
