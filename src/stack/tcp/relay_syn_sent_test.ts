/**
 * Port forwards' connections into the guest (`TcpRelay.openToGuest`, the relay being the active
 * side): SYN_SENT (RFC 9293 §3.10.7.3, RFC 6298 §5.5 back-off), the handshake into ESTABLISHED,
 * the 4-tuple clash of look-alike clients, and the graceful end on a late RST. Sequence numbers:
 * our ISS is read from the SYN (`h.iss`), the guest answers from GUEST_ISN.
 */
import assert from "node:assert/strict";
import {
  ACK,
  ADDRESSES,
  FakeSocket,
  FIN,
  GUEST_ADDR,
  GUEST_ISN,
  Harness,
  MSS,
  PEER_ADDR,
  PSH,
  RST,
  SYN,
} from "./_test_link.ts";
import { HostEvent } from "./host_sockets.ts";
import { TCP_DEFAULTS } from "./relay.ts";
import { seqAdd } from "./seq.ts";

/** A loopback client as the guest sees it: the gateway, with the client's port. */
const CLIENT_ADDR = ADDRESSES.gateway;
const CLIENT_PORT = 40000;
/** The forward's guest port. */
const FORWARD_PORT = 8080;
const RCV_SHIFT = 6; // 2 MiB receive queue in 16 bits
const text = (s: string) => new TextEncoder().encode(s);

function state(h: Harness, peerAddr = CLIENT_ADDR): string {
  const conn = h.relay.find(GUEST_ADDR, FORWARD_PORT, peerAddr, CLIENT_PORT);
  return conn === null ? "gone" : conn.stateName;
}

/** A forward's client is accepted; its SYN is checked and `h.iss` set; the guest sends from it. */
function open(h: Harness, peerAddr = CLIENT_ADDR): FakeSocket {
  const socket = h.openToGuest(peerAddr, CLIENT_PORT, FORWARD_PORT);
  assert.ok(socket, "the relay refused the client");
  const syn = h.expect({ flags: SYN, src: peerAddr, srcPort: CLIENT_PORT });
  h.iss = syn.seq;
  h.template = {
    ...h.template,
    dst: peerAddr,
    srcPort: FORWARD_PORT,
    dstPort: CLIENT_PORT,
    seq: seqAdd(GUEST_ISN, 1),
    ack: seqAdd(h.iss, 1),
  };
  return socket;
}

/** The guest's SYN-ACK (MSS, window scale 7), acknowledged by the relay. */
function establish(h: Harness, peerAddr = CLIENT_ADDR): FakeSocket {
  const socket = open(h, peerAddr);
  h.send({ flags: SYN | ACK, seq: GUEST_ISN, mss: MSS, wscale: 7 });
  h.expect({ flags: ACK, seq: seqAdd(h.iss, 1), ack: seqAdd(GUEST_ISN, 1) });
  h.expectNothing();
  return socket;
}

// ---------------------------------------------------------------------------------------- SYN_SENT

Deno.test("SYN_SENT: openToGuest sends a SYN from the client's guest-visible address", () => {
  const h = new Harness();
  const socket = h.openToGuest(CLIENT_ADDR, CLIENT_PORT, FORWARD_PORT);
  assert.ok(socket);
  h.expect({
    src: CLIENT_ADDR,
    dst: GUEST_ADDR,
    srcPort: CLIENT_PORT,
    dstPort: FORWARD_PORT,
    flags: SYN,
    ack: 0,
    mss: MSS,
    wscale: RCV_SHIFT,
    window: 0xffff,
    payloadLength: 0,
  });
  h.expectNothing();
  assert.equal(state(h), "SYN_SENT");
  assert.deepEqual(h.sockets.adopted, [socket.handle]);
  assert.equal(h.count("tcp.forward_open"), 1);
  assert.equal(h.relay.halfOpen, 0, "SYN_SENT does not count against the SYN-flood limit");
});

Deno.test("SYN_SENT: a non-loopback client keeps its own address", () => {
  const h = new Harness();
  open(h, PEER_ADDR);
  assert.equal(state(h, PEER_ADDR), "SYN_SENT");
});

Deno.test("SYN_SENT: the client's data waits until the guest answered", () => {
  const h = new Harness();
  const socket = open(h);
  assert.equal(socket.watchRead, false);
  h.hostSends(socket, "early");
  h.expectNothing();
  assert.equal(socket.pending.length, 5, "read before the connection was established");
  h.send({ flags: SYN | ACK, seq: GUEST_ISN, mss: MSS, wscale: 7 });
  h.expect({ flags: ACK, ack: seqAdd(GUEST_ISN, 1) });
  h.expectNothing();
  assert.equal(socket.watchRead, true);
  h.hostEvent(socket, HostEvent.READABLE);
  h.expect({ flags: ACK | PSH, seq: seqAdd(h.iss, 1), payloadText: "early" });
});

Deno.test("SYN_SENT: the SYN is retransmitted after 1, 2, 4, 8, 16 s (RFC 6298 §5.5)", () => {
  const h = new Harness();
  const socket = open(h);
  let rto = TCP_DEFAULTS.rtoInitialMs;
  for (let retry = 1; retry <= TCP_DEFAULTS.synAckRetries; retry++) {
    h.advance(rto - 10);
    h.expectNothing();
    h.advance(10);
    h.expect({ flags: SYN, seq: h.iss, ack: 0, mss: MSS, wscale: RCV_SHIFT });
    h.expectNothing();
    assert.equal(h.count("tcp.retransmit"), retry);
    rto *= 2;
  }
  assert.equal(socket.closed, "no");
  // No answer to the last one within its 32 s either: the client is reset, the guest told nothing.
  h.advance(rto - 10);
  h.expectNothing();
  assert.equal(socket.closed, "no");
  h.advance(10);
  h.expectNothing();
  assert.equal(socket.closed, "reset");
  assert.equal(state(h), "gone");
  assert.equal(h.count("tcp.forward_timeout"), 1);
  assert.equal(h.relay.size, 0);
});

Deno.test("SYN_SENT: a SYN-ACK acknowledging something else gets RST <SEQ=SEG.ACK>", () => {
  const h = new Harness();
  const socket = open(h);
  // RFC 9293 §3.10.7.3: "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset".
  for (const ack of [h.iss, seqAdd(h.iss, 2), seqAdd(h.iss, -1000)]) {
    h.send({ flags: SYN | ACK, seq: GUEST_ISN, ack, mss: MSS });
    h.expect({ flags: RST, seq: ack, ack: 0, src: CLIENT_ADDR, srcPort: CLIENT_PORT });
    h.expectNothing();
    assert.equal(state(h), "SYN_SENT");
  }
  assert.equal(h.count("tcp.forward_bad_ack"), 3);
  assert.equal(socket.closed, "no");
  // The SYN stays outstanding: it is retransmitted on time, and a right answer still establishes.
  h.advance(TCP_DEFAULTS.rtoInitialMs);
  h.expect({ flags: SYN, seq: h.iss });
  h.send({ flags: SYN | ACK, seq: GUEST_ISN, mss: MSS });
  h.expect({ flags: ACK, seq: seqAdd(h.iss, 1), ack: seqAdd(GUEST_ISN, 1) });
  assert.equal(state(h), "ESTABLISHED");
});

Deno.test("SYN_SENT: a bare ACK with a wrong ack number also gets RST", () => {
  const h = new Harness();
  open(h);
  h.send({ flags: ACK, seq: GUEST_ISN, ack: seqAdd(h.iss, 7) });
  h.expect({ flags: RST, seq: seqAdd(h.iss, 7) });
  h.expectNothing();
  assert.equal(state(h), "SYN_SENT");
});

Deno.test("SYN_SENT: the guest's RST,ACK of our SYN resets the client", () => {
  const h = new Harness();
  const socket = open(h);
  h.send({ flags: RST | ACK, seq: 0, ack: seqAdd(h.iss, 1) });
  h.expectNothing();
  assert.equal(socket.closed, "reset");
  assert.equal(state(h), "gone");
  assert.equal(h.count("tcp.forward_refused"), 1);
  // Nothing is left to retransmit.
  h.advance(TCP_DEFAULTS.rtoInitialMs * 2);
  h.expectNothing();
});

Deno.test("SYN_SENT: a RST without ACK, or acknowledging something else, is dropped", () => {
  const h = new Harness();
  const socket = open(h);
  h.send({ flags: RST, seq: GUEST_ISN });
  h.send({ flags: RST | ACK, seq: 0, ack: h.iss });
  h.send({ flags: RST | ACK, seq: 0, ack: seqAdd(h.iss, 2) });
  h.expectNothing();
  assert.equal(state(h), "SYN_SENT");
  assert.equal(socket.closed, "no");
  assert.equal(h.count("tcp.forward_refused"), 0);
  h.advance(TCP_DEFAULTS.rtoInitialMs);
  h.expect({ flags: SYN, seq: h.iss });
});

Deno.test("SYN_SENT: a bare SYN or a segment without SYN waits for the retransmission", () => {
  const h = new Harness();
  open(h);
  h.send({ flags: SYN, seq: GUEST_ISN, ack: 0, mss: MSS });
  h.send({ flags: ACK, seq: GUEST_ISN, ack: seqAdd(h.iss, 1) });
  h.expectNothing();
  assert.equal(state(h), "SYN_SENT");
  assert.equal(h.count("tcp.out_of_window"), 2);
});

// ----------------------------------------------------------------------------------- ESTABLISHED

Deno.test("ESTABLISHED (forward): the SYN-ACK sets MSS and window scale, and is acknowledged", () => {
  const h = new Harness();
  open(h);
  h.send({ flags: SYN | ACK, seq: GUEST_ISN, mss: 1000, wscale: 3, window: 1000 });
  // Our ACK's window is scaled now that both SYNs carried the option (RFC 7323 §2.2).
  const ack = h.expect({ flags: ACK, seq: seqAdd(h.iss, 1), ack: seqAdd(GUEST_ISN, 1) });
  assert.ok(ack.window > 0 && ack.window <= (2 << 20) >>> RCV_SHIFT);
  h.expectNothing();
  const conn = h.relay.find(GUEST_ADDR, FORWARD_PORT, CLIENT_ADDR, CLIENT_PORT)!;
  assert.equal(conn.stateName, "ESTABLISHED");
  assert.equal(conn.sendMss, 1000);
  assert.equal(conn.sndShift, 3);
  assert.equal(conn.rcvShift, RCV_SHIFT);
  assert.equal(conn.sndWnd, 1000, "the window of a SYN is never scaled");
  assert.equal(h.count("tcp.established"), 1);
  // No retransmission is pending any more.
  h.advance(TCP_DEFAULTS.rtoInitialMs * 4);
  h.expectNothing();
});

Deno.test("ESTABLISHED (forward): without the guest's window scale, neither side scales", () => {
  const h = new Harness();
  open(h);
  h.send({ flags: SYN | ACK, seq: GUEST_ISN, mss: MSS });
  const ack = h.expect({ flags: ACK });
  assert.equal(ack.window, 0xffff);
  const conn = h.relay.find(GUEST_ADDR, FORWARD_PORT, CLIENT_ADDR, CLIENT_PORT)!;
  assert.equal(conn.rcvShift, 0);
  assert.equal(conn.sndShift, 0);
});

Deno.test("ESTABLISHED (forward): data is relayed both ways", () => {
  const h = new Harness();
  const socket = establish(h);
  h.send({ flags: ACK | PSH, payload: text("hello host") });
  h.expect({ flags: ACK, ack: seqAdd(GUEST_ISN, 11) });
  assert.equal(socket.receivedText, "hello host");
  h.hostSends(socket, "hello guest");
  h.expect({
    flags: ACK | PSH,
    src: CLIENT_ADDR,
    srcPort: CLIENT_PORT,
    dstPort: FORWARD_PORT,
    seq: seqAdd(h.iss, 1),
    ack: seqAdd(GUEST_ISN, 11),
    payloadText: "hello guest",
  });
  h.expectNothing();
  h.send({ seq: seqAdd(GUEST_ISN, 11), ack: seqAdd(h.iss, 12) });
  h.expectNothing();
  assert.equal(
    h.relay.find(GUEST_ADDR, FORWARD_PORT, CLIENT_ADDR, CLIENT_PORT)!.sendQueue.length,
    0,
  );
});

Deno.test("ESTABLISHED (forward): the guest's answers are found with host loopback disabled", () => {
  const h = new Harness();
  h.disableHostLoopback = true;
  const socket = establish(h);
  h.send({ flags: ACK | PSH, payload: text("x") });
  h.expect({ flags: ACK, ack: seqAdd(GUEST_ISN, 2) });
  assert.equal(socket.receivedText, "x");
  assert.equal(h.count("tcp.route_unreachable"), 0);
});

// ------------------------------------------------------------------------------ look-alike clients

Deno.test("openToGuest: a second client that looks the same to the guest is refused", () => {
  const h = new Harness();
  const first = open(h);
  // Two loopback clients with the same port both appear as the gateway with that port.
  assert.equal(h.openToGuest(CLIENT_ADDR, CLIENT_PORT, FORWARD_PORT), null);
  h.expectNothing();
  assert.equal(h.count("tcp.forward_clash"), 1);
  assert.deepEqual(h.sockets.adopted, [first.handle], "the caller still owns the second client");
  assert.equal(h.sockets.last.closed, "no");
  assert.equal(h.relay.size, 1);
  // The first is unharmed: its SYN-ACK establishes it.
  h.send({ flags: SYN | ACK, seq: GUEST_ISN, mss: MSS });
  h.expect({ flags: ACK, ack: seqAdd(GUEST_ISN, 1) });
  assert.equal(state(h), "ESTABLISHED");
  assert.equal(first.closed, "no");
  // Established, it still holds the 4-tuple.
  assert.equal(h.openToGuest(CLIENT_ADDR, CLIENT_PORT, FORWARD_PORT), null);
  assert.equal(h.count("tcp.forward_clash"), 2);
  // Another port, or another guest port, is another 4-tuple.
  assert.ok(h.openToGuest(CLIENT_ADDR, CLIENT_PORT + 1, FORWARD_PORT));
  assert.ok(h.openToGuest(CLIENT_ADDR, CLIENT_PORT, FORWARD_PORT + 1));
  assert.equal(h.relay.size, 3);
});

Deno.test("openToGuest: a 4-tuple in TIME_WAIT is taken over by a new client", () => {
  const h = new Harness();
  const first = establish(h);
  // The client closes first; the guest acknowledges our FIN and sends its own: TIME_WAIT.
  h.hostSends(first, "", true);
  h.expect({ flags: ACK | FIN, seq: seqAdd(h.iss, 1) });
  h.send({ flags: ACK | FIN, ack: seqAdd(h.iss, 2) });
  h.expect({ flags: ACK, ack: seqAdd(GUEST_ISN, 2) });
  assert.equal(state(h), "TIME_WAIT");
  assert.equal(first.closed, "close");
  const second = h.openToGuest(CLIENT_ADDR, CLIENT_PORT, FORWARD_PORT);
  assert.ok(second);
  h.expect({ flags: SYN, srcPort: CLIENT_PORT, dstPort: FORWARD_PORT });
  assert.equal(state(h), "SYN_SENT");
  assert.equal(h.count("tcp.forward_clash"), 0);
});

Deno.test("openToGuest: a 4-tuple whose client still drains the guest's bytes is refused", () => {
  const h = new Harness();
  const first = establish(h);
  first.sendRoom = 0; // the first client does not read for now
  h.send({ flags: ACK | PSH | FIN, payload: text("last words") });
  h.expect({ flags: ACK, ack: seqAdd(GUEST_ISN, 12) });
  h.hostSends(first, "", true);
  h.expect({ flags: ACK | FIN, seq: seqAdd(h.iss, 1) });
  h.send({ seq: seqAdd(GUEST_ISN, 12), ack: seqAdd(h.iss, 2) });
  h.expectNothing();
  assert.equal(state(h), "CLOSED", "the guest side is done, the first client still drains");
  // Another loopback client (127.0.0.2) with the same port looks the same to the guest.
  assert.equal(h.openToGuest(CLIENT_ADDR, CLIENT_PORT, FORWARD_PORT), null);
  h.expectNothing();
  assert.equal(h.count("tcp.forward_clash"), 1);
  assert.equal(first.closed, "no", "bytes acknowledged to the guest were dropped");
  first.sendRoom = Infinity;
  h.hostEvent(first, HostEvent.WRITABLE);
  assert.equal(first.receivedText, "last words");
  assert.equal(first.closed, "close");
  // Drained, the 4-tuple is free.
  assert.ok(h.openToGuest(CLIENT_ADDR, CLIENT_PORT, FORWARD_PORT));
  h.expect({ flags: SYN });
});

// ---------------------------------------------------------------------------------------- closing

Deno.test("closing (forward): a RST after both FINs lets the client read every byte", () => {
  const h = new Harness();
  const socket = establish(h);
  socket.sendRoom = 0; // the client does not read for now
  h.send({ flags: ACK | PSH | FIN, payload: text("last words") });
  h.expect({ flags: ACK, ack: seqAdd(GUEST_ISN, 12) });
  assert.equal(state(h), "CLOSE_WAIT");
  h.hostSends(socket, "", true);
  h.expect({ flags: ACK | FIN, seq: seqAdd(h.iss, 1), ack: seqAdd(GUEST_ISN, 12) });
  assert.equal(state(h), "LAST_ACK");
  // The guest's socket is gone already: it answers with RST at RCV.NXT.
  h.send({ flags: RST, seq: seqAdd(GUEST_ISN, 12), ack: 0 });
  h.expectNothing();
  assert.equal(h.count("tcp.rst_from_guest"), 1);
  assert.equal(socket.closed, "no", "the client's bytes were discarded");
  assert.equal(socket.watchWrite, true);
  socket.sendRoom = Infinity;
  h.hostEvent(socket, HostEvent.WRITABLE);
  h.expectNothing();
  assert.equal(socket.receivedText, "last words");
  assert.equal(socket.shutWrite, true);
  assert.equal(socket.closed, "close");
  assert.equal(h.relay.size, 0);
});

Deno.test("closing (forward): a RST before the guest's FIN still resets the client", () => {
  const h = new Harness();
  const socket = establish(h);
  h.hostSends(socket, "", true);
  h.expect({ flags: ACK | FIN });
  h.send({ flags: RST, ack: 0 });
  h.expectNothing();
  assert.equal(socket.closed, "reset");
  assert.equal(state(h), "gone");
});
