import assert from "node:assert/strict";
import { bindShim, cString, loadShim, memfdPath } from "./shim.ts";
import { errnoText } from "./errno.ts";
import { locateShim } from "./locate.ts";
import { unixDatagramPair } from "./_test_utils.ts";
import { vnetHeader } from "../wire/testdata/virtio_net.ts";

Deno.test("the prebuilt shim for this architecture loads through a memfd, as a registry run does", async () => {
  const module = Deno.build.arch === "x86_64"
    ? await import("../../native/prebuilt/x86_64.ts")
    : await import("../../native/prebuilt/aarch64.ts");
  const path = memfdPath(Uint8Array.fromBase64(module.SHIM_BASE64));
  assert.match(path, /^\/proc\/self\/fd\/\d+$/);
  const shim = bindShim(path);
  assert.equal(shim.shim_access(cString("/")), 0);
  assert.equal(shim.shim_access(cString("/nonexistent/x")), -2);
});

Deno.test("bindShim() binds each symbol on first use, then keeps it as a plain property", async () => {
  const location = await locateShim();
  const shim = bindShim(location.kind === "file" ? location.path : memfdPath(location.bytes));
  assert.equal(typeof Object.getOwnPropertyDescriptor(shim, "shim_close")?.get, "function");
  assert.equal(shim.shim_close(987654), -9);
  const bound = Object.getOwnPropertyDescriptor(shim, "shim_close");
  assert.equal(bound?.get, undefined);
  assert.equal(bound?.value, shim.shim_close);
  assert.equal(typeof Object.getOwnPropertyDescriptor(shim, "shim_read")?.get, "function");
});

Deno.test("bindShim() fails at once for a file that is not a library", () => {
  assert.throws(() => bindShim("/nonexistent/libnothing.so"));
});

Deno.test("shim wrappers return -errno instead of setting errno", async () => {
  const shim = await loadShim();
  assert.equal(shim.shim_close(987654), -9);
  assert.equal(shim.shim_fd_inherited(987654), -9);
  assert.equal(shim.shim_read(987654, new Uint8Array(4), 4), -9);
  assert.equal(errnoText(shim, 1), "Operation not permitted");
});

Deno.test("shim_tap_name() rejects an fd that is not a tap", async () => {
  const shim = await loadShim();
  const fd = shim.shim_eventfd();
  assert.ok(fd >= 0);
  try {
    assert.ok(shim.shim_tap_name(fd, new Uint8Array(16)) < 0);
  } finally {
    shim.shim_close(fd);
  }
});

Deno.test("shim_fd_inherited() tells inherited fds from the runtime's close-on-exec ones", async () => {
  const shim = await loadShim();
  assert.equal(shim.shim_fd_inherited(2), 0);
  const own = shim.shim_eventfd(); // close-on-exec, as every fd the runtime opens
  try {
    assert.equal(shim.shim_fd_inherited(own), -9);
  } finally {
    shim.shim_close(own);
  }
});

Deno.test("socket wrappers move a datagram over loopback with sockaddr bytes", async () => {
  const {
    AF_INET,
    SOCK_CLOEXEC,
    SOCK_DGRAM,
    SOCK_NONBLOCK,
    SOCKADDR_IN6_SIZE,
    decodeSockaddrIn,
    encodeSockaddrIn,
  } = await import("./sockaddr.ts");
  const shim = await loadShim();
  const receiver = shim.shim_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const sender = shim.shim_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  try {
    const sa = new Uint8Array(SOCKADDR_IN6_SIZE);
    assert.equal(shim.shim_bind(receiver, sa, encodeSockaddrIn(sa, 0x7f000001, 0)), 0);
    const length = new Int32Array([sa.length]);
    assert.equal(shim.shim_getsockname(receiver, sa, new Uint8Array(length.buffer)), 0);
    const bound = decodeSockaddrIn(sa);
    assert.ok(bound && bound.port > 0);
    assert.equal(shim.shim_sendto(sender, new Uint8Array([1, 2, 3]), 3, 0, sa, length[0]), 3);
    const from = new Uint8Array(SOCKADDR_IN6_SIZE);
    const fromLength = new Int32Array([from.length]);
    const data = new Uint8Array(16);
    assert.equal(
      shim.shim_recvfrom(receiver, data, 16, 0, from, new Uint8Array(fromLength.buffer)),
      3,
    );
    assert.deepEqual([...data.subarray(0, 3)], [1, 2, 3]);
    assert.equal(decodeSockaddrIn(from)?.address, 0x7f000001);
    assert.equal(shim.shim_recv(receiver, data, 16, 0), -11); // EAGAIN: nothing more
  } finally {
    shim.shim_close(receiver);
    shim.shim_close(sender);
  }
});

Deno.test("shim_tap_offload() returns -errno on an fd that is not a tap", async () => {
  const shim = await loadShim();
  assert.equal(shim.shim_tap_offload(987654), -9); // EBADF
  const fd = shim.shim_eventfd();
  assert.ok(fd >= 0);
  try {
    const result = shim.shim_tap_offload(fd);
    assert.ok(result < 0, `TUNGETIFF on an eventfd returned ${result}`);
    assert.notEqual(errnoText(shim, -result), "");
  } finally {
    shim.shim_close(fd);
  }
});

Deno.test("shim_write_vnet() writes a little-endian virtio-net header, then the frame, in one write", async () => {
  const shim = await loadShim();
  using pair = unixDatagramPair(shim);
  const frame = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
  // A TCP super-frame: checksum to finish at 34 + 16, cut into 1448-byte segments.
  assert.equal(shim.shim_write_vnet(pair.writer, frame, frame.length, 34, 16, 1, 1448), 1010);
  let sent = pair.read()!;
  assert.equal(sent.length, 1010);
  assert.deepEqual(
    sent.subarray(0, 10),
    vnetHeader({ flags: 1, gsoType: 1, gsoSize: 1448, csumStart: 34, csumOffset: 16 }),
  );
  assert.deepEqual(sent.subarray(10), frame);
  // Bytes above 255 in every 16-bit field show the byte order.
  assert.equal(shim.shim_write_vnet(pair.writer, frame, 600, 0x0102, 0x0304, 0x81, 0x0506), 610);
  sent = pair.read()!;
  assert.deepEqual([...sent.subarray(0, 10)], [1, 0x81, 0, 0, 6, 5, 2, 1, 4, 3]);
  assert.deepEqual(sent.subarray(10), frame.subarray(0, 600));
});

Deno.test("shim_write_vnet() without csum_start sets no flag and no checksum fields", async () => {
  const shim = await loadShim();
  using pair = unixDatagramPair(shim);
  const frame = new Uint8Array(60).fill(0xa5);
  assert.equal(shim.shim_write_vnet(pair.writer, frame, 60, 0, 0, 0, 0), 70);
  assert.deepEqual(pair.read(), Uint8Array.from([...vnetHeader(), ...frame]));
  // A checksum offset alone means nothing: the header stays all zero.
  assert.equal(shim.shim_write_vnet(pair.writer, frame, 60, 0, 16, 0, 0), 70);
  assert.deepEqual(pair.read()!.subarray(0, 10), vnetHeader());
  assert.equal(pair.read(), null, "one datagram per write");
  assert.equal(shim.shim_write_vnet(987654, frame, 60, 0, 0, 0, 0), -9); // EBADF
});
