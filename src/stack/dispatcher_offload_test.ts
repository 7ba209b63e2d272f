/**
 * The dispatcher with the tap's virtio-net offload bits (src/wire/virtio_net.ts): TCP super-frames
 * above the MTU pass only when flagged TCP_SEGMENTED, nothing but TCP may carry that flag, and a
 * CHECKSUM_PARTIAL frame's TCP/UDP checksum is not verified (TCP learns it through the forwarder).
 */

import assert from "node:assert/strict";
import { ArpOp } from "../wire/arp.ts";
import { IpProtocol } from "../wire/ipv4.ts";
import { emitTcpHeader, TCP_HEADER_LEN, TcpFlag } from "../wire/tcp.ts";
import { RxOffload } from "../wire/virtio_net.ts";
import { type CounterName, Counters } from "./counters.ts";
import { Dispatcher } from "./dispatcher.ts";
import { MemoryLink } from "./memory_link.ts";
import { fragmentOf } from "./testdata/fragments.ts";
import {
  ADDRESSES,
  arpFrame,
  echoRequestFrame,
  GUEST_IP,
  GUEST_MAC,
  ipv4Frame,
  udpFrame,
} from "./testdata/guest_frames.ts";

const MTU = 1500;
/** A host beyond the gateway (RFC 5737 TEST-NET-2). */
const PEER = 0xc6336402;
const { CHECKSUM_PARTIAL, TCP_SEGMENTED } = RxOffload;

/** A TCP segment from the guest with `dataLength` patterned data bytes; checksum left 0. */
function tcpFrame(dataLength: number): Uint8Array {
  const tcp = new Uint8Array(TCP_HEADER_LEN + dataLength);
  emitTcpHeader(tcp, 0, 49152, 80, 1000, 2000, TcpFlag.ACK | TcpFlag.PSH, 65535, 0);
  for (let i = 0; i < dataLength; i++) tcp[TCP_HEADER_LEN + i] = i % 251;
  return ipv4Frame(tcp, IpProtocol.TCP, GUEST_IP, PEER);
}

/** A UDP datagram to the peer whose checksum is wrong by one bit. */
function badChecksumUdpFrame(dataLength = 32): Uint8Array {
  const frame = udpFrame(GUEST_IP, 40000, PEER, 7, new Uint8Array(dataLength).fill(0x5a));
  frame[40] ^= 0x01; // UDP checksum, low byte
  return frame;
}

/** A dispatcher whose forwarders record what reaches them. */
function setup() {
  const link = new MemoryLink();
  const counters = new Counters();
  const tcp: { frame: Uint8Array; checksumPartial: boolean }[] = [];
  const udp: Uint8Array[] = [];
  const icmp: Uint8Array[] = [];
  const dispatcher = new Dispatcher(ADDRESSES, MTU, link, counters, {
    tcp: (frame, _now, checksumPartial) => tcp.push({ frame: frame.slice(), checksumPartial }),
    udp: (frame) => udp.push(frame.slice()),
    icmp: (frame) => icmp.push(frame.slice()),
  });
  /** Handles one frame; the counters it bumped besides frame.received. */
  const handle = (frame: Uint8Array, offload: number) => {
    const before = counters.nonZero();
    dispatcher.handleFrame(frame, 0, offload);
    const bumped: Partial<Record<CounterName, number>> = {};
    for (const [name, value] of Object.entries(counters.nonZero())) {
      const delta = value - (before[name as CounterName] ?? 0);
      if (delta !== 0 && name !== "frame.received") bumped[name as CounterName] = delta;
    }
    return bumped;
  };
  return { link, counters, dispatcher, tcp, udp, icmp, handle };
}

/** Handles `frame` with `offload`; asserts it was dropped for `reason` and reached nobody. */
function assertDroppedWith(frame: Uint8Array, offload: number, reason: CounterName): void {
  const { link, tcp, udp, icmp, handle } = setup();
  assert.deepEqual(handle(frame, offload), { [reason]: 1 }, `offload ${offload}`);
  assert.equal(tcp.length + udp.length + icmp.length, 0, "a forwarder saw the frame");
  assert.equal(link.take().length, 0, "a reply was sent");
}

Deno.test("Dispatcher: a flagged TCP super-frame above the MTU reaches the TCP forwarder whole", () => {
  const frame = tcpFrame(20000);
  assert.ok(frame.length > MTU + 14);
  for (
    const [offload, partial] of [[TCP_SEGMENTED, false], [
      TCP_SEGMENTED | CHECKSUM_PARTIAL,
      true,
    ]] as const
  ) {
    const { tcp, handle } = setup();
    assert.deepEqual(handle(frame, offload), {});
    assert.equal(tcp.length, 1);
    assert.deepEqual(tcp[0].frame, frame);
    assert.equal(tcp[0].checksumPartial, partial, `offload ${offload}`);
  }
});

Deno.test("Dispatcher: CHECKSUM_PARTIAL on a TCP frame within the MTU reaches the forwarder", () => {
  const frame = tcpFrame(100);
  for (const [offload, partial] of [[RxOffload.NONE, false], [CHECKSUM_PARTIAL, true]] as const) {
    const { tcp, handle } = setup();
    assert.deepEqual(handle(frame, offload), {});
    assert.deepEqual(tcp.map((t) => t.checksumPartial), [partial], `offload ${offload}`);
  }
});

Deno.test("Dispatcher: a TCP frame above the MTU without TCP_SEGMENTED is too long", () => {
  const frame = tcpFrame(20000);
  assertDroppedWith(frame, RxOffload.NONE, "frame.too_long");
  assertDroppedWith(frame, CHECKSUM_PARTIAL, "frame.too_long");
  // One byte above MTU + 14 is enough.
  assertDroppedWith(tcpFrame(MTU - 40 + 1), CHECKSUM_PARTIAL, "frame.too_long");
});

Deno.test("Dispatcher: UDP and ICMP flagged TCP_SEGMENTED are dropped as too long", () => {
  const data = new Uint8Array(20000);
  for (const offload of [TCP_SEGMENTED, TCP_SEGMENTED | CHECKSUM_PARTIAL]) {
    assertDroppedWith(udpFrame(GUEST_IP, 40000, PEER, 7, data), offload, "frame.too_long");
    assertDroppedWith(echoRequestFrame(ADDRESSES.gateway, 20000), offload, "frame.too_long");
    assertDroppedWith(echoRequestFrame(PEER, 20000), offload, "frame.too_long");
    // Within the MTU too: a super-frame is only ever TCP.
    assertDroppedWith(
      udpFrame(GUEST_IP, 40000, PEER, 7, data.subarray(0, 100)),
      offload,
      "frame.too_long",
    );
    assertDroppedWith(echoRequestFrame(ADDRESSES.gateway, 56), offload, "frame.too_long");
  }
});

Deno.test("Dispatcher: a wrong UDP checksum is dropped unless the tap says it is partial", () => {
  assertDroppedWith(badChecksumUdpFrame(), RxOffload.NONE, "udp.bad_checksum");
  const { udp, handle } = setup();
  const frame = badChecksumUdpFrame();
  assert.deepEqual(handle(frame, CHECKSUM_PARTIAL), {});
  assert.equal(udp.length, 1);
  assert.deepEqual(udp[0], frame);
});

Deno.test("Dispatcher: offload bits apply to one frame only", () => {
  const { tcp, udp, handle } = setup();
  assert.deepEqual(handle(badChecksumUdpFrame(), CHECKSUM_PARTIAL), {});
  assert.deepEqual(handle(badChecksumUdpFrame(), RxOffload.NONE), { "udp.bad_checksum": 1 });
  assert.deepEqual(handle(tcpFrame(20000), TCP_SEGMENTED | CHECKSUM_PARTIAL), {});
  assert.deepEqual(handle(tcpFrame(100), RxOffload.NONE), {});
  assert.deepEqual(handle(tcpFrame(20000), RxOffload.NONE), { "frame.too_long": 1 });
  assert.deepEqual(
    handle(udpFrame(GUEST_IP, 40000, PEER, 7, new Uint8Array(8)), RxOffload.NONE),
    {},
  );
  assert.deepEqual(tcp.map((t) => [t.frame.length, t.checksumPartial]), [
    [14 + 20 + 20 + 20000, true],
    [14 + 20 + 20 + 100, false],
  ]);
  assert.equal(udp.length, 2);
});

// A flagged frame above the MTU that is not an IPv4 datagram, or is an IPv4 fragment, must not
// slip past the length check (a guest can write any virtio-net header with PACKET_VNET_HDR).

Deno.test({
  name: "Dispatcher: an ARP frame above the MTU flagged TCP_SEGMENTED is too long",
  fn: () => {
    const frame = new Uint8Array(MTU + 14 + 100);
    frame.set(arpFrame(ArpOp.REQUEST, GUEST_MAC, GUEST_IP, ADDRESSES.gateway));
    assertDroppedWith(frame, TCP_SEGMENTED, "frame.too_long"); // today: answered
  },
});

Deno.test({
  name: "Dispatcher: a UDP fragment above the MTU flagged TCP_SEGMENTED is too long",
  fn: () => {
    const whole = udpFrame(GUEST_IP, 40000, PEER, 7, new Uint8Array(6000));
    const { udp, handle } = setup();
    // 4000 bytes of payload: above the MTU, so only the flag let it in.
    assert.deepEqual(handle(fragmentOf(whole, 0, 4000, true), TCP_SEGMENTED), {
      "frame.too_long": 1,
    });
    handle(fragmentOf(whole, 4000, whole.length - 34 - 4000, false), RxOffload.NONE);
    assert.equal(udp.length, 0, "today: reassembled and forwarded");
  },
});
