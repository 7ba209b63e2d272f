/**
 * The TCP relay over IPv6: the same engine as IPv4, with IPv6 headers and pseudo-headers, the MSS
 * of a 60-byte header pair, ICMPv6 errors, the fd00::/64 prefix meaning the host's ::1, and a
 * table in which IPv4 and IPv6 connections with the same ports never meet.
 */
import assert from "node:assert/strict";
import { IPV6_LOOPBACK, parseIpv6 } from "../../wire/address.ts";
import { Icmpv6Type, Icmpv6Unreachable } from "../../wire/icmpv6.ts";
import {
  ACK,
  ADDRESSES,
  FIN,
  GUEST_ADDR,
  GUEST_ADDR6,
  GUEST_ISN,
  GUEST_MAC,
  GUEST_PORT,
  Harness,
  MSS6,
  OffloadMemoryLink,
  pattern,
  PEER_ADDR,
  PEER_ADDR6,
  PEER_PORT,
  PSH,
  RST,
  SYN,
} from "./_test_link.ts";
import { Errno } from "./host_sockets.ts";
import { seqAdd } from "./seq.ts";

const V6 = ADDRESSES.ipv6!;
const text = (s: string) => new TextEncoder().encode(s);

/** A harness whose guest speaks IPv6 to the IPv6 test host. */
function ipv6Harness(link?: OffloadMemoryLink): Harness {
  const h = new Harness({}, { link });
  h.template = { ...h.template, src: GUEST_ADDR6, dst: PEER_ADDR6 };
  return h;
}

Deno.test("IPv6: SYN, host connect, SYN-ACK with MSS = MTU − 60, then data both ways", () => {
  const h = ipv6Harness();
  h.send({ flags: SYN, seq: GUEST_ISN, mss: 1440, wscale: 7 });
  h.expectNothing();
  const socket = h.sockets.last;
  assert.equal(socket.address, PEER_ADDR6);
  assert.equal(socket.port, PEER_PORT);
  h.connectDone(socket);
  const synAck = h.expect({
    flags: SYN | ACK,
    src: PEER_ADDR6,
    dst: GUEST_ADDR6,
    ack: GUEST_ISN + 1,
    mss: MSS6,
  });
  h.iss = synAck.seq;
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), flags: ACK | PSH, payload: text("ping") });
  h.expect({ flags: ACK, ack: GUEST_ISN + 5 });
  assert.equal(socket.receivedText, "ping");
  h.hostSends(socket, "pong");
  h.expect({ flags: ACK | PSH, seq: seqAdd(h.iss, 1), payloadText: "pong", src: PEER_ADDR6 });
  assert.equal(
    h.relay.find(GUEST_ADDR6, GUEST_PORT, PEER_ADDR6, PEER_PORT)?.stateName,
    "ESTABLISHED",
  );
});

Deno.test("IPv6: without an MSS option the guest's MSS is taken as 1220 (RFC 8200 §8.3)", () => {
  const h = ipv6Harness();
  h.send({ flags: SYN, seq: GUEST_ISN });
  h.connectDone(h.sockets.last);
  h.iss = h.expect({ flags: SYN | ACK }).seq;
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1) });
  h.hostSends(h.sockets.last, pattern(3000));
  h.expect({ payloadLength: 1220 });
});

Deno.test("IPv6: fd00::2 and any other fd00::/64 address but the DNS mean the host's ::1", () => {
  for (
    const dst of [V6.gateway, parseIpv6("fd00::1234")!, parseIpv6("fd00::ffff:ffff:ffff:ffff")!]
  ) {
    const h = ipv6Harness();
    h.send({ flags: SYN, dst, dstPort: 8080 });
    assert.equal(h.sockets.last.address, IPV6_LOOPBACK, `connect for ${dst.toString(16)}`);
    assert.equal(h.sockets.last.port, 8080);
    h.connectDone(h.sockets.last);
    h.expect({ flags: SYN | ACK, src: dst, srcPort: 8080 });
  }
});

Deno.test("IPv6: fd00::3 port 53 goes to the nameservers of either family, in order", () => {
  const h = ipv6Harness();
  const ns6 = parseIpv6("2001:db8::53")!;
  h.nameservers = [ns6, 0x7f000035];
  h.send({ flags: SYN, dst: V6.dns, dstPort: 53 });
  assert.equal(h.sockets.last.address, ns6);
  h.connectDone(h.sockets.last, Errno.ECONNREFUSED);
  assert.equal(h.sockets.last.address, 0x7f000035);
  h.connectDone(h.sockets.last);
  h.expect({ flags: SYN | ACK, src: V6.dns, srcPort: 53, dst: GUEST_ADDR6 });
});

Deno.test("IPv6: other ports of fd00::3 get ICMPv6 no route, quoting the SYN", () => {
  const h = ipv6Harness();
  h.send({ flags: SYN, dst: V6.dns, dstPort: 80 });
  const icmp = h.expectIcmp({
    type: Icmpv6Type.DEST_UNREACHABLE,
    code: Icmpv6Unreachable.NO_ROUTE,
    src: V6.gateway,
    dst: GUEST_ADDR6,
  });
  // The whole offending packet: 40 bytes of IPv6 header and the 20-byte SYN.
  assert.equal(icmp.quote.length, 60);
  assert.equal(icmp.quote[0] >>> 4, 6);
  assert.equal(h.sockets.all.length, 0);
});

Deno.test("IPv6: with --disable-host-loopback, fd00::2 is refused with ICMPv6 no route", () => {
  const h = ipv6Harness();
  h.disableHostLoopback = true;
  h.send({ flags: SYN, dst: V6.gateway });
  h.expectIcmp({ type: Icmpv6Type.DEST_UNREACHABLE, code: Icmpv6Unreachable.NO_ROUTE });
  assert.equal(h.sockets.all.length, 0);
});

Deno.test("IPv6: link-local, multicast, loopback and IPv4-mapped destinations never reach a socket", () => {
  for (const text of ["fe80::1", "ff02::1", "::1", "::", "::ffff:127.0.0.1"]) {
    const h = ipv6Harness();
    h.send({ flags: SYN, dst: parseIpv6(text)! });
    h.expectIcmp({ type: Icmpv6Type.DEST_UNREACHABLE, code: Icmpv6Unreachable.NO_ROUTE });
    assert.equal(h.sockets.all.length, 0, text);
  }
});

Deno.test("IPv6: a refused connect answers RST, an unreachable host ICMPv6 address unreachable", () => {
  const h = ipv6Harness();
  h.send({ flags: SYN });
  h.connectDone(h.sockets.last, Errno.ECONNREFUSED);
  h.expect({ flags: RST | ACK, ack: GUEST_ISN + 1, src: PEER_ADDR6 });
  h.send({ flags: SYN, srcPort: 40001 });
  h.connectDone(h.sockets.last, Errno.EHOSTUNREACH);
  const icmp = h.expectIcmp({
    type: Icmpv6Type.DEST_UNREACHABLE,
    code: Icmpv6Unreachable.ADDRESS,
  });
  assert.equal(icmp.quote.length, 60);
  assert.equal(h.relay.size, 0);
});

Deno.test("IPv6: a segment of no connection gets RST from the address it was sent to", () => {
  const h = ipv6Harness();
  h.send({ flags: ACK, seq: 5, ack: 777 });
  h.expect({ flags: RST, seq: 777, src: PEER_ADDR6, dst: GUEST_ADDR6 });
});

Deno.test("IPv6: a bad checksum (IPv6 pseudo-header) is dropped and counted", () => {
  const h = ipv6Harness();
  h.send({ flags: SYN, corrupt: (frame, at) => frame[at + 16] ^= 1 });
  h.expectNothing();
  assert.equal(h.count("tcp.bad_checksum"), 1);
  assert.equal(h.sockets.all.length, 0);
});

Deno.test("IPv6 and IPv4 connections with the same ports are separate entries", () => {
  const h = new Harness();
  const v4 = h.establish();
  h.template = { ...h.template, src: GUEST_ADDR6, dst: PEER_ADDR6 };
  const v6 = h.establish({ mss: MSS6, wscale: 7 });
  assert.notEqual(v4, v6);
  assert.equal(h.relay.size, 2);
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), payload: text("six") });
  h.expect({ flags: ACK, dst: GUEST_ADDR6 });
  assert.equal(v6.receivedText, "six");
  assert.equal(v4.receivedText, "");
  h.send({ flags: FIN | ACK, seq: GUEST_ISN + 4, ack: seqAdd(h.iss, 1) });
  h.expect({ flags: ACK, dst: GUEST_ADDR6 });
  assert.ok(v6.shutWrite);
  assert.ok(!v4.shutWrite);
  assert.equal(
    h.relay.find(GUEST_ADDR, GUEST_PORT, PEER_ADDR, PEER_PORT)?.stateName,
    "ESTABLISHED",
  );
});

Deno.test("IPv6: a port forward opens towards the guest's IPv6 address", () => {
  const h = new Harness();
  const client = h.openToGuest(IPV6_LOOPBACK, 50000, 8080, GUEST_ADDR6)!;
  assert.ok(client);
  const syn = h.expect({
    flags: SYN,
    src: IPV6_LOOPBACK,
    dst: GUEST_ADDR6,
    dstPort: 8080,
    mss: MSS6,
  });
  h.send({
    flags: SYN | ACK,
    src: GUEST_ADDR6,
    dst: IPV6_LOOPBACK,
    srcPort: 8080,
    dstPort: 50000,
    seq: GUEST_ISN,
    ack: seqAdd(syn.seq, 1),
  });
  h.expect({ flags: ACK, ack: GUEST_ISN + 1 });
  assert.equal(h.relay.find(GUEST_ADDR6, 8080, IPV6_LOOPBACK, 50000)?.stateName, "ESTABLISHED");
});

Deno.test("IPv6 offload: super-frames behind a 40-byte header, pseudo-header sum in the field", () => {
  const link = new OffloadMemoryLink();
  const h = ipv6Harness(link);
  const socket = h.establish({ mss: MSS6, wscale: 7 });
  link.offloaded.length = 0;
  h.hostSends(socket, pattern(100 << 10));
  const sent = link.offloaded.splice(0);
  assert.ok(sent.length >= 2);
  for (const { frame, tcpOffset, segmentSize } of sent) {
    assert.equal(tcpOffset, 14 + 40);
    assert.equal(frame[12] << 8 | frame[13], 0x86dd);
    assert.equal(frame[14] >>> 4, 6);
    assert.ok(segmentSize === MSS6 || segmentSize === 0);
    assert.deepEqual(frame.subarray(0, 6), GUEST_MAC);
  }
  // The link finished each checksum; the guest sees valid segments carrying the whole stream.
  let received = 0;
  while (link.frames.length > 0) received += h.expect({ dst: GUEST_ADDR6 }).payload.length;
  assert.equal(received, 100 << 10);
});
