/**
 * The TCP relay on a link with the tap's offload (virtio-net checksum and TSO): host data goes to
 * the guest in frames of up to 64 KiB, whole MSS each but the last, with the TCP checksum field
 * holding only the pseudo-header sum; guest segments whose checksum the tap calls partial are not
 * verified; guest super-segments above the MTU are taken whole.
 */
import assert from "node:assert/strict";
import {
  ACK,
  GUEST_ADDR,
  GUEST_ISN,
  Harness,
  MSS,
  type OffloadedFrame,
  OffloadMemoryLink,
  pattern,
  PEER_ADDR,
  PSH,
  SYN,
} from "./_test_link.ts";
import type { TcpTunables } from "./relay.ts";
import { seqAdd } from "./seq.ts";

/** Most data bytes in one IPv4 datagram with 20-byte IP and TCP headers: 65535 − 40. */
const MAX_SUPER_DATA = 65495;
const ETH = 14;
const IP = 20;
const TCP_CHECKSUM = 16;

/** RFC 1071 §4.1: the one's complement sum of the 16-bit words at bytes[offset, offset+length). */
function onesComplementSum(bytes: Uint8Array, offset: number, length: number): number {
  let sum = 0;
  for (let i = 0; i + 1 < length; i += 2) sum += (bytes[offset + i] << 8) | bytes[offset + i + 1];
  if (length & 1) sum += bytes[offset + length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** RFC 9293 §3.1: the pseudo-header sum (source, destination, zero, protocol 6, TCP length). */
function tcpPseudoHeaderSum(src: number, dst: number, tcpLength: number): number {
  const words = [src >>> 16, src & 0xffff, dst >>> 16, dst & 0xffff, 6, tcpLength];
  let sum = words.reduce((a, b) => a + b, 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

const u16 = (bytes: Uint8Array, at: number) => (bytes[at] << 8) | bytes[at + 1];
const u32 = (bytes: Uint8Array, at: number) => ((u16(bytes, at) << 16) | u16(bytes, at + 2)) >>> 0;

/** What one offloaded frame says, after checking its IPv4 header and its partial checksum. */
function checkOffloaded({ frame, tcpOffset }: OffloadedFrame) {
  assert.equal(tcpOffset, ETH + IP, "the TCP header follows a 20-byte IPv4 header");
  assert.equal(frame[ETH], 0x45);
  assert.equal(u16(frame, ETH + 2), frame.length - ETH, "IPv4 total length");
  assert.equal(onesComplementSum(frame, ETH, IP), 0xffff, "IPv4 header checksum");
  assert.equal(u32(frame, ETH + 12), PEER_ADDR);
  assert.equal(u32(frame, ETH + 16), GUEST_ADDR);
  const tcpLength = frame.length - tcpOffset;
  assert.equal(
    u16(frame, tcpOffset + TCP_CHECKSUM),
    tcpPseudoHeaderSum(PEER_ADDR, GUEST_ADDR, tcpLength),
    "the TCP checksum field holds the folded pseudo-header sum",
  );
  const headerLength = (frame[tcpOffset + 12] >>> 4) * 4;
  return { seq: u32(frame, tcpOffset + 4), dataLength: tcpLength - headerLength };
}

/** A harness on an offload link, connected (SYN with `mss`, window scale 7). */
function offloadHarness(mss = MSS, tunables: Partial<TcpTunables> = {}) {
  const link = new OffloadMemoryLink();
  const h = new Harness(tunables, { link });
  const socket = h.establish({ mss, wscale: 7 });
  return { h, link, socket };
}

Deno.test("offload: the SYN-ACK and pure ACKs go out with a partial checksum and no segment size", () => {
  const { h, link, socket } = offloadHarness();
  const [synAck] = link.offloaded.splice(0);
  assert.equal(synAck.segmentSize, 0);
  assert.deepEqual(checkOffloaded(synAck), { seq: h.iss, dataLength: 0 });
  h.send({ seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), payload: pattern(10) });
  h.expect({ flags: ACK, ack: GUEST_ISN + 11 });
  const [ack] = link.offloaded.splice(0);
  assert.equal(ack.segmentSize, 0);
  assert.equal(checkOffloaded(ack).dataLength, 0);
  assert.equal(socket.received.length, 10);
  assert.equal(link.frames.length, 0, "nothing went out as a plain frame");
});

for (const mss of [MSS, 1000, 536]) {
  Deno.test(`offload: 100 KiB from the host go out in super-frames of whole MSS (MSS ${mss})`, () => {
    // A queue that takes the 100 KiB in one read, so that one batch sends them all.
    const { h, link, socket } = offloadHarness(mss, { initialQueue: 128 << 10 });
    link.offloaded.length = 0;
    const data = pattern(100 << 10);
    h.hostSends(socket, data);
    const sent = link.offloaded.splice(0);
    const burst = Math.floor(MAX_SUPER_DATA / mss) * mss;
    assert.deepEqual(
      sent.map((s) => checkOffloaded(s).dataLength),
      [burst, data.length - burst],
    );
    let offset = 0;
    sent.forEach((s, i) => {
      const { seq, dataLength } = checkOffloaded(s);
      assert.ok(dataLength <= MAX_SUPER_DATA);
      if (i < sent.length - 1) assert.equal(dataLength % mss, 0, "whole MSS but the last");
      assert.equal(s.segmentSize, dataLength > mss ? mss : 0, `segment size of frame ${i}`);
      assert.equal(seq, seqAdd(h.iss, 1 + offset));
      // The frame the guest sees, checksum finished by the link: same data, valid checksum.
      h.expect({
        seq: seqAdd(h.iss, 1 + offset),
        flags: i === sent.length - 1 ? ACK | PSH : ACK,
        payload: data.subarray(offset, offset + dataLength),
      });
      offset += dataLength;
    });
    h.expectNothing();
  });
}

Deno.test("offload: a frame of at most one MSS has segment size 0, one byte more has the MSS", () => {
  for (const [length, segmentSize] of [[1, 0], [100, 0], [MSS, 0], [MSS + 1, MSS]]) {
    const { h, link, socket } = offloadHarness();
    link.offloaded.length = 0;
    h.hostSends(socket, pattern(length));
    const sent = link.offloaded.splice(0);
    assert.equal(sent.length, 1, `${length} bytes in one frame`);
    assert.equal(checkOffloaded(sent[0]).dataLength, length);
    assert.equal(sent[0].segmentSize, segmentSize, `${length} bytes`);
    h.expect({ seq: seqAdd(h.iss, 1), payloadLength: length });
  }
});

Deno.test("offload: super-frames stay within the guest's window", () => {
  const link = new OffloadMemoryLink();
  const h = new Harness({}, { link });
  // No window scale: 20 000 bytes of window.
  const socket = h.establish({ mss: MSS, wscale: null }, { window: 20_000 });
  link.offloaded.length = 0;
  h.hostSends(socket, pattern(50_000));
  const sent = link.offloaded.splice(0);
  assert.deepEqual(sent.map((s) => [checkOffloaded(s).dataLength, s.segmentSize]), [[20_000, MSS]]);
});

Deno.test("without offload, the same 100 KiB go out in MSS segments with full checksums", () => {
  const h = new Harness({ initialQueue: 128 << 10 });
  const socket = h.establish();
  const data = pattern(100 << 10);
  h.hostSends(socket, data);
  for (let offset = 0; offset < data.length; offset += MSS) {
    // `expect` verifies the TCP checksum of each segment.
    h.expect({
      seq: seqAdd(h.iss, 1 + offset),
      payload: data.subarray(offset, offset + MSS),
    });
  }
  h.expectNothing();
});

Deno.test("offload: a guest segment with a garbage checksum is taken when the tap says partial", () => {
  const garbage = (frame: Uint8Array, tcpOffset: number) => {
    frame[tcpOffset + TCP_CHECKSUM] ^= 0x5a;
    frame[tcpOffset + TCP_CHECKSUM + 1] ^= 0xa5;
  };
  for (const checksumPartial of [true, false]) {
    const h = new Harness();
    const socket = h.establish();
    h.send(
      { seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), payload: pattern(100), corrupt: garbage },
      checksumPartial,
    );
    if (checksumPartial) {
      assert.deepEqual(Uint8Array.from(socket.received), pattern(100));
      h.expect({ flags: ACK, ack: GUEST_ISN + 101 });
      assert.equal(h.count("tcp.bad_checksum"), 0);
    } else {
      assert.equal(socket.received.length, 0);
      h.expectNothing();
      assert.equal(h.count("tcp.bad_checksum"), 1);
    }
  }
});

Deno.test("offload: a SYN with a partial checksum opens a connection", () => {
  const h = new Harness();
  h.send(
    { flags: SYN, mss: MSS, corrupt: (frame, at) => (frame[at + TCP_CHECKSUM] ^= 0xff) },
    true,
  );
  assert.equal(h.count("tcp.bad_checksum"), 0);
  assert.equal(h.count("tcp.syn"), 1);
  assert.equal(h.sockets.all.length, 1);
});

Deno.test("offload: a 60 000-byte super-segment from the guest reaches the host whole", () => {
  for (const checksumPartial of [true, false]) {
    const { h, socket } = offloadHarness();
    const data = pattern(60_000, 7);
    h.send(
      { seq: GUEST_ISN + 1, ack: seqAdd(h.iss, 1), flags: ACK | PSH, payload: data },
      checksumPartial,
    );
    assert.deepEqual(Uint8Array.from(socket.received), data);
    h.expect({ flags: ACK, ack: GUEST_ISN + 1 + 60_000 });
    h.expectNothing();
  }
});

Deno.test("offload: once the guest sends a super-frame, its window may grow past maxWindowSegments", () => {
  const { h } = offloadHarness(MSS, { maxWindowSegments: 4 });
  const advertised = (ack: { window: number }) => ack.window << h.ourWscale;
  let seq = GUEST_ISN + 1;
  // Full-sized segments only: at most 4 of them in flight (they could be 4 packets in the tap).
  for (let i = 0; i < 3; i++) {
    h.send({ seq, ack: seqAdd(h.iss, 1), flags: ACK | PSH, payload: pattern(MSS, i) });
    seq += MSS;
    const ack = h.expect({ flags: ACK, ack: seq });
    assert.ok(advertised(ack) <= 4 * MSS, `window ${advertised(ack)} after an MSS`);
  }
  // One frame of several MSS: the guest segments with offload, a window is a few such frames.
  h.send({ seq, ack: seqAdd(h.iss, 1), flags: ACK | PSH, payload: pattern(3 * MSS) });
  seq += 3 * MSS;
  const ack = h.expect({ flags: ACK, ack: seq });
  assert.ok(advertised(ack) > 64 * MSS, `window ${advertised(ack)} after a super-frame`);
});
