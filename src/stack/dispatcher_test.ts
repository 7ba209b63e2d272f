import assert from "node:assert/strict";
import { internetChecksum } from "../wire/checksum.ts";
import { ArpOp } from "../wire/arp.ts";
import { IpProtocol } from "../wire/ipv4.ts";
import {
  ARP_REQUEST_FOR_GATEWAY,
  ICMP_ECHO_REQUEST_TO_GATEWAY,
  IPV6_NEIGHBOR_SOLICITATION,
  TCP_SYN_TO_INTERNET,
  UDP_DNS_QUERY_TO_INTERNET,
} from "../wire/testdata/captured.ts";
import { type CounterName, Counters } from "./counters.ts";
import { Dispatcher } from "./dispatcher.ts";
import { MemoryLink } from "./memory_link.ts";
import {
  ADDRESSES,
  arpFrame,
  echoRequestFrame,
  GUEST_IP,
  GUEST_MAC,
  ipv4Frame,
  udpFrame,
} from "./testdata/guest_frames.ts";
import { fragment, joinFragments } from "./testdata/fragments.ts";

function setup(mtu = 1500) {
  const link = new MemoryLink();
  const counters = new Counters();
  const dispatcher = new Dispatcher(ADDRESSES, mtu, link, counters);
  return { link, counters, dispatcher };
}

/** Sends one frame; asserts no reply and that exactly `reason` (besides frame.received) was counted. */
function assertDropped(frame: Uint8Array, reason: CounterName, mtu = 1500) {
  const { link, counters, dispatcher } = setup(mtu);
  dispatcher.handleFrame(frame, 0);
  assert.equal(link.take().length, 0, reason);
  const counted = counters.nonZero();
  delete counted["frame.received"];
  delete counted["arp.learned"];
  assert.deepEqual(counted, { [reason]: 1 });
}

/** Rewrites the IPv4 header checksum after a test changed the header. */
function fixIpChecksum(frame: Uint8Array): Uint8Array {
  const ihl = (frame[14] & 0x0f) * 4;
  frame[24] = frame[25] = 0;
  const sum = internetChecksum(frame, 14, ihl);
  frame[24] = sum >>> 8;
  frame[25] = sum & 0xff;
  return frame;
}

function mutate(frame: Uint8Array, at: number, value: number): Uint8Array {
  const copy = frame.slice();
  copy[at] = value;
  return copy;
}

Deno.test("Dispatcher: frames shorter than the Ethernet header are runts", () => {
  for (let length = 0; length < 14; length++) {
    assertDropped(ICMP_ECHO_REQUEST_TO_GATEWAY.subarray(0, length), "frame.runt");
  }
});

Deno.test("Dispatcher: frames above MTU + 14 are dropped; MTU + 14 is accepted", () => {
  assertDropped(echoRequestFrame(ADDRESSES.gateway, 1500 - 28 + 1), "frame.too_long");
  assertDropped(new Uint8Array(65536), "frame.too_long", 65520);
  const { link, dispatcher } = setup();
  dispatcher.handleFrame(echoRequestFrame(ADDRESSES.gateway, 1500 - 28), 0);
  assert.equal(link.take()[0].length, 1514);
});

Deno.test("Dispatcher: unicast frames to other MACs are not for us", () => {
  const frame = ICMP_ECHO_REQUEST_TO_GATEWAY.slice();
  frame.set([0x02, 0, 0, 0, 0, 1], 0);
  assertDropped(frame, "eth.not_for_us");
});

Deno.test("Dispatcher: group source MACs are dropped", () => {
  const frame = ICMP_ECHO_REQUEST_TO_GATEWAY.slice();
  frame[6] = 0x01;
  assertDropped(frame, "eth.bad_source");
});

Deno.test("Dispatcher: IPv6, 802.1Q and unknown EtherTypes are dropped by reason", () => {
  assertDropped(IPV6_NEIGHBOR_SOLICITATION, "ipv6.unsupported");
  const vlan = new Uint8Array(64);
  vlan.set(ARP_REQUEST_FOR_GATEWAY.subarray(0, 12));
  vlan.set([0x81, 0x00, 0x00, 0x05, 0x08, 0x06], 12);
  assertDropped(vlan, "eth.vlan_unsupported");
  assertDropped(
    mutate(vlan, 12, 0x88).map((b, i) => (i === 13 ? 0xa8 : b)),
    "eth.vlan_unsupported",
  );
  const ncsi = mutate(mutate(ARP_REQUEST_FOR_GATEWAY, 12, 0x88), 13, 0xf8);
  assertDropped(ncsi, "eth.unknown_ethertype");
  const ieee8023 = mutate(mutate(ARP_REQUEST_FOR_GATEWAY, 12, 0x00), 13, 0x2e);
  assertDropped(ieee8023, "eth.unknown_ethertype");
});

Deno.test("Dispatcher: TCP and UDP to other hosts (and to the DNS forwarder) wait for the NAT", () => {
  assertDropped(TCP_SYN_TO_INTERNET, "nat.not_implemented");
  assertDropped(UDP_DNS_QUERY_TO_INTERNET, "nat.not_implemented");
  assertDropped(
    udpFrame(GUEST_IP, 40000, ADDRESSES.dns, 53, new Uint8Array(20)),
    "nat.not_implemented",
  );
  assertDropped(
    udpFrame(GUEST_IP, 40000, ADDRESSES.gateway, 8080, new Uint8Array(3)),
    "nat.not_implemented",
  );
  assertDropped(echoRequestFrame(0x01010101, 8), "nat.not_implemented");
});

Deno.test("Dispatcher: IPv4 header errors are counted by reason", () => {
  for (let length = 14; length < 34; length++) {
    assertDropped(ICMP_ECHO_REQUEST_TO_GATEWAY.subarray(0, length), "ipv4.truncated");
  }
  assertDropped(fixIpChecksum(mutate(ICMP_ECHO_REQUEST_TO_GATEWAY, 14, 0x65)), "ipv4.bad_version");
  for (let ihl = 0; ihl < 5; ihl++) {
    assertDropped(mutate(ICMP_ECHO_REQUEST_TO_GATEWAY, 14, 0x40 | ihl), "ipv4.bad_header_length");
  }
  const long = mutate(mutate(ICMP_ECHO_REQUEST_TO_GATEWAY, 16, 0xff), 17, 0xff);
  assertDropped(fixIpChecksum(long), "ipv4.total_length_exceeds_frame");
  assertDropped(mutate(ICMP_ECHO_REQUEST_TO_GATEWAY, 22, 63), "ipv4.bad_checksum");
});

Deno.test("Dispatcher: malformed IP options are dropped", () => {
  const frame = new Uint8Array(ICMP_ECHO_REQUEST_TO_GATEWAY.length + 4);
  frame.set(ICMP_ECHO_REQUEST_TO_GATEWAY.subarray(0, 34));
  frame.set([7, 9, 4, 0], 34); // record route claiming 9 bytes in a 4-byte option area
  frame.set(ICMP_ECHO_REQUEST_TO_GATEWAY.subarray(34), 38);
  frame[14] = 0x46;
  frame[17] += 4;
  assertDropped(fixIpChecksum(frame), "ipv4.bad_options");
});

Deno.test("Dispatcher: a lone fragment waits for the rest and sends nothing", () => {
  const first = mutate(ICMP_ECHO_REQUEST_TO_GATEWAY, 20, 0x20); // MF
  assertDropped(fixIpChecksum(first), "ipv4.fragment");
  const last = mutate(mutate(ICMP_ECHO_REQUEST_TO_GATEWAY, 20, 0x00), 21, 0xb9); // offset 185
  assertDropped(fixIpChecksum(last), "ipv4.fragment");
});

Deno.test("Dispatcher: a fragmented ping to the gateway gets a fragmented reply", () => {
  const { link, counters, dispatcher } = setup(1500);
  const request = echoRequestFrame(ADDRESSES.gateway, 4000, 0x7777, 3);
  request[20] = 0; // no DF
  fixIpChecksum(request);
  for (const part of fragment(request, 1480).reverse()) dispatcher.handleFrame(part, 0);
  const frames = link.take();
  assert.equal(frames.length, 3);
  for (const f of frames) assert.ok(f.length <= 1514);
  const reply = joinFragments(frames);
  assert.equal(reply.length, request.length);
  assert.equal(reply[34], 0); // echo reply
  assert.equal(internetChecksum(reply, 34, reply.length - 34), 0);
  assert.deepEqual(reply.subarray(38), request.subarray(38));
  assert.equal(counters.get("ipv4.reassembled"), 1);
  assert.equal(counters.get("tx.fragmented"), 1);
  assert.equal(counters.get("tx.fragment"), 3);
});

Deno.test("Dispatcher: a reassembled UDP datagram reaches the forwarder whole", () => {
  const link = new MemoryLink();
  const counters = new Counters();
  const seen: Uint8Array[] = [];
  const dispatcher = new Dispatcher(ADDRESSES, 1500, link, counters, {
    udp: (frame) => seen.push(frame.slice()),
  });
  const data = new Uint8Array(3000).map((_, i) => i & 0xff);
  const whole = udpFrame(GUEST_IP, 5000, 0xc6336402, 7, data);
  whole[20] = 0;
  fixIpChecksum(whole);
  for (const part of fragment(whole, 1480)) dispatcher.handleFrame(part, 0);
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0].subarray(34), whole.subarray(34));
  assert.equal(counters.get("udp.bad_checksum"), 0);
});

Deno.test("Dispatcher: impossible sources and destinations are dropped", () => {
  for (const src of [0xffffffff, ADDRESSES.broadcast, 0xe0000001, 0x7f000001, 0]) {
    assertDropped(echoRequestFrame(ADDRESSES.gateway, 8, 1, 1, src), "ipv4.bad_source");
  }
  assertDropped(udpFrame(0, 68, ADDRESSES.gateway, 67, new Uint8Array(300)), "ipv4.bad_source");
  assertDropped(echoRequestFrame(0x7f000001, 8), "ipv4.bad_destination");
  assertDropped(echoRequestFrame(0x00000001, 8), "ipv4.bad_destination");
  assertDropped(echoRequestFrame(0xe00000fb, 8), "ipv4.multicast_dropped");
  assertDropped(
    udpFrame(GUEST_IP, 5353, 0xe00000fb, 5353, new Uint8Array(12)),
    "ipv4.multicast_dropped",
  );
  assertDropped(
    udpFrame(GUEST_IP, 137, ADDRESSES.broadcast, 137, new Uint8Array(50)),
    "ipv4.broadcast_dropped",
  );
  assertDropped(
    ipv4Frame(new Uint8Array(16), 47, GUEST_IP, ADDRESSES.gateway),
    "ipv4.unknown_protocol",
  );
});

Deno.test("Dispatcher: UDP to port 67 with a bad header is dropped by reason", () => {
  for (let length = 0; length < 8; length++) {
    assertDropped(
      ipv4Frame(new Uint8Array(length), IpProtocol.UDP, 0, 0xffffffff),
      "udp.truncated",
    );
  }
  for (const udpLength of [0, 7, 309, 65535]) {
    const frame = udpFrame(0, 68, 0xffffffff, 67, new Uint8Array(300));
    frame[38] = udpLength >>> 8;
    frame[39] = udpLength & 0xff;
    assertDropped(frame, "udp.bad_length");
  }
  const frame = udpFrame(0, 68, 0xffffffff, 67, new Uint8Array(300));
  frame[100] ^= 0xff;
  assertDropped(frame, "udp.bad_checksum");
});

Deno.test("Dispatcher: Ethernet padding after the IP datagram is ignored", () => {
  const { link, dispatcher } = setup();
  const short = echoRequestFrame(ADDRESSES.gateway, 4);
  const padded = new Uint8Array(60).fill(0xee);
  padded.set(short);
  dispatcher.handleFrame(padded, 0);
  const [reply] = link.take();
  assert.equal(reply.length, 60);
  assert.equal(internetChecksum(reply, 34, 12), 0);
  assert.ok(reply.subarray(46).every((b) => b === 0));
});

Deno.test("Dispatcher: frames inside a SharedArrayBuffer at an odd offset work", () => {
  const { link, dispatcher } = setup();
  const ring = new Uint8Array(new SharedArrayBuffer(4096));
  ring.set(ICMP_ECHO_REQUEST_TO_GATEWAY, 1001);
  dispatcher.handleFrame(ring.subarray(1001, 1001 + ICMP_ECHO_REQUEST_TO_GATEWAY.length), 0);
  assert.equal(link.take().length, 1);
});

Deno.test("Dispatcher: every frame it sends is 60..MTU+14 bytes and the scratch buffer is reused", () => {
  const sent: Uint8Array[] = [];
  const counters = new Counters();
  const dispatcher = new Dispatcher(ADDRESSES, 1500, { sendFrame: (f) => sent.push(f) }, counters);
  dispatcher.handleFrame(arpFrame(ArpOp.REQUEST, GUEST_MAC, GUEST_IP, ADDRESSES.gateway), 0);
  dispatcher.handleFrame(ICMP_ECHO_REQUEST_TO_GATEWAY, 0);
  assert.equal(sent.length, 2);
  assert.equal(sent[0].buffer, sent[1].buffer, "both views of the one scratch buffer");
  for (const frame of sent) assert.ok(frame.length >= 60 && frame.length <= 1514);
  assert.equal(counters.get("tx.frame"), 2);
});
