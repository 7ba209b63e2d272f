import assert from "node:assert/strict";
import { cString, loadShim } from "../ffi/shim.ts";
import { AF_UNIX, encodeSockaddrUn, SOCK_CLOEXEC, SOCKADDR_UN_SIZE } from "../ffi/sockaddr.ts";
import { acceptBess, type BessListener, listenBess, SOCK_SEQPACKET } from "./bess.ts";

const shim = await loadShim();

/** A socket path of our own under /tmp (made through FFI: the unit tests may not write). */
function freshPath(): string {
  return `/tmp/slirp-bess-unit-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.sock`;
}

function listening(path: string): BessListener {
  const listener = listenBess(shim, path);
  if ("lines" in listener) throw new Error(listener.lines.join("\n"));
  return listener;
}

function connect(path: string): number {
  const fd = shim.shim_socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  assert.ok(fd >= 0);
  const sa = new Uint8Array(SOCKADDR_UN_SIZE);
  const rc = shim.shim_connect(fd, sa, encodeSockaddrUn(sa, path));
  assert.equal(rc, 0);
  return fd;
}

Deno.test("listenBess() refuses a path that is not a socket, and one too long", () => {
  assert.deepEqual(listenBess(shim, "/dev/null"), {
    lines: ["/dev/null exists and is not a socket; not removing it"],
  });
  assert.deepEqual(listenBess(shim, "/tmp/" + "a".repeat(110)), {
    lines: ["the BESS socket path is too long (>= 108)"],
  });
});

Deno.test("acceptBess() hands over one client; packets keep their boundaries both ways", async () => {
  const path = freshPath();
  try {
    // A stale socket at the path is replaced.
    shim.shim_close(listening(path).fd);
    const listener = listening(path);
    const client = connect(path);
    const accepted = await acceptBess(shim, listener, new Promise(() => {}));
    assert.equal(accepted.kind, "accepted");
    if (accepted.kind !== "accepted") return;
    assert.deepEqual(accepted.announce, [
      `sent "tapfd"=${accepted.fd} (not really TAP) for ${path}`,
      `received tapfd=${accepted.fd}`,
    ]);
    assert.ok(shim.shim_write(client, new Uint8Array([1, 2, 3]), 3) === 3);
    assert.ok(shim.shim_write(client, new Uint8Array([4]), 1) === 1);
    const buffer = new Uint8Array(16);
    assert.equal(shim.shim_read(accepted.fd, buffer, 16), 3);
    assert.equal(shim.shim_read(accepted.fd, buffer, 16), 1);
    assert.equal(shim.shim_write(accepted.fd, new Uint8Array([9, 9]), 2), 2);
    assert.equal(shim.shim_read(client, buffer, 16), 2);
    shim.shim_close(client);
    // The peer hung up: a read returns 0.
    assert.equal(shim.shim_read(accepted.fd, buffer, 16), 0);
    shim.shim_close(accepted.fd);
  } finally {
    shim.shim_unlink(cString(path));
  }
});

Deno.test("acceptBess() ends the wait when cancelled and removes the unused socket file", async () => {
  const path = freshPath();
  try {
    const listener = listening(path);
    assert.equal(shim.shim_access(cString(path)), 0);
    const accepted = await acceptBess(shim, listener, Promise.resolve());
    assert.deepEqual(accepted, { kind: "cancelled" });
    assert.ok(shim.shim_access(cString(path)) < 0);
  } finally {
    shim.shim_unlink(cString(path));
  }
});
