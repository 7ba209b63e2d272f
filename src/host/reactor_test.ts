import assert from "node:assert/strict";
import { loadShim } from "../ffi/shim.ts";
import { shimFiles } from "../ffi/files.ts";
import { decodeSockaddr, EPOLLIN, SOCKADDR_IN6_SIZE } from "../ffi/sockaddr.ts";
import type { HostUdpError } from "../stack/udp_nat.ts";
import type { IpAddress } from "../wire/address.ts";
import { DatagramSockets } from "./datagram_sockets.ts";
import { Reactor } from "./reactor.ts";

const LOOPBACK = 0x7f000001;

function localPort(shim: Awaited<ReturnType<typeof loadShim>>, fd: number): number {
  const sa = new Uint8Array(SOCKADDR_IN6_SIZE);
  const length = new Int32Array([sa.length]);
  assert.equal(shim.shim_getsockname(fd, sa, length), 0);
  return decodeSockaddr(sa)!.port;
}

function waitFor(condition: () => boolean, ms = 2000): Promise<void> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) return resolve();
      if (performance.now() - started > ms) return reject(new Error("condition not met in time"));
      setTimeout(check, 5);
    };
    check();
  });
}

Deno.test("Reactor runs the handler of a ready fd and stop() ends a blocked wait", async () => {
  const shim = await loadShim();
  const reactor = Reactor.create(shim);
  const loop = reactor.run();
  const fd = shim.shim_eventfd();
  let calls = 0;
  const token = reactor.add(fd, EPOLLIN, () => {
    calls++;
    shim.shim_eventfd_drain(fd);
  });
  assert.ok(token > 0);
  shim.shim_eventfd_signal(fd);
  await waitFor(() => calls === 1);
  reactor.remove(token, fd);
  shim.shim_eventfd_signal(fd);
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(calls, 1, "removed: not called again");
  shim.shim_close(fd);
  const started = performance.now();
  await reactor.stop();
  await loop;
  assert.ok(performance.now() - started < 500);
  await reactor.stop(); // idempotent
});

Deno.test("DatagramSockets receive into the sink's buffer and report ICMP port unreachable", async () => {
  const shim = await loadShim();
  const reactor = Reactor.create(shim);
  const loop = reactor.run();
  const buffer = new Uint8Array(2048);
  const got: { handle: number; src: IpAddress; srcPort: number; text: string }[] = [];
  const errors: HostUdpError[] = [];
  // Bound to 127.0.0.1 (as --outbound-addr binds them), so each has its port at once.
  const sockets = new DatagramSockets(shim, reactor, "udp", { ipv4: LOOPBACK, ipv6: 0n }, {
    buffer,
    ipv4: { offset: 100, room: 1900 },
    ipv6: { offset: 100, room: 1900 },
    data: (handle, src, srcPort, length) =>
      got.push({
        handle,
        src,
        srcPort,
        text: new TextDecoder().decode(buffer.subarray(100, 100 + length)),
      }),
    error: (_handle, error) => errors.push(error),
  });
  try {
    const a = sockets.open(4);
    const b = sockets.open(4);
    assert.ok(a >= 0 && b >= 0);
    const message = new TextEncoder().encode("xxhello");
    assert.equal(sockets.sendTo(a, message, 2, 5, LOOPBACK, localPort(shim, b)), 5);
    await waitFor(() => got.length === 1);
    assert.equal(got[0].handle, b);
    assert.equal(got[0].src, LOOPBACK);
    assert.equal(got[0].srcPort, localPort(shim, a));
    assert.equal(got[0].text, "hello");
    // A port nobody listens on: the port of a socket we just closed.
    const c = sockets.open(4);
    const closedPort = localPort(shim, c);
    sockets.close(c);
    assert.equal(sockets.sendTo(a, message, 0, 7, LOOPBACK, closedPort), 7);
    await waitFor(() => errors.length === 1);
    assert.equal(errors[0].fromIcmp, true);
    assert.equal(errors[0].icmpType, 3);
    assert.equal(errors[0].icmpCode, 3);
    assert.equal(errors[0].errno, 111);
    assert.equal(errors[0].dst, LOOPBACK);
    assert.equal(errors[0].dstPort, closedPort);
    assert.equal(errors[0].payloadLength, 7);
    assert.equal(sockets.size, 2);
  } finally {
    sockets.closeAll();
    assert.equal(sockets.size, 0);
    assert.equal(reactor.size, 0);
    await reactor.stop();
    await loop;
  }
});

/** Whether lo has ::1 (read through the shim: the tests may read only the repository). */
const loopbackHasIpv6 = (shimFiles(await loadShim()).read("/proc/net/if_inet6") ?? "")
  .split("\n")
  .some((line) => line.startsWith("00000000000000000000000000000001 ") && line.endsWith(" lo"));

Deno.test({
  name: "DatagramSockets over IPv6: receive from [::1] and report ICMPv6 port unreachable",
  ignore: !loopbackHasIpv6,
  fn: async () => {
    const shim = await loadShim();
    const reactor = Reactor.create(shim);
    const loop = reactor.run();
    const buffer = new Uint8Array(2048);
    const got: { handle: number; src: IpAddress; srcPort: number; text: string }[] = [];
    const errors: HostUdpError[] = [];
    // Bound to ::1 (as --outbound-addr6 binds them); IPv4 sockets would land at 100.
    const sockets = new DatagramSockets(shim, reactor, "udp", { ipv4: 0, ipv6: 1n }, {
      buffer,
      ipv4: { offset: 100, room: 1900 },
      ipv6: { offset: 120, room: 1900 },
      data: (handle, src, srcPort, length) =>
        got.push({
          handle,
          src,
          srcPort,
          text: new TextDecoder().decode(buffer.subarray(120, 120 + length)),
        }),
      error: (_handle, error) => errors.push(error),
    });
    try {
      const a = sockets.open(6);
      const b = sockets.open(6);
      assert.ok(a >= 0 && b >= 0, `${a} ${b}`);
      const message = new TextEncoder().encode("xxhello");
      assert.equal(sockets.sendTo(a, message, 2, 5, 1n, localPort(shim, b)), 5);
      await waitFor(() => got.length === 1);
      assert.equal(got[0].handle, b);
      assert.equal(got[0].src, 1n);
      assert.equal(got[0].srcPort, localPort(shim, a));
      assert.equal(got[0].text, "hello");
      const c = sockets.open(6);
      const closedPort = localPort(shim, c);
      sockets.close(c);
      assert.equal(sockets.sendTo(a, message, 0, 7, 1n, closedPort), 7);
      await waitFor(() => errors.length === 1);
      assert.equal(errors[0].fromIcmp, true, "SO_EE_ORIGIN_ICMP6");
      assert.equal(errors[0].icmpType, 1);
      assert.equal(errors[0].icmpCode, 4);
      assert.equal(errors[0].errno, 111);
      assert.equal(errors[0].dst, 1n);
      assert.equal(errors[0].dstPort, closedPort);
      assert.equal(errors[0].payloadLength, 7);
      // An IPv6 socket never sends to an IPv4-mapped address (IPV6_V6ONLY).
      assert.ok(sockets.sendTo(a, message, 0, 7, 0xffffn << 32n | 0x7f000001n, 9) < 0);
    } finally {
      sockets.closeAll();
      await reactor.stop();
      await loop;
    }
  },
});
