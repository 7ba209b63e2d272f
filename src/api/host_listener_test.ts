import assert from "node:assert/strict";
import { EAGAIN, EINTR } from "../ffi/errno.ts";
import { loadShim, type Shim } from "../ffi/shim.ts";
import {
  AF_INET,
  decodeSockaddrIn,
  encodeSockaddrIn,
  EPOLLIN,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
} from "../ffi/sockaddr.ts";
import { Reactor } from "../host/reactor.ts";
import { connect, sendAll, waitFor } from "./_test_utils.ts";
import {
  addressForGuest,
  type ForwardClient,
  type ForwardSink,
  HostForwards,
  MAX_UDP_FLOWS_PER_FORWARD,
  UDP_FLOW_IDLE_MS,
  type UdpForwardFlow,
} from "./host_listener.ts";
import type { ForwardSpec } from "./protocol.ts";
import { type IpAddress, IPV6_LOOPBACK } from "../wire/address.ts";

const LOOPBACK = 0x7f000001;
const GATEWAY = 0x0a000202;
const GATEWAY6 = (0xfd00n << 112n) | 2n;
const DHCP_START = 0x0a00020f;
const GUEST = 0x0a000264;
const EADDRINUSE = 98;
const ECONNREFUSED = 111;
const EINPROGRESS = 115;

function tcp(hostPort = 0, guestAddr = GUEST): ForwardSpec {
  return { proto: "tcp", hostAddr: LOOPBACK, hostPort, guestAddr, guestPort: 80 };
}

function udp(hostPort = 0): ForwardSpec {
  return { proto: "udp", hostAddr: LOOPBACK, hostPort, guestAddr: GUEST, guestPort: 53 };
}

function localPort(shim: Shim, fd: number): number {
  const sa = new Uint8Array(SOCKADDR_IN6_SIZE);
  assert.equal(shim.shim_getsockname(fd, sa, new Int32Array([sa.length])), 0);
  return decodeSockaddrIn(sa)!.port;
}

/** Reads exactly `length` bytes, or fewer if the peer closes first. */
async function readExactly(
  shim: Shim,
  reactor: Reactor,
  fd: number,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = shim.shim_recv(fd, out.subarray(done), length - done, 0);
    if (n === -EAGAIN) {
      if ((await waitFor(reactor, fd, EPOLLIN)) === 0) break;
      continue;
    }
    if (n === -EINTR) continue;
    if (n <= 0) break;
    done += n;
  }
  return out.subarray(0, done);
}

/**
 * A sink that stands in for the TCP relay: echoes every accepted connection's bytes back and
 * closes after the client's end of input. Also records UDP datagrams.
 */
class EchoSink implements ForwardSink {
  readonly accepted: {
    fd: number;
    client: ForwardClient;
    guestAddr: IpAddress;
    guestPort: number;
  }[] = [];
  readonly open = new Set<number>();
  readonly udpBuffer = new Uint8Array(4096);
  readonly udpOffset = 42; // where a frame's UDP payload would start
  readonly udpRoom = 2048;
  readonly datagrams: { flow: UdpForwardFlow; text: string; now: number }[] = [];
  readonly #scratch = new Uint8Array(65536);

  constructor(private readonly shim: Shim, private readonly reactor: Reactor) {}

  acceptedTcp(fd: number, client: ForwardClient, guestAddr: IpAddress, guestPort: number): void {
    this.accepted.push({ fd, client, guestAddr, guestPort });
    this.open.add(fd);
    const token = this.reactor.add(fd, EPOLLIN, () => {
      for (;;) {
        const n = this.shim.shim_recv(fd, this.#scratch, this.#scratch.length, 0);
        if (n === -EAGAIN) return;
        if (n > 0) {
          const sent = this.shim.shim_send(fd, this.#scratch, n, 0);
          assert.equal(sent, n, "echo fits the socket buffer");
          continue;
        }
        this.reactor.remove(token, fd);
        this.shim.shim_close(fd);
        this.open.delete(fd);
        return;
      }
    });
  }

  udpDatagram(flow: UdpForwardFlow, length: number, now: number): void {
    const payload = this.udpBuffer.subarray(this.udpOffset, this.udpOffset + length);
    this.datagrams.push({ flow, text: new TextDecoder().decode(payload), now });
  }

  closeAll(): void {
    for (const fd of this.open) this.shim.shim_close(fd);
    this.open.clear();
  }
}

async function setUp(now?: () => number) {
  const shim = await loadShim();
  shim.shim_raise_nofile();
  const reactor = Reactor.create(shim);
  const loop = reactor.run();
  const sink = new EchoSink(shim, reactor);
  const forwards = new HostForwards(shim, reactor, sink, {
    gateways: { ipv4: GATEWAY, ipv6: GATEWAY6 },
    dhcpStart: DHCP_START,
    now,
  });
  return {
    shim,
    reactor,
    sink,
    forwards,
    async tearDown() {
      forwards.closeAll();
      sink.closeAll();
      await reactor.stop();
      await loop;
    },
  };
}

/** A byte pattern that differs per connection and per position. */
function pattern(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

Deno.test("addressForGuest(): loopback and 0.0.0.0 clients appear as the gateway", () => {
  const gateways = { ipv4: GATEWAY, ipv6: GATEWAY6 };
  assert.equal(addressForGuest(0x7f000001, GUEST, gateways), GATEWAY);
  assert.equal(addressForGuest(0x7f0a0b0c, GUEST, gateways), GATEWAY);
  assert.equal(addressForGuest(0, GUEST, gateways), GATEWAY);
  assert.equal(addressForGuest(0xc0000202, GUEST, gateways), 0xc0000202);
  assert.equal(addressForGuest(0x80000001, GUEST, gateways), 0x80000001);
});

Deno.test("addressForGuest(): ::1 and :: appear as fd00::2, other families as the guest's gateway", () => {
  const gateways = { ipv4: GATEWAY, ipv6: GATEWAY6 };
  const guest6 = (0xfd00n << 112n) | 0x100n;
  const client6 = (0x2001n << 112n) | (0xdb8n << 96n) | 5n;
  assert.equal(addressForGuest(1n, guest6, gateways), GATEWAY6);
  assert.equal(addressForGuest(0n, guest6, gateways), GATEWAY6);
  assert.equal(addressForGuest(client6, guest6, gateways), client6);
  assert.equal(addressForGuest(0xc0000202, guest6, gateways), GATEWAY6);
  assert.equal(addressForGuest(client6, GUEST, gateways), GATEWAY);
});

Deno.test("HostForwards accepts 1000 simultaneous connections through one forward, every byte intact", async () => {
  const t = await setUp();
  const COUNT = 1000;
  const BYTES = 4096;
  try {
    assert.equal(t.forwards.open(1, tcp()), 0);
    const port = t.forwards.hostPort(1)!;
    const rssBefore = Deno.memoryUsage().rss;
    // All connects are issued before the loop gets a turn: 1000 connections wait in the backlog
    // at once (slirp4netns's backlog of 1 resets most of them).
    const sa = new Uint8Array(SOCKADDR_IN_SIZE);
    encodeSockaddrIn(sa, LOOPBACK, port);
    const clients: number[] = [];
    for (let i = 0; i < COUNT; i++) {
      const fd = t.shim.shim_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      assert.ok(fd >= 0, `socket ${i}: ${fd}`);
      const rc = t.shim.shim_connect(fd, sa, SOCKADDR_IN_SIZE);
      assert.ok(rc === 0 || rc === -EINPROGRESS, `connect ${i}: ${rc}`);
      clients.push(fd);
    }
    const results = await Promise.all(clients.map(async (fd, i) => {
      const sent = pattern(i + 1, BYTES);
      assert.ok(await sendAll(t.shim, t.reactor, fd, sent), `send ${i}`);
      t.shim.shim_shutdown(fd, SHUT_WR);
      const echoed = await readExactly(t.shim, t.reactor, fd, BYTES);
      t.shim.shim_close(fd);
      return echoed.length === BYTES && echoed.every((b, j) => b === sent[j]);
    }));
    assert.equal(results.filter((ok) => ok).length, COUNT);
    assert.equal(t.forwards.stats.tcpAccepted, COUNT);
    assert.equal(t.forwards.stats.tcpAcceptPaused, 0);
    const clientPorts = new Set(t.sink.accepted.map((a) => a.client.port));
    assert.equal(clientPorts.size, COUNT);
    // The listener keeps nothing per connection; this bound covers the test's own clients too.
    const grown = Deno.memoryUsage().rss - rssBefore;
    console.log(`RSS growth over ${COUNT} connections: ${(grown / 1048576).toFixed(1)} MiB`);
    assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${grown} bytes`);
  } finally {
    await t.tearDown();
  }
});

Deno.test("HostForwards hands over the client's address, what the guest sees, and the guest end", async () => {
  const t = await setUp();
  try {
    assert.equal(t.forwards.open(7, tcp(0, 0)), 0); // guest_addr 0.0.0.0 goes to DHCP start
    assert.equal(t.forwards.open(8, tcp()), 0);
    const a = await connect(t.shim, t.reactor, {
      address: LOOPBACK,
      port: t.forwards.hostPort(7)!,
    });
    const b = await connect(t.shim, t.reactor, {
      address: LOOPBACK,
      port: t.forwards.hostPort(8)!,
    });
    for (let i = 0; i < 100 && t.sink.accepted.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const [first, second] = [...t.sink.accepted].sort((x, y) =>
      Number(x.guestAddr) - Number(y.guestAddr)
    );
    assert.deepEqual(first.client, {
      address: LOOPBACK,
      port: localPort(t.shim, a),
      addressForGuest: GATEWAY,
    });
    assert.equal(first.guestAddr, DHCP_START);
    assert.equal(first.guestPort, 80);
    assert.equal(second.client.port, localPort(t.shim, b));
    assert.equal(second.guestAddr, GUEST);
    t.shim.shim_close(a);
    t.shim.shim_close(b);
  } finally {
    await t.tearDown();
  }
});

Deno.test("HostForwards: an IPv6 listener hands over ::1 clients as fd00::2 to an IPv6 guest", async () => {
  const t = await setUp();
  const guest6 = (0xfd00n << 112n) | 0x100n;
  try {
    const spec: ForwardSpec = {
      proto: "tcp",
      hostAddr: IPV6_LOOPBACK,
      hostPort: 0,
      guestAddr: guest6,
      guestPort: 80,
    };
    assert.equal(t.forwards.open(1, spec), 0);
    const fd = await connect(t.shim, t.reactor, {
      address: IPV6_LOOPBACK,
      port: t.forwards.hostPort(1)!,
    });
    for (let i = 0; i < 100 && t.sink.accepted.length < 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const [accepted] = t.sink.accepted;
    assert.equal(accepted.client.address, IPV6_LOOPBACK);
    assert.equal(accepted.client.addressForGuest, GATEWAY6);
    assert.equal(accepted.guestAddr, guest6);
    const bytes = pattern(6, 1000);
    assert.ok(await sendAll(t.shim, t.reactor, fd, bytes));
    assert.deepEqual(await readExactly(t.shim, t.reactor, fd, bytes.length), bytes);
    t.shim.shim_close(fd);
  } finally {
    await t.tearDown();
  }
});

Deno.test("HostForwards: 0.0.0.0 and :: forwards of one port coexist (the IPv6 one is IPv6-only)", async () => {
  const t = await setUp();
  try {
    const v4: ForwardSpec = {
      proto: "tcp",
      hostAddr: 0,
      hostPort: 0,
      guestAddr: GUEST,
      guestPort: 80,
    };
    assert.equal(t.forwards.open(1, v4), 0);
    const port = t.forwards.hostPort(1)!;
    const v6: ForwardSpec = { ...v4, hostAddr: 0n, hostPort: port };
    assert.equal(t.forwards.open(2, v6), 0);
    assert.equal(t.forwards.hostPort(2), port);
    // An IPv4 client reaches the IPv4 listener; an IPv6 client the IPv6 one (both to the guest's
    // IPv4 address here, the IPv6 client appearing as the gateway).
    const a = await connect(t.shim, t.reactor, { address: LOOPBACK, port });
    const b = await connect(t.shim, t.reactor, { address: IPV6_LOOPBACK, port });
    for (let i = 0; i < 100 && t.sink.accepted.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const addresses = t.sink.accepted.map((x) => x.client.address);
    assert.ok(addresses.includes(LOOPBACK) && addresses.includes(IPV6_LOOPBACK), String(addresses));
    assert.ok(t.sink.accepted.every((x) => x.client.addressForGuest === GATEWAY));
    t.shim.shim_close(a);
    t.shim.shim_close(b);
  } finally {
    await t.tearDown();
  }
});

Deno.test("HostForwards.close() closes the listener at once: the next connect is refused", async () => {
  const t = await setUp();
  try {
    assert.equal(t.forwards.open(1, tcp()), 0);
    const port = t.forwards.hostPort(1)!;
    assert.ok(t.forwards.close(1));
    assert.equal(t.forwards.close(1), false);
    assert.equal(t.forwards.size, 0);
    // Refused at once: nothing listens any more.
    const sa = new Uint8Array(SOCKADDR_IN_SIZE);
    const probe = t.shim.shim_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert.equal(
      t.shim.shim_connect(probe, sa, encodeSockaddrIn(sa, LOOPBACK, port)),
      -ECONNREFUSED,
    );
    t.shim.shim_close(probe);
  } finally {
    await t.tearDown();
  }
});

Deno.test("HostForwards: an established connection survives its forward's removal", async () => {
  const t = await setUp();
  try {
    assert.equal(t.forwards.open(1, tcp()), 0);
    const fd = await connect(t.shim, t.reactor, {
      address: LOOPBACK,
      port: t.forwards.hostPort(1)!,
    });
    for (let i = 0; i < 100 && t.sink.accepted.length < 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(t.sink.accepted.length, 1);
    t.forwards.close(1);
    assert.ok(await sendAll(t.shim, t.reactor, fd, new TextEncoder().encode("after removal")));
    const echoed = await readExactly(t.shim, t.reactor, fd, 13);
    assert.equal(new TextDecoder().decode(echoed), "after removal");
    t.shim.shim_close(fd);
  } finally {
    await t.tearDown();
  }
});

Deno.test("HostForwards.open() reports the kernel's refusal as -errno", async () => {
  const t = await setUp();
  try {
    assert.equal(t.forwards.open(1, tcp()), 0);
    const port = t.forwards.hostPort(1)!;
    assert.equal(t.forwards.open(2, tcp(port)), -EADDRINUSE);
    assert.equal(t.forwards.open(3, { ...tcp(port), hostAddr: 0 }), -EADDRINUSE);
    assert.equal(t.forwards.hostPort(2), undefined);
    // The same port for UDP is another socket.
    assert.equal(t.forwards.open(4, udp(port)), 0);
    assert.equal(t.forwards.open(5, udp(port)), -EADDRINUSE, "no SO_REUSEADDR on UDP forwards");
    assert.equal(t.forwards.open(6, { ...tcp(), hostAddr: 0x01020304 }), -99); // EADDRNOTAVAIL
    assert.equal(t.forwards.size, 2);
  } finally {
    await t.tearDown();
  }
});

Deno.test("HostForwards: a TCP forward can be added again at once after removal", async () => {
  const t = await setUp();
  try {
    assert.equal(t.forwards.open(1, tcp()), 0);
    const port = t.forwards.hostPort(1)!;
    const fd = await connect(t.shim, t.reactor, { address: LOOPBACK, port });
    await until(() => t.sink.accepted.length === 1);
    t.sink.closeAll(); // the forward's side closes first and goes to TIME_WAIT on `port`
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.shim.shim_close(fd);
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.forwards.close(1);
    assert.equal(t.forwards.open(2, tcp(port)), 0, "SO_REUSEADDR: TIME_WAIT does not block it");
  } finally {
    await t.tearDown();
  }
});

function udpClient(shim: Shim): { fd: number; port: number } {
  const fd = shim.shim_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const sa = new Uint8Array(SOCKADDR_IN_SIZE);
  assert.equal(shim.shim_bind(fd, sa, encodeSockaddrIn(sa, LOOPBACK, 0)), 0);
  return { fd, port: localPort(shim, fd) };
}

function sendTo(shim: Shim, fd: number, port: number, text: string): void {
  const sa = new Uint8Array(SOCKADDR_IN_SIZE);
  const bytes = new TextEncoder().encode(text);
  assert.equal(
    shim.shim_sendto(fd, bytes, bytes.length, 0, sa, encodeSockaddrIn(sa, LOOPBACK, port)),
    bytes.length,
  );
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(condition(), "condition not met in time");
}

Deno.test("HostForwards: UDP datagrams reach the sink as flows, and replies reach the client from the forward's port", async () => {
  let clock = 1000;
  const t = await setUp(() => clock);
  try {
    assert.equal(t.forwards.open(3, udp()), 0);
    const port = t.forwards.hostPort(3)!;
    const a = udpClient(t.shim);
    const b = udpClient(t.shim);
    sendTo(t.shim, a.fd, port, "query from a");
    sendTo(t.shim, b.fd, port, "query from b");
    sendTo(t.shim, a.fd, port, "again from a");
    await until(() => t.sink.datagrams.length === 3);
    const [first, second, third] = t.sink.datagrams;
    assert.equal(first.text, "query from a");
    assert.equal(second.text, "query from b");
    assert.equal(third.text, "again from a");
    assert.equal(first.flow, third.flow, "one flow per client");
    assert.notEqual(first.flow, second.flow);
    assert.equal(first.flow.forwardId, 3);
    assert.deepEqual(first.flow.client, {
      address: LOOPBACK,
      port: a.port,
      addressForGuest: GATEWAY,
    });
    assert.equal(first.flow.guestAddr, GUEST);
    assert.equal(first.flow.guestPort, 53);
    assert.equal(first.now, 1000);
    assert.equal(t.forwards.stats.udpFlowsCreated, 2);

    // The guest answers from GUEST:53 to GATEWAY:a.port: the UDP NAT finds the flow by that.
    const found = t.forwards.flowForGuestReply(GUEST, 53, GATEWAY, a.port, clock);
    assert.equal(found, first.flow);
    assert.equal(t.forwards.flowForGuestReply(GUEST, 54, GATEWAY, a.port, clock), undefined);
    assert.equal(t.forwards.flowForGuestReply(GUEST, 53, LOOPBACK, a.port, clock), undefined);
    const reply = new TextEncoder().encode("answer to a");
    assert.equal(found!.sendToClient(reply), reply.length);
    await waitFor(t.reactor, a.fd, EPOLLIN);
    const from = new Uint8Array(SOCKADDR_IN6_SIZE);
    const buffer = new Uint8Array(100);
    const n = t.shim.shim_recvfrom(
      a.fd,
      buffer,
      buffer.length,
      0,
      from,
      new Int32Array([from.length]),
    );
    assert.equal(new TextDecoder().decode(buffer.subarray(0, n)), "answer to a");
    assert.deepEqual(decodeSockaddrIn(from), { address: LOOPBACK, port });
    assert.equal(t.forwards.stats.udpToClients, 1);

    // Idle flows are forgotten; removing the forward ends the others.
    clock += UDP_FLOW_IDLE_MS;
    assert.equal(t.forwards.flowForGuestReply(GUEST, 53, GATEWAY, a.port, clock), undefined);
    assert.equal(first.flow.sendToClient(reply), -9, "EBADF once forgotten");
    assert.ok(t.forwards.flowForGuestReply(GUEST, 53, GATEWAY, b.port, clock - 1));
    t.forwards.close(3);
    assert.equal(t.forwards.flowForGuestReply(GUEST, 53, GATEWAY, b.port, clock - 1), undefined);
    assert.equal(second.flow.sendToClient(reply), -9);
    t.shim.shim_close(a.fd);
    t.shim.shim_close(b.fd);
  } finally {
    await t.tearDown();
  }
});

Deno.test("HostForwards keeps at most MAX_UDP_FLOWS_PER_FORWARD clients, the least recently active going first", async () => {
  let clock = 0;
  const t = await setUp(() => clock);
  const clients: { fd: number; port: number }[] = [];
  try {
    assert.equal(t.forwards.open(1, udp()), 0);
    const port = t.forwards.hostPort(1)!;
    for (let i = 0; i < MAX_UDP_FLOWS_PER_FORWARD + 10; i++) {
      clients.push(udpClient(t.shim));
    }
    // Client 0 first, then everyone else; client 0 stays active, so client 1 is the oldest.
    for (const [i, client] of clients.slice(0, MAX_UDP_FLOWS_PER_FORWARD).entries()) {
      clock = i;
      sendTo(t.shim, client.fd, port, `hello ${i}`);
      if (i % 64 === 63) await until(() => t.sink.datagrams.length === i + 1);
    }
    await until(() => t.sink.datagrams.length === MAX_UDP_FLOWS_PER_FORWARD);
    clock = MAX_UDP_FLOWS_PER_FORWARD;
    const zero = t.forwards.flowForGuestReply(GUEST, 53, GATEWAY, clients[0].port, clock)!;
    assert.ok(zero.sendToClient(new Uint8Array([1])) === 1);
    for (const [i, client] of clients.slice(MAX_UDP_FLOWS_PER_FORWARD).entries()) {
      clock = MAX_UDP_FLOWS_PER_FORWARD + 1 + i;
      sendTo(t.shim, client.fd, port, `late ${i}`);
    }
    await until(() => t.sink.datagrams.length === MAX_UDP_FLOWS_PER_FORWARD + 10);
    assert.equal(t.forwards.stats.udpFlowsEvicted, 10);
    assert.ok(t.forwards.flowForGuestReply(GUEST, 53, GATEWAY, clients[0].port, clock));
    for (let i = 1; i <= 10; i++) {
      assert.equal(
        t.forwards.flowForGuestReply(GUEST, 53, GATEWAY, clients[i].port, clock),
        undefined,
        `client ${i} evicted`,
      );
    }
    assert.ok(t.forwards.flowForGuestReply(GUEST, 53, GATEWAY, clients[11].port, clock));
  } finally {
    for (const client of clients) t.shim.shim_close(client.fd);
    await t.tearDown();
  }
});

Deno.test("HostForwards drops a datagram longer than the sink's room instead of cutting it", async () => {
  const t = await setUp();
  try {
    assert.equal(t.forwards.open(1, udp()), 0);
    const port = t.forwards.hostPort(1)!;
    const client = udpClient(t.shim);
    sendTo(t.shim, client.fd, port, "x".repeat(t.sink.udpRoom + 1));
    sendTo(t.shim, client.fd, port, "y".repeat(t.sink.udpRoom));
    await until(() => t.sink.datagrams.length === 1);
    assert.equal(t.sink.datagrams[0].text, "y".repeat(t.sink.udpRoom));
    assert.equal(t.forwards.stats.udpTooLong, 1);
    t.shim.shim_close(client.fd);
  } finally {
    await t.tearDown();
  }
});
