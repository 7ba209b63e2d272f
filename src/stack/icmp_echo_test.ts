import assert from "node:assert/strict";
import { internetChecksum } from "../wire/checksum.ts";
import { IcmpType } from "../wire/icmp.ts";
import { emitIpv4Header, IpProtocol } from "../wire/ipv4.ts";
import { ICMP_ECHO_REQUEST_TO_GATEWAY } from "../wire/testdata/captured.ts";
import { Counters } from "./counters.ts";
import { Dispatcher } from "./dispatcher.ts";
import { MemoryLink } from "./memory_link.ts";
import {
  ADDRESSES,
  DNS_MAC,
  echoRequestFrame,
  GATEWAY_MAC,
  GUEST_IP,
  GUEST_MAC,
  ipv4Frame,
} from "./testdata/guest_frames.ts";

function setup(mtu = 1500) {
  const link = new MemoryLink();
  const counters = new Counters();
  const dispatcher = new Dispatcher(ADDRESSES, mtu, link, counters);
  return { link, counters, dispatcher };
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

/** Checks a reply frame against its request and returns it. */
function assertEchoReply(
  reply: Uint8Array,
  request: Uint8Array,
  from: number,
  fromMac: Uint8Array,
) {
  const requestIhl = (request[14] & 0x0f) * 4;
  const icmpLength = u16(request, 16) - requestIhl;
  assert.deepEqual(reply.slice(0, 6), request.slice(6, 12), "to the request's source MAC");
  assert.deepEqual(reply.slice(6, 12), fromMac);
  assert.equal(u16(reply, 12), 0x0800);
  assert.equal(reply[14], 0x45, "no IP options");
  assert.equal(u16(reply, 16), 20 + icmpLength);
  assert.equal(reply[22], 255, "TTL 255");
  assert.equal(reply[23], IpProtocol.ICMP);
  assert.equal(internetChecksum(reply, 14, 20), 0, "IP checksum");
  assert.equal(u32(reply, 26), from);
  assert.equal(u32(reply, 30), u32(request, 26));
  assert.equal(reply[34], IcmpType.ECHO_REPLY);
  assert.equal(reply[35], 0);
  assert.equal(internetChecksum(reply, 34, icmpLength), 0, "ICMP checksum");
  assert.deepEqual(
    reply.slice(38, 34 + icmpLength),
    request.slice(14 + requestIhl + 4, 14 + requestIhl + icmpLength),
    "identifier, sequence and data echoed",
  );
  assert.equal(reply.length, Math.max(60, 34 + icmpLength));
}

Deno.test("ICMP: the captured ping to the gateway gets an echo reply with TTL 255", () => {
  const { link, counters, dispatcher } = setup();
  dispatcher.handleFrame(ICMP_ECHO_REQUEST_TO_GATEWAY, 0);
  const [reply] = link.take();
  assertEchoReply(reply, ICMP_ECHO_REQUEST_TO_GATEWAY, ADDRESSES.gateway, GATEWAY_MAC);
  assert.equal(reply.length, 98);
  assert.equal(counters.get("icmp.echo_request"), 1);
  assert.equal(counters.get("icmp.echo_reply"), 1);
});

Deno.test("ICMP: a ping to the DNS address is answered from it", () => {
  const { link, dispatcher } = setup();
  const request = echoRequestFrame(ADDRESSES.dns, 56);
  dispatcher.handleFrame(request, 0);
  assertEchoReply(link.take()[0], request, ADDRESSES.dns, DNS_MAC);
});

Deno.test("ICMP: every payload size from 0 to the MTU gets a correct reply", () => {
  const { link, dispatcher } = setup();
  for (let dataLength = 0; dataLength <= 1472; dataLength++) {
    const request = echoRequestFrame(ADDRESSES.gateway, dataLength, dataLength, dataLength);
    dispatcher.handleFrame(request, 0);
    const replies = link.take();
    assert.equal(replies.length, 1, `data length ${dataLength}`);
    assertEchoReply(replies[0], request, ADDRESSES.gateway, GATEWAY_MAC);
  }
});

Deno.test("ICMP: a 65492-byte ping at MTU 65520 is answered", () => {
  const { link, dispatcher } = setup(65520);
  const request = echoRequestFrame(ADDRESSES.gateway, 65520 - 28);
  dispatcher.handleFrame(request, 0);
  const [reply] = link.take();
  assertEchoReply(reply, request, ADDRESSES.gateway, GATEWAY_MAC);
  assert.equal(reply.length, 65534);
});

Deno.test("ICMP: a ping with no data is padded to 60 bytes with zeros", () => {
  const { link, dispatcher } = setup();
  dispatcher.handleFrame(echoRequestFrame(ADDRESSES.gateway, 0), 0);
  const [reply] = link.take();
  assert.equal(reply.length, 60);
  assert.equal(u16(reply, 16), 28);
  assert.ok(reply.subarray(42).every((b) => b === 0));
});

Deno.test("ICMP: an all-zero echo (id 0, seq 0, no data) gets reply checksum 0xffff, not 0", () => {
  const { link, dispatcher } = setup();
  const request = echoRequestFrame(ADDRESSES.gateway, 0, 0, 0);
  assert.equal(u16(request, 36), 0xf7ff);
  dispatcher.handleFrame(request, 0);
  const [reply] = link.take();
  assert.equal(u16(reply, 36), 0xffff);
  assertEchoReply(reply, request, ADDRESSES.gateway, GATEWAY_MAC);
});

Deno.test("ICMP: requests whose checksum is 0x0000, or 0xffff in its place, are answered", () => {
  const { link, dispatcher } = setup();
  for (let sequence = 0; sequence < 65536; sequence++) {
    const request = echoRequestFrame(ADDRESSES.gateway, 4, 0, sequence);
    if (u16(request, 36) !== 0) continue;
    dispatcher.handleFrame(request, 0);
    assertEchoReply(link.take()[0], request, ADDRESSES.gateway, GATEWAY_MAC);
    request[36] = request[37] = 0xff;
    dispatcher.handleFrame(request, 0);
    assertEchoReply(link.take()[0], request, ADDRESSES.gateway, GATEWAY_MAC);
    return;
  }
  assert.fail("no sequence number gives a zero checksum");
});

Deno.test("ICMP: IP options in the request are not copied into the reply", () => {
  const { link, dispatcher } = setup();
  const plain = echoRequestFrame(ADDRESSES.gateway, 8);
  const withOptions = new Uint8Array(plain.length + 4);
  withOptions.set(plain.subarray(0, 34));
  withOptions.set([1, 1, 1, 0], 34); // NOP NOP NOP EOL
  withOptions.set(plain.subarray(34), 38);
  emitIpv4Header(
    withOptions,
    14,
    24 + plain.length - 34,
    7,
    false,
    64,
    1,
    GUEST_IP,
    ADDRESSES.gateway,
  );
  withOptions[14] = 0x46;
  withOptions[24] = withOptions[25] = 0;
  const sum = internetChecksum(withOptions, 14, 24);
  withOptions[24] = sum >>> 8;
  withOptions[25] = sum & 0xff;
  dispatcher.handleFrame(withOptions, 0);
  assertEchoReply(link.take()[0], withOptions, ADDRESSES.gateway, GATEWAY_MAC);
});

Deno.test("ICMP: bad checksums, short messages and non-echo types get no reply", () => {
  const { link, counters, dispatcher } = setup();
  const bad = ICMP_ECHO_REQUEST_TO_GATEWAY.slice();
  bad[60] ^= 1;
  dispatcher.handleFrame(bad, 0);
  for (let length = 0; length < 8; length++) {
    dispatcher.handleFrame(
      ipv4Frame(new Uint8Array(length).fill(8, 0, 1), 1, GUEST_IP, ADDRESSES.gateway),
      0,
    );
  }
  const reply = echoRequestFrame(ADDRESSES.gateway, 8);
  reply[34] = IcmpType.ECHO_REPLY;
  reply[36] = reply[36] + 8; // keep the ICMP checksum right: type 8 → 0 adds 0x0800
  dispatcher.handleFrame(reply, 0);
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("icmp.bad_checksum"), 1);
  assert.equal(counters.get("icmp.truncated"), 8);
  assert.equal(counters.get("icmp.type_ignored"), 1);
});

Deno.test("ICMP: pings to other hosts are left to the NAT, broadcast pings are dropped", () => {
  const { link, counters, dispatcher } = setup();
  dispatcher.handleFrame(echoRequestFrame(0x08080808, 8), 0);
  dispatcher.handleFrame(echoRequestFrame(0x0a000232, 8), 0);
  dispatcher.handleFrame(echoRequestFrame(ADDRESSES.broadcast, 8), 0);
  dispatcher.handleFrame(echoRequestFrame(0xffffffff, 8), 0);
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("nat.not_implemented"), 2);
  assert.equal(counters.get("ipv4.broadcast_dropped"), 2);
});

Deno.test("ICMP: the reply goes to the request's source MAC, whatever the guest's", () => {
  const { link, dispatcher } = setup();
  const request = echoRequestFrame(ADDRESSES.gateway, 8);
  request.set([0x02, 1, 2, 3, 4, 5], 6);
  dispatcher.handleFrame(request, 0);
  assert.deepEqual(Array.from(link.take()[0].subarray(0, 6)), [0x02, 1, 2, 3, 4, 5]);
  assert.notDeepEqual(request.subarray(6, 12), GUEST_MAC);
});
