/**
 * The TCP relay's state machine, driven segment by segment with a fake clock, an in-memory link
 * and fake host sockets; grouped by state. Sequence numbers: the guest starts at GUEST_ISN, the
 * relay's ISS is read from its SYN-ACK (`h.iss`).
 */
import assert from "node:assert/strict";
import { IcmpType, IcmpUnreachable } from "../../wire/icmp.ts";
import {
  ACK,
  ADDRESSES,
  FIN,
  GUEST_ADDR,
  GUEST_ISN,
  GUEST_PORT,
  Harness,
  MSS,
  pattern,
  PEER_ADDR,
  PEER_PORT,
  PSH,
  RST,
  SYN,
} from "./_test_link.ts";
import { MAX_RANGES } from "./assembler.ts";
import { Errno, HostEvent } from "./host_sockets.ts";
import { TCP_DEFAULTS, TcpState } from "./relay.ts";
import { seqAdd } from "./seq.ts";

const RCV_SHIFT = 6; // 2 MiB receive queue in 16 bits
const FULL_WINDOW = Math.floor(
  Math.min(TCP_DEFAULTS.recvQueueLimit, TCP_DEFAULTS.maxWindowSegments * MSS) / 2 ** RCV_SHIFT,
);
const text = (s: string) => new TextEncoder().encode(s);

function state(h: Harness): string {
  const conn = h.relay.find(GUEST_ADDR, GUEST_PORT, PEER_ADDR, PEER_PORT);
  return conn === null ? "gone" : conn.stateName;
}

// ----------------------------------------------------------------------------------- no connection

Deno.test("no connection: an ACK is answered with RST <SEQ=SEG.ACK>", () => {
  const h = new Harness();
  h.send({ flags: ACK, seq: 5, ack: 777 });
  h.expect({ flags: RST, seq: 777, srcPort: PEER_PORT, dstPort: GUEST_PORT, src: PEER_ADDR });
  h.expectNothing();
  assert.equal(h.count("tcp.no_connection"), 1);
});

Deno.test("no connection: a FIN without ACK gets RST,ACK <SEQ=0><ACK=SEG.SEQ+SEG.LEN>", () => {
  const h = new Harness();
  h.send({ flags: FIN, seq: 100, payload: text("abc") });
  h.expect({ flags: RST | ACK, seq: 0, ack: 104 });
});

Deno.test("no connection: a RST is dropped without answer", () => {
  const h = new Harness();
  h.send({ flags: RST, seq: 5 });
  h.expectNothing();
  assert.equal(h.count("tcp.rst_no_connection"), 1);
});

// ----------------------------------------------------------------------------------- bad input

Deno.test("bad input: a data offset below 5 or past the segment is dropped", () => {
  const h = new Harness();
  h.send({ flags: SYN, corrupt: (f, at) => f[at + 12] = 4 << 4 });
  h.send({ flags: SYN, corrupt: (f, at) => f[at + 12] = 15 << 4 });
  h.expectNothing();
  assert.equal(h.count("tcp.bad_data_offset"), 2);
  assert.equal(h.sockets.all.length, 0);
});

Deno.test("bad input: options running past the header are dropped", () => {
  const h = new Harness();
  // MSS option claiming 8 bytes in a 4-byte option area.
  h.send({ flags: SYN, options: new Uint8Array([2, 8, 5, 0xb4]) });
  h.expectNothing();
  assert.equal(h.count("tcp.bad_options"), 1);
  assert.equal(h.sockets.all.length, 0);
});

Deno.test("bad input: a bad checksum is dropped", () => {
  const h = new Harness();
  h.send({ flags: SYN, corrupt: (f, at) => f[at + 16] ^= 0xff });
  h.expectNothing();
  assert.equal(h.count("tcp.bad_checksum"), 1);
});

Deno.test("bad input: SYN+FIN, SYN+RST, port 0 and a SYN with data are dropped", () => {
  const h = new Harness();
  h.send({ flags: SYN | FIN });
  h.send({ flags: SYN | RST });
  h.send({ flags: SYN, srcPort: 0 });
  h.send({ flags: SYN, dstPort: 0 });
  h.send({ flags: SYN, payload: text("fast open") });
  h.expectNothing();
  assert.equal(h.count("tcp.bad_flags"), 3);
  assert.equal(h.count("tcp.bad_port"), 2);
  assert.equal(h.sockets.all.length, 0);
});

Deno.test("bad input: a truncated TCP header is dropped", () => {
  const h = new Harness();
  const frame = h.frame({ flags: SYN }).slice(0, 34 + 12);
  // Fix the IP total length so that only TCP is short.
  frame[16] = 0;
  frame[17] = 32;
  frame[24] = 0;
  frame[25] = 0;
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += (frame[i] << 8) | frame[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const checksum = ~sum & 0xffff;
  frame[24] = checksum >>> 8;
  frame[25] = checksum & 0xff;
  h.relay.handleFrame(frame, h.now);
  h.expectNothing();
  assert.equal(h.count("tcp.truncated"), 1);
});

// ----------------------------------------------------------------------------------- CONNECTING

Deno.test("CONNECTING: a SYN starts a host connect and nothing goes to the guest yet", () => {
  const h = new Harness();
  h.send({ flags: SYN, mss: 1460 });
  h.expectNothing();
  const socket = h.sockets.last;
  assert.equal(socket.address, PEER_ADDR);
  assert.equal(socket.port, PEER_PORT);
  assert.ok(socket.watchWrite, "the connect completion is watched");
  assert.equal(state(h), "CONNECTING");
  assert.equal(h.relay.halfOpen, 1);
});

Deno.test("CONNECTING: the gateway is the host's 127.0.0.1, DNS:53 the first nameserver", () => {
  const h = new Harness();
  h.send({ flags: SYN, dst: ADDRESSES.gateway, dstPort: 8080 });
  assert.equal(h.sockets.last.address, 0x7f000001);
  assert.equal(h.sockets.last.port, 8080);
  h.send({ flags: SYN, dst: ADDRESSES.dns, dstPort: 53, srcPort: 40000 });
  assert.equal(h.sockets.last.address, 0x7f000035);
  h.send({ flags: SYN, dst: 0x0a000205, dstPort: 22, srcPort: 40001 });
  assert.equal(h.sockets.last.address, 0x0a000205, "other slirp addresses are themselves");
});

Deno.test("CONNECTING: a retransmitted SYN is ignored while the connect is pending", () => {
  const h = new Harness();
  h.send({ flags: SYN });
  h.send({ flags: SYN });
  h.expectNothing();
  assert.equal(h.sockets.all.length, 1);
  assert.equal(h.count("tcp.syn_duplicate"), 1);
});

Deno.test("CONNECTING: the guest's RST cancels the connect", () => {
  const h = new Harness();
  h.send({ flags: SYN });
  h.send({ flags: RST, seq: GUEST_ISN + 1 });
  assert.equal(h.sockets.last.closed, "reset");
  assert.equal(state(h), "gone");
  assert.equal(h.relay.halfOpen, 0);
});

Deno.test("CONNECTING: a refused connect answers the SYN with RST,ACK", () => {
  const h = new Harness();
  h.send({ flags: SYN });
  h.connectDone(h.sockets.last, Errno.ECONNREFUSED);
  h.expect({ flags: RST | ACK, seq: 0, ack: GUEST_ISN + 1 });
  h.expectNothing();
  assert.equal(h.sockets.last.closed, "close");
  assert.equal(state(h), "gone");
  assert.equal(h.count("tcp.connect_refused"), 1);
});

Deno.test("CONNECTING: EHOSTUNREACH gives ICMP host unreachable quoting the SYN", () => {
  const h = new Harness();
  h.send({ flags: SYN });
  h.connectDone(h.sockets.last, Errno.EHOSTUNREACH);
  const icmp = h.expectIcmp({
    type: IcmpType.DEST_UNREACHABLE,
    code: IcmpUnreachable.HOST,
    src: ADDRESSES.gateway,
    dst: GUEST_ADDR,
  });
  assert.equal(icmp.quote.length, 28, "IP header + 8 bytes");
  assert.equal(icmp.quote[0], 0x45);
  assert.equal((icmp.quote[20] << 8) | icmp.quote[21], GUEST_PORT);
  h.expectNothing();
});

Deno.test("CONNECTING: other errors and an immediate failure give ICMP net unreachable", () => {
  const h = new Harness();
  h.send({ flags: SYN });
  h.connectDone(h.sockets.last, Errno.ENETUNREACH);
  h.expectIcmp({ type: IcmpType.DEST_UNREACHABLE, code: IcmpUnreachable.NET });
  h.sockets.failAtOnce.set(PEER_ADDR, Errno.EACCES);
  h.send({ flags: SYN, srcPort: 40000 });
  h.expectIcmp({ type: IcmpType.DEST_UNREACHABLE, code: IcmpUnreachable.NET });
  assert.equal(h.relay.size, 0);
});

Deno.test("CONNECTING: a route refused (disabled host loopback) gives ICMP net unreachable", () => {
  const h = new Harness();
  h.disableHostLoopback = true;
  h.send({ flags: SYN, dst: ADDRESSES.gateway });
  h.expectIcmp({ type: IcmpType.DEST_UNREACHABLE, code: IcmpUnreachable.NET });
  assert.equal(h.sockets.all.length, 0);
  assert.equal(h.count("tcp.route_unreachable"), 1);
});

Deno.test("CONNECTING: the connect times out into ICMP net unreachable", () => {
  const h = new Harness();
  h.send({ flags: SYN });
  h.advance(TCP_DEFAULTS.connectTimeoutMs - 10);
  h.expectNothing();
  h.advance(20);
  h.expectIcmp({ type: IcmpType.DEST_UNREACHABLE, code: IcmpUnreachable.NET });
  assert.equal(h.sockets.last.closed, "close");
  assert.equal(h.count("tcp.connect_timeout"), 1);
});

Deno.test("CONNECTING: DNS over TCP fails over to the next nameserver", () => {
  const h = new Harness();
  h.nameservers = [0x7f000035, 0x7f000036];
  h.send({ flags: SYN, dst: ADDRESSES.dns, dstPort: 53 });
  const first = h.sockets.last;
  assert.equal(first.address, 0x7f000035);
  h.connectDone(first, Errno.ECONNREFUSED);
  h.expectNothing();
  const second = h.sockets.last;
  assert.equal(second.address, 0x7f000036);
  h.connectDone(second);
  h.expect({ flags: SYN | ACK, src: ADDRESSES.dns, srcPort: 53 });
});

Deno.test("CONNECTING: DNS over TCP to another port of the DNS address is unreachable", () => {
  const h = new Harness();
  h.send({ flags: SYN, dst: ADDRESSES.dns, dstPort: 54 });
  h.expectIcmp({ code: IcmpUnreachable.NET });
});

// ----------------------------------------------------------------------------------- SYN_RECEIVED

Deno.test("SYN_RECEIVED: the SYN-ACK carries our MSS and window scale once connected", () => {
  const h = new Harness();
  h.send({ flags: SYN, mss: 1460, wscale: 7, window: 64240 });
  h.connectDone(h.sockets.last);
  const synAck = h.expect({
    flags: SYN | ACK,
    ack: GUEST_ISN + 1,
    mss: MSS,
    wscale: RCV_SHIFT,
    window: 65535,
  });
  assert.equal(state(h), "SYN_RECEIVED");
  assert.ok(h.sockets.last.watchRead, "host data is read meanwhile");
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(synAck.seq, 1) });
  assert.equal(state(h), "ESTABLISHED");
  assert.equal(h.relay.halfOpen, 0);
});

Deno.test("SYN_RECEIVED: without the guest's window scale option there is none in the SYN-ACK", () => {
  const h = new Harness();
  h.send({ flags: SYN, mss: 1460 });
  h.connectDone(h.sockets.last);
  h.expect({ flags: SYN | ACK, wscale: -1, window: 65535 });
});

Deno.test("SYN_RECEIVED: the guest's MSS caps our segments; no MSS option means 536", () => {
  const h = new Harness();
  const socket = h.establish({ mss: null, wscale: 0 });
  h.hostSends(socket, pattern(1000));
  h.expect({ seq: seqAdd(h.iss, 1), payloadLength: 536 });
  h.expect({ payloadLength: 464, flags: ACK | PSH });
});

Deno.test("SYN_RECEIVED: a retransmitted SYN gets the SYN-ACK again", () => {
  const h = new Harness();
  h.send({ flags: SYN, wscale: 7 });
  h.connectDone(h.sockets.last);
  const first = h.expect({ flags: SYN | ACK });
  h.send({ flags: SYN, wscale: 7 });
  h.expect({ flags: SYN | ACK, seq: first.seq });
});

Deno.test("SYN_RECEIVED: the SYN-ACK is retransmitted with back-off, then the host is reset", () => {
  const h = new Harness();
  h.send({ flags: SYN });
  h.connectDone(h.sockets.last);
  const first = h.expect({ flags: SYN | ACK });
  h.advance(999);
  h.expectNothing();
  h.advance(10);
  h.expect({ flags: SYN | ACK, seq: first.seq });
  h.advance(1990);
  h.expectNothing();
  h.advance(20);
  h.expect({ flags: SYN | ACK, seq: first.seq });
  h.advanceBy(200_000, 1000);
  assert.equal(h.count("tcp.retransmit"), TCP_DEFAULTS.synAckRetries);
  assert.equal(h.sockets.last.closed, "reset");
  assert.equal(state(h), "gone");
});

Deno.test("SYN_RECEIVED: an ACK that does not acknowledge our SYN gets RST <SEQ=SEG.ACK>", () => {
  const h = new Harness();
  h.send({ flags: SYN });
  h.connectDone(h.sockets.last);
  const synAck = h.expect({ flags: SYN | ACK });
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(synAck.seq, 5) });
  h.expect({ flags: RST, seq: seqAdd(synAck.seq, 5) });
  assert.equal(state(h), "SYN_RECEIVED");
});

Deno.test("SYN_RECEIVED: host data read early is sent once established", () => {
  const h = new Harness();
  h.send({ flags: SYN, wscale: 7 });
  const socket = h.sockets.last;
  h.connectDone(socket);
  const synAck = h.expect({ flags: SYN | ACK });
  h.hostSends(socket, "220 banner\r\n");
  h.expectNothing();
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(synAck.seq, 1) });
  h.expect({ seq: seqAdd(synAck.seq, 1), payloadText: "220 banner\r\n", flags: ACK | PSH });
});

// ----------------------------------------------------------------------------------- ESTABLISHED

Deno.test("ESTABLISHED: guest data reaches the host and is acknowledged once per batch", () => {
  const h = new Harness();
  const socket = h.establish();
  const una = seqAdd(h.iss, 1);
  h.sendBatch(
    { seq: GUEST_ISN + 1, ack: una, payload: text("hello ") },
    { seq: GUEST_ISN + 7, ack: una, payload: text("world") },
  );
  h.expect({ flags: ACK, seq: una, ack: GUEST_ISN + 12, window: FULL_WINDOW });
  h.expectNothing();
  assert.equal(socket.receivedText, "hello world");
});

Deno.test("delayed ACKs: a request's ACK rides on the host's answer, one segment to the guest", () => {
  const h = new Harness({}, { delayAcks: true });
  const socket = h.establish();
  const una = seqAdd(h.iss, 1);
  h.send({ seq: GUEST_ISN + 1, ack: una, flags: ACK | PSH, payload: text("ping") });
  assert.equal(new TextDecoder().decode(Uint8Array.from(socket.received)), "ping");
  h.expectNothing();
  assert.ok(h.relay.owesAcks);
  assert.equal(h.relay.delayedSince, h.now);
  h.hostSends(socket, "pong");
  h.expect({ seq: una, ack: GUEST_ISN + 5, payloadText: "pong" });
  // Carried: nothing left to send when the loop goes to sleep.
  assert.equal(h.relay.sendDelayedAcks(), 0);
  assert.ok(!h.relay.owesAcks);
  h.expectNothing();
});

Deno.test("delayed ACKs: without an answer the ACK goes when the loop asks for it", () => {
  const h = new Harness({}, { delayAcks: true });
  h.establish();
  const una = seqAdd(h.iss, 1);
  h.send({ seq: GUEST_ISN + 1, ack: una, payload: pattern(100) });
  h.send({ seq: GUEST_ISN + 101, ack: una, payload: pattern(100) });
  h.expectNothing();
  assert.equal(h.relay.sendDelayedAcks(), 1, "one ACK per connection");
  h.expect({ seq: una, ack: GUEST_ISN + 201 });
  h.expectNothing();
  assert.equal(h.relay.delayedSince, Infinity);
});

Deno.test("delayed ACKs: two full segments, a window the guest waits for, a FIN and disorder are acknowledged at once", () => {
  const h = new Harness({}, { delayAcks: true });
  const socket = h.establish();
  const una = seqAdd(h.iss, 1);
  // RFC 9293 §3.8.6.3: at least every second full-sized segment.
  h.sendBatch(
    { seq: GUEST_ISN + 1, ack: una, payload: pattern(MSS) },
    { seq: GUEST_ISN + 1 + MSS, ack: una, payload: pattern(MSS) },
  );
  h.expect({ ack: GUEST_ISN + 1 + 2 * MSS });
  let seq = GUEST_ISN + 1 + 2 * MSS;
  // Out of order: a duplicate ACK at once (RFC 5681 §4.2).
  h.send({ seq: seq + 10, ack: una, payload: pattern(10) });
  h.expect({ ack: seq });
  h.send({ seq, ack: una, payload: pattern(10) });
  h.expectNothing();
  assert.equal(h.relay.sendDelayedAcks(), 1);
  h.expect({ ack: seq + 20 });
  seq += 20;
  // The guest's FIN.
  h.send({ seq, ack: una, flags: ACK | FIN });
  h.expect({ ack: seq + 1 });
  h.expectNothing();
  assert.equal(socket.received.length, seq - GUEST_ISN - 1);
  // A host that stopped reading, a small window: less than a segment of it left, so the ACK (the
  // window the guest waits for) goes at once.
  const small = new Harness({ recvQueueLimit: 2048, initialQueue: 2048 }, { delayAcks: true });
  const stalled = small.establish();
  stalled.sendRoom = 0;
  small.send({ seq: GUEST_ISN + 1, ack: seqAdd(small.iss, 1), payload: pattern(1600) });
  small.expect({ ack: GUEST_ISN + 1601 });
  assert.ok(!small.relay.owesAcks);
});

Deno.test("ESTABLISHED: host data goes out in MSS segments within the guest's scaled window", () => {
  const h = new Harness();
  // Window 10 << 7 = 1280 bytes: less than one MSS.
  const socket = h.establish({ mss: 1460, wscale: 7 }, { window: 10 });
  h.hostSends(socket, pattern(4000));
  h.expect({ seq: seqAdd(h.iss, 1), payloadLength: 1280, flags: ACK });
  h.expectNothing();
  // The guest acknowledges and opens its window to 8192 bytes.
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1281), window: 64 });
  h.expect({ seq: seqAdd(h.iss, 1281), payloadLength: MSS });
  h.expect({ seq: seqAdd(h.iss, 1281 + MSS), payloadLength: 4000 - 1280 - MSS, flags: ACK | PSH });
  h.expectNothing();
});

Deno.test("ESTABLISHED: large in-order segments go straight to the host socket, in order", () => {
  const h = new Harness({}, { mtu: 65520 });
  const socket = h.establish({ mss: 65480, wscale: 7 });
  const una = seqAdd(h.iss, 1);
  const data = pattern(3 * 60_000, 11);
  // The host takes 100 000 bytes, then nothing: the second segment is split between a direct
  // send and the queue.
  socket.sendRoom = 100_000;
  for (let i = 0; i < 3; i++) {
    h.send({
      seq: GUEST_ISN + 1 + i * 60_000,
      ack: una,
      payload: data.subarray(i * 60_000, (i + 1) * 60_000),
    });
  }
  assert.equal(socket.received.length, 100_000);
  socket.sendRoom = Infinity;
  h.hostEvent(socket, HostEvent.WRITABLE);
  assert.deepEqual(Uint8Array.from(socket.received), data);
});

Deno.test("ESTABLISHED: acknowledged data leaves the send queue", () => {
  const h = new Harness();
  const socket = h.establish();
  h.hostSends(socket, pattern(3000));
  h.takeAll();
  const conn = h.relay.find(GUEST_ADDR, GUEST_PORT, PEER_ADDR, PEER_PORT)!;
  assert.equal(conn.sendQueue.length, 3000);
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1 + MSS) });
  assert.equal(conn.sendQueue.length, 3000 - MSS);
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 3001) });
  assert.equal(conn.sendQueue.length, 0);
  assert.equal(conn.rtxAt, Infinity, "no timer with nothing outstanding");
});

Deno.test("ESTABLISHED: a lost segment is retransmitted on RTO, one segment, backing off", () => {
  const h = new Harness();
  const socket = h.establish();
  h.hostSends(socket, pattern(3 * MSS));
  h.takeAll(); // all three "lost"
  h.advance(990);
  h.expectNothing();
  h.advance(20);
  h.expect({ seq: seqAdd(h.iss, 1), payloadLength: MSS });
  h.expectNothing(); // slow start: one segment
  h.advance(1990);
  h.expectNothing();
  h.advance(20);
  h.expect({ seq: seqAdd(h.iss, 1), payloadLength: MSS });
  // The guest acknowledges it: the rest follows (the window grows per ACK).
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1 + MSS) });
  h.expect({ seq: seqAdd(h.iss, 1 + MSS), payloadLength: MSS });
  h.expect({ seq: seqAdd(h.iss, 1 + 2 * MSS), payloadLength: MSS });
  assert.equal(h.count("tcp.retransmit"), 4);
});

Deno.test("ESTABLISHED: three duplicate ACKs trigger a fast retransmit from SND.UNA", () => {
  const h = new Harness();
  const socket = h.establish();
  h.hostSends(socket, pattern(4 * MSS));
  h.takeAll();
  const una = seqAdd(h.iss, 1 + MSS);
  h.send({ seq: GUEST_ISN + 1, ack: una });
  h.expectNothing();
  h.send({ seq: GUEST_ISN + 1, ack: una });
  h.send({ seq: GUEST_ISN + 1, ack: una });
  h.expectNothing();
  h.send({ seq: GUEST_ISN + 1, ack: una });
  h.expect({ seq: una, payloadLength: MSS });
  h.expect({ seq: seqAdd(una, MSS), payloadLength: MSS });
  h.expect({ seq: seqAdd(una, 2 * MSS), payloadLength: MSS });
  h.expectNothing();
  assert.equal(h.count("tcp.fast_retransmit"), 1);
});

Deno.test("ESTABLISHED: reordered guest data is held, duplicate-ACKed, then delivered in order", () => {
  const h = new Harness();
  const socket = h.establish();
  const una = seqAdd(h.iss, 1);
  const data = pattern(3000);
  h.send({ seq: GUEST_ISN + 1 + 2000, ack: una, payload: data.subarray(2000) });
  h.expect({ ack: GUEST_ISN + 1 });
  h.send({ seq: GUEST_ISN + 1 + 1000, ack: una, payload: data.subarray(1000, 2000) });
  h.expect({ ack: GUEST_ISN + 1 });
  assert.equal(socket.received.length, 0);
  h.send({ seq: GUEST_ISN + 1, ack: una, payload: data.subarray(0, 1000) });
  h.expect({ ack: GUEST_ISN + 3001 });
  assert.deepEqual(Uint8Array.from(socket.received), data);
  assert.equal(h.count("tcp.out_of_order"), 2);
});

Deno.test("ESTABLISHED: a duplicate or overlapping segment delivers each byte once", () => {
  const h = new Harness();
  const socket = h.establish();
  const una = seqAdd(h.iss, 1);
  const data = pattern(300);
  h.send({ seq: GUEST_ISN + 1, ack: una, payload: data.subarray(0, 200) });
  h.send({ seq: GUEST_ISN + 1, ack: una, payload: data.subarray(0, 200) });
  h.send({ seq: GUEST_ISN + 101, ack: una, payload: data.subarray(100, 300) });
  assert.deepEqual(Uint8Array.from(socket.received), data);
  assert.equal(h.count("tcp.out_of_window"), 1, "the exact duplicate is out of the window");
});

Deno.test("ESTABLISHED: more holes than the assembler holds drop the segment", () => {
  const h = new Harness();
  const socket = h.establish();
  const una = seqAdd(h.iss, 1);
  for (let i = 1; i <= MAX_RANGES + 1; i++) {
    h.send({ seq: GUEST_ISN + 1 + i * 100, ack: una, payload: pattern(10) });
    h.expect({ ack: GUEST_ISN + 1 });
  }
  assert.equal(h.count("tcp.out_of_order_dropped"), 1);
  assert.equal(socket.received.length, 0);
});

Deno.test("ESTABLISHED: data outside the window is answered with an ACK and dropped", () => {
  const h = new Harness();
  const socket = h.establish();
  h.send({ seq: GUEST_ISN + 1 + 8 << 20, ack: seqAdd(h.iss, 1), payload: text("far") });
  h.expect({ flags: ACK, ack: GUEST_ISN + 1 });
  h.send({ seq: GUEST_ISN - 100, ack: seqAdd(h.iss, 1), payload: text("old") });
  h.expect({ flags: ACK, ack: GUEST_ISN + 1 });
  assert.equal(socket.received.length, 0);
  assert.equal(h.count("tcp.out_of_window"), 2);
});

Deno.test("ESTABLISHED: a RST at RCV.NXT resets the host socket", () => {
  const h = new Harness();
  const socket = h.establish();
  h.send({ flags: RST, seq: GUEST_ISN + 1 });
  h.expectNothing();
  assert.equal(socket.closed, "reset");
  assert.equal(state(h), "gone");
});

Deno.test("ESTABLISHED: a RST with a wrong sequence number gets a challenge ACK (RFC 5961)", () => {
  const h = new Harness();
  const socket = h.establish();
  h.send({ flags: RST, seq: GUEST_ISN + 500 });
  h.expect({ flags: ACK, seq: seqAdd(h.iss, 1), ack: GUEST_ISN + 1 });
  h.send({ flags: RST, seq: GUEST_ISN - 500 });
  h.expectNothing();
  assert.equal(socket.closed, "no");
  assert.equal(state(h), "ESTABLISHED");
  assert.equal(h.count("tcp.challenge_ack"), 1);
});

Deno.test("ESTABLISHED: a SYN gets a challenge ACK; challenge ACKs are rate-limited", () => {
  const h = new Harness({ challengeAcksPerSecond: 2 });
  h.establish();
  for (let i = 0; i < 5; i++) h.send({ flags: SYN, seq: GUEST_ISN + 10 });
  h.expect({ flags: ACK });
  h.expect({ flags: ACK });
  h.expectNothing();
  assert.equal(h.count("tcp.challenge_ack_limited"), 3);
  h.advance(1000);
  h.send({ flags: SYN, seq: GUEST_ISN + 10 });
  h.expect({ flags: ACK });
  assert.equal(state(h), "ESTABLISHED");
});

Deno.test("ESTABLISHED: an ACK of unsent data is answered with an ACK; its data is dropped", () => {
  const h = new Harness();
  const socket = h.establish();
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1000), payload: text("x") });
  h.expect({ flags: ACK, seq: seqAdd(h.iss, 1), ack: GUEST_ISN + 1 });
  assert.equal(socket.received.length, 0);
  assert.equal(h.count("tcp.ack_unsent"), 1);
});

Deno.test("ESTABLISHED: an ACK older than the largest window gets a challenge ACK", () => {
  const h = new Harness();
  h.establish({ mss: 1460 }, { window: 1000 });
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, -70000) });
  h.expect({ flags: ACK });
  assert.equal(h.count("tcp.ack_too_old"), 1);
});

Deno.test("ESTABLISHED: a huge window (scale 14) is taken; sending stays bounded by the queue", () => {
  const h = new Harness();
  const socket = h.establish({ mss: 1460, wscale: 20 }, { window: 0xffff });
  const conn = h.relay.find(GUEST_ADDR, GUEST_PORT, PEER_ADDR, PEER_PORT)!;
  assert.equal(conn.sndShift, 14, "RFC 7323 §2.3: shifts above 14 count as 14");
  assert.equal(conn.sndWnd, 0xffff * 2 ** 14);
  socket.queue(pattern(10 * MSS));
  h.hostEvent(socket, HostEvent.READABLE);
  assert.equal(h.takeAll().length, 10);
});

Deno.test("ESTABLISHED: a zero window stops data; the persist timer probes with one byte", () => {
  const h = new Harness();
  const socket = h.establish({ mss: 1460, wscale: 7 }, { window: 0 });
  h.hostSends(socket, "abcdef");
  h.expectNothing();
  h.advance(1010);
  h.expect({ seq: seqAdd(h.iss, 1), payloadText: "a" });
  // The guest still has no room.
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), window: 0 });
  h.expectNothing();
  h.advance(2010);
  h.expect({ seq: seqAdd(h.iss, 1), payloadText: "a" });
  assert.equal(h.count("tcp.window_probe"), 2);
  // Room again: everything flows.
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), window: 100 });
  h.expect({ seq: seqAdd(h.iss, 1), payloadText: "abcdef" });
  assert.equal(state(h), "ESTABLISHED");
});

Deno.test("ESTABLISHED: a guest that keeps its window shut but answers probes is kept", () => {
  const h = new Harness();
  const socket = h.establish({ mss: 1460, wscale: 7 }, { window: 0 });
  h.hostSends(socket, "x");
  for (let t = 0; t < 120_000; t += 1000) {
    h.advance(1000);
    if (h.link.frames.length > 0) {
      h.takeAll();
      h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), window: 0 });
    }
  }
  assert.equal(state(h), "ESTABLISHED");
  assert.equal(socket.closed, "no");
});

Deno.test("ESTABLISHED: when the host does not read, the window closes, then reopens", () => {
  const h = new Harness({ recvQueueLimit: 64 << 10, initialQueue: 8 << 10 });
  const socket = h.establish({ mss: 1460, wscale: 0 });
  socket.sendRoom = 0;
  const una = seqAdd(h.iss, 1);
  let seq = GUEST_ISN + 1;
  for (let i = 0; i < 100; i++) {
    h.send({ seq, ack: una, payload: pattern(1000) });
    const ackSeg = h.expect({ flags: ACK });
    seq = ackSeg.ack;
    if (ackSeg.window === 0) break;
  }
  const taken = seq - (GUEST_ISN + 1);
  assert.equal(taken, 64 << 10, "the window closed after exactly the queue limit");
  assert.equal(socket.received.length, 0);
  // A zero-window probe is answered with the closed window.
  h.send({ seq, ack: una, payload: text("p") });
  h.expect({ flags: ACK, ack: seq, window: 0 });
  // The host reads: the guest gets a window update at once.
  socket.sendRoom = Infinity;
  h.hostEvent(socket, HostEvent.WRITABLE);
  const update = h.expect({ flags: ACK, ack: seq });
  assert.ok(update.window >= 32 << 10, `window ${update.window}`);
  assert.equal(socket.received.length, taken);
});

Deno.test("ESTABLISHED: when the guest does not read, the host socket is no longer read", () => {
  const h = new Harness({ sendQueueLimit: 64 << 10, initialQueue: 16 << 10 });
  const socket = h.establish({ mss: 1460, wscale: 0 }, { window: 0 });
  socket.queue(pattern(200_000));
  for (let i = 0; i < 10; i++) h.hostEvent(socket, HostEvent.READABLE);
  const conn = h.relay.find(GUEST_ADDR, GUEST_PORT, PEER_ADDR, PEER_PORT)!;
  assert.ok(conn.sendQueue.length <= 64 << 10);
  assert.equal(socket.watchRead, false, "EPOLLIN off with a full queue");
  assert.equal(socket.pending.length, 200_000 - conn.sendQueue.length);
});

Deno.test("ESTABLISHED: a host error resets the guest", () => {
  const h = new Harness();
  const socket = h.establish();
  socket.error = Errno.ECONNRESET;
  h.hostEvent(socket, HostEvent.READABLE | HostEvent.ERROR | HostEvent.HANGUP);
  h.expect({ flags: RST | ACK, seq: seqAdd(h.iss, 1), ack: GUEST_ISN + 1 });
  assert.equal(state(h), "gone");
  assert.equal(h.count("tcp.host_reset"), 1);
});

Deno.test("ESTABLISHED: a broken pipe while writing guest data resets the guest", () => {
  const h = new Harness();
  const socket = h.establish();
  socket.error = Errno.EPIPE;
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), payload: text("data") });
  h.expect({ flags: RST | ACK });
  assert.equal(state(h), "gone");
});

Deno.test("ESTABLISHED: data unacknowledged for the user timeout aborts both ways", () => {
  const h = new Harness();
  const socket = h.establish();
  h.hostSends(socket, "lost forever");
  h.takeAll();
  h.advanceBy(TCP_DEFAULTS.userTimeoutMs + 61_000, 100);
  const frames = h.takeAll();
  const last = frames.at(-1)!;
  assert.ok("flags" in last && last.flags === (RST | ACK), "RST to the guest at the end");
  assert.equal(socket.closed, "reset");
  assert.equal(state(h), "gone");
  assert.equal(h.count("tcp.timeout"), 1);
});

Deno.test("ESTABLISHED: a guest that stops acknowledging is aborted at the user timeout", () => {
  const h = new Harness();
  const socket = h.establish({ mss: 1460, wscale: 7 }, { window: 500 });
  socket.queue(pattern(3_000_000));
  // The transfer runs for a while: the guest acknowledges everything it gets.
  for (let i = 0; i < 20; i++) {
    h.hostEvent(socket, HostEvent.READABLE);
    let acked = 0;
    for (const f of h.takeAll()) {
      if ("seq" in f) acked = Math.max(acked, (f.seq - h.iss - 1 + f.payload.length) | 0);
    }
    h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1 + acked), window: 500 });
    h.advance(1);
  }
  // Then nothing: the RTO backs off, but the abort comes at the user timeout, not later.
  h.advanceBy(TCP_DEFAULTS.userTimeoutMs - 500, 50);
  assert.equal(state(h), "ESTABLISHED");
  h.advanceBy(1000, 50);
  assert.equal(state(h), "gone");
  assert.equal(socket.closed, "reset");
});

Deno.test("ESTABLISHED: keep-alive probes an idle guest; an answer keeps the connection", () => {
  const h = new Harness();
  h.establish();
  h.advance(TCP_DEFAULTS.keepaliveIdleMs + 10);
  h.expect({ flags: ACK, seq: h.iss }); // SND.NXT − 1
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1) });
  h.advance(TCP_DEFAULTS.keepaliveIntervalMs + 10);
  h.expectNothing();
  assert.equal(state(h), "ESTABLISHED");
});

Deno.test("ESTABLISHED: a guest that never answers keep-alives is aborted", () => {
  const h = new Harness();
  const socket = h.establish();
  h.advance(TCP_DEFAULTS.keepaliveIdleMs + 10);
  for (let i = 1; i < TCP_DEFAULTS.keepaliveProbes; i++) {
    h.expect({ flags: ACK });
    h.advance(TCP_DEFAULTS.keepaliveIntervalMs);
  }
  h.expect({ flags: ACK });
  h.advance(TCP_DEFAULTS.keepaliveIntervalMs);
  h.expect({ flags: RST | ACK });
  assert.equal(socket.closed, "reset");
  assert.equal(state(h), "gone");
});

// ----------------------------------------------------------------------------------- the guest closes

Deno.test("CLOSE_WAIT: the guest's FIN shuts the host's write side after its data", () => {
  const h = new Harness();
  const socket = h.establish();
  socket.sendRoom = 3;
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), payload: text("bye"), flags: ACK | FIN });
  h.expect({ flags: ACK, ack: GUEST_ISN + 5 });
  assert.equal(state(h), "CLOSE_WAIT");
  assert.equal(socket.receivedText, "bye");
  assert.ok(socket.shutWrite);
});

Deno.test("CLOSE_WAIT: the FIN waits for queued data the host has not taken yet", () => {
  const h = new Harness();
  const socket = h.establish();
  socket.sendRoom = 2;
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), payload: text("bye"), flags: ACK | FIN });
  h.takeAll();
  assert.ok(!socket.shutWrite);
  assert.ok(socket.watchWrite);
  socket.sendRoom = 100;
  h.hostEvent(socket, HostEvent.WRITABLE);
  assert.equal(socket.receivedText, "bye");
  assert.ok(socket.shutWrite);
});

Deno.test("CLOSE_WAIT: host data still flows; the host's EOF sends our FIN (LAST_ACK)", () => {
  const h = new Harness();
  const socket = h.establish();
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), flags: ACK | FIN });
  h.expect({ flags: ACK, ack: GUEST_ISN + 2 });
  h.hostSends(socket, "late answer", true);
  h.expect({ seq: seqAdd(h.iss, 1), payloadText: "late answer", flags: ACK | PSH });
  h.expect({ seq: seqAdd(h.iss, 12), flags: ACK | FIN });
  assert.equal(state(h), "LAST_ACK");
  assert.equal(socket.closed, "close", "both directions done: the host socket is closed");
  h.send({ seq: GUEST_ISN + 2, ack: seqAdd(h.iss, 13) });
  assert.equal(state(h), "gone");
});

Deno.test("CLOSE_WAIT: a FIN ahead of missing data is taken once the data arrives", () => {
  const h = new Harness();
  const socket = h.establish();
  const una = seqAdd(h.iss, 1);
  h.send({ seq: GUEST_ISN + 4, ack: una, payload: text("def"), flags: ACK | FIN });
  h.expect({ ack: GUEST_ISN + 1 });
  assert.equal(state(h), "ESTABLISHED");
  h.send({ seq: GUEST_ISN + 1, ack: una, payload: text("abc") });
  h.expect({ ack: GUEST_ISN + 8 });
  assert.equal(state(h), "CLOSE_WAIT");
  assert.equal(socket.receivedText, "abcdef");
  assert.ok(socket.shutWrite);
});

// ----------------------------------------------------------------------------------- the host closes

Deno.test("FIN_WAIT: the host's EOF ends the data with our FIN; the guest may still send", () => {
  const h = new Harness();
  const socket = h.establish();
  h.hostSends(socket, "", true);
  h.expect({ flags: ACK | FIN, seq: seqAdd(h.iss, 1) });
  assert.equal(state(h), "FIN_WAIT_1");
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 2) });
  assert.equal(state(h), "FIN_WAIT_2");
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 2), payload: text("more") });
  h.expect({ ack: GUEST_ISN + 5 });
  assert.equal(socket.receivedText, "more");
  h.send({ seq: GUEST_ISN + 5, ack: seqAdd(h.iss, 2), flags: ACK | FIN });
  h.expect({ flags: ACK, ack: GUEST_ISN + 6 });
  assert.equal(state(h), "TIME_WAIT");
  assert.equal(socket.closed, "close");
});

Deno.test("TIME_WAIT: a retransmitted FIN is acknowledged again; the entry ends after 2 s", () => {
  const h = new Harness();
  const socket = h.establish();
  h.hostSends(socket, "", true);
  h.expect({ flags: ACK | FIN });
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 2), flags: ACK | FIN });
  h.expect({ flags: ACK, ack: GUEST_ISN + 2 });
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 2), flags: ACK | FIN });
  h.expect({ flags: ACK, ack: GUEST_ISN + 2 });
  h.advance(TCP_DEFAULTS.timeWaitMs + 20);
  assert.equal(state(h), "gone");
  assert.equal(h.relay.queueBytes, 0, "all queue memory is back");
});

Deno.test("TIME_WAIT: a new SYN with a higher sequence number opens a new connection", () => {
  const h = new Harness();
  const socket = h.establish();
  h.hostSends(socket, "", true);
  h.expect({ flags: ACK | FIN });
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 2), flags: ACK | FIN });
  h.expect({ flags: ACK });
  h.send({ flags: SYN, seq: GUEST_ISN + 100_000 });
  assert.equal(h.sockets.all.length, 2);
  assert.equal(state(h), "CONNECTING");
});

Deno.test("CLOSING: FINs cross; our FIN acknowledged then leads to TIME_WAIT", () => {
  const h = new Harness();
  const socket = h.establish();
  h.hostSends(socket, "", true);
  h.expect({ flags: ACK | FIN });
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), flags: ACK | FIN });
  h.expect({ flags: ACK, ack: GUEST_ISN + 2 });
  assert.equal(state(h), "CLOSING");
  h.send({ seq: GUEST_ISN + 2, ack: seqAdd(h.iss, 2) });
  assert.equal(state(h), "TIME_WAIT");
});

Deno.test("LAST_ACK: a lost FIN is retransmitted on RTO", () => {
  const h = new Harness();
  const socket = h.establish();
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), flags: ACK | FIN });
  h.takeAll();
  h.hostSends(socket, "", true);
  h.expect({ flags: ACK | FIN, seq: seqAdd(h.iss, 1) });
  h.advance(1010);
  h.expect({ flags: ACK | FIN, seq: seqAdd(h.iss, 1) });
  h.send({ seq: GUEST_ISN + 2, ack: seqAdd(h.iss, 2) });
  assert.equal(state(h), "gone");
});

Deno.test("CLOSED: guest data the host never takes is dropped with a reset after the timeout", () => {
  const h = new Harness();
  const socket = h.establish();
  socket.sendRoom = 0;
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), payload: text("stuck"), flags: ACK | FIN });
  h.takeAll();
  socket.eof = true;
  h.hostEvent(socket, HostEvent.READABLE);
  const fin = h.expect({ flags: ACK | FIN });
  h.send({ seq: GUEST_ISN + 7, ack: seqAdd(fin.seq, 1) });
  assert.equal(state(h), "CLOSED");
  assert.equal(socket.closed, "no");
  h.advanceBy(TCP_DEFAULTS.userTimeoutMs + 100, 1000);
  assert.equal(socket.closed, "reset");
  assert.equal(state(h), "gone");
});

// ----------------------------------------------------------------------------------- limits

Deno.test("limits: a full table drops SYNs with one warning", () => {
  const h = new Harness({ maxConnections: 2 });
  for (let port = 40000; port < 40005; port++) h.send({ flags: SYN, srcPort: port });
  assert.equal(h.relay.size, 2);
  assert.equal(h.count("tcp.table_full"), 3);
  assert.equal(h.warnings.length, 1);
  assert.match(h.warnings[0], /TCP connection table full \(2 connections\)/);
});

Deno.test("limits: half-open connections are bounded (SYN flood)", () => {
  const h = new Harness({ maxHalfOpen: 3 });
  for (let port = 40000; port < 40010; port++) h.send({ flags: SYN, srcPort: port });
  assert.equal(h.relay.halfOpen, 3);
  assert.equal(h.count("tcp.half_open_full"), 7);
  assert.equal(h.warnings.length, 1);
  // A completed handshake frees a place.
  const socket = h.sockets.all[0];
  h.connectDone(socket);
  const synAck = h.expect({ flags: SYN | ACK, dstPort: 40000 });
  h.send({ srcPort: 40000, seq: GUEST_ISN + 1, ack: seqAdd(synAck.seq, 1) });
  assert.equal(h.relay.halfOpen, 2);
  h.send({ flags: SYN, srcPort: 41000 });
  assert.equal(h.relay.halfOpen, 3);
});

Deno.test("limits: a connection's queue memory returns when it closes", () => {
  const h = new Harness();
  const socket = h.establish();
  h.hostSends(socket, pattern(200_000));
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), payload: pattern(50_000) });
  assert.ok(h.relay.queueBytes > 0);
  h.send({ flags: RST, seq: GUEST_ISN + 50_001 });
  assert.equal(h.relay.queueBytes, 0);
  assert.equal(h.relay.size, 0);
});

Deno.test("closeAll() resets every synchronized guest connection and closes host sockets", () => {
  const h = new Harness();
  const socket = h.establish();
  h.send({ flags: SYN, srcPort: 40000 });
  h.relay.closeAll();
  h.expect({ flags: RST | ACK, dstPort: GUEST_PORT });
  h.expectNothing();
  assert.equal(socket.closed, "close");
  assert.equal(h.sockets.open.length, 0);
  assert.equal(h.relay.size, 0);
});

Deno.test("a large transfer both ways arrives intact through a small window and queues", () => {
  const h = new Harness({ sendQueueLimit: 16 << 10, recvQueueLimit: 16 << 10, initialQueue: 4096 });
  const socket = h.establish({ mss: 1000, wscale: 2 }, { window: 2000 });
  const conn = h.relay.find(GUEST_ADDR, GUEST_PORT, PEER_ADDR, PEER_PORT)!;
  const up = pattern(300_000, 7);
  const down = pattern(300_000, 3);
  socket.queue(down);
  socket.sendRoom = 5000;
  let upSent = 0;
  const downReceived: number[] = [];
  const guestReads = () => {
    for (const f of h.takeAll()) {
      if (!("seq" in f) || f.payload.length === 0) continue;
      if (f.seq === seqAdd(h.iss, 1 + downReceived.length)) downReceived.push(...f.payload);
    }
  };
  for (let round = 0; round < 5000; round++) {
    if (downReceived.length === down.length && upSent === up.length) break;
    // Guest → host: what the advertised window allows, then an ACK for what it received.
    const room = Math.min((conn.advRight - conn.rcvNxt) | 0, up.length - upSent, 1000);
    if (room > 0) {
      h.send({
        seq: GUEST_ISN + 1 + upSent,
        ack: seqAdd(h.iss, 1 + downReceived.length),
        window: 2000,
        payload: up.subarray(upSent, upSent + room),
      });
      upSent += room;
    }
    guestReads();
    // The host takes a little and has more to say.
    socket.sendRoom += 3000;
    h.hostEvent(socket, HostEvent.READABLE | HostEvent.WRITABLE);
    guestReads();
    h.send({
      seq: GUEST_ISN + 1 + upSent,
      ack: seqAdd(h.iss, 1 + downReceived.length),
      window: 2000,
    });
    guestReads();
  }
  assert.equal(downReceived.length, down.length);
  assert.deepEqual(Uint8Array.from(downReceived), down);
  assert.deepEqual(Uint8Array.from(socket.received), up);
  assert.equal(conn.state, TcpState.ESTABLISHED);
  assert.equal(h.count("tcp.retransmit"), 0);
});
