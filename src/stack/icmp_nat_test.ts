import assert from "node:assert/strict";
import { internetChecksum } from "../wire/checksum.ts";
import { IcmpType } from "../wire/icmp.ts";
import { IpProtocol } from "../wire/ipv4.ts";
import { Counters } from "./counters.ts";
import { Dispatcher } from "./dispatcher.ts";
import { IPV4_PAYLOAD_OFFSET } from "./guest_tx.ts";
import { FORBIDDEN_RETRY_MS, type HostPingSockets, ICMP_IDLE_MS, IcmpNat } from "./icmp_nat.ts";
import { MemoryLink } from "./memory_link.ts";
import type { IpAddress } from "../wire/address.ts";
import { readIpv6 } from "../wire/address.ts";
import { fillIcmpv6Checksum, Icmpv6Type, Icmpv6Unreachable } from "../wire/icmpv6.ts";
import { Ipv6NextHeader } from "../wire/ipv6.ts";
import { readU16 } from "../wire/view.ts";
import { IPV6_PAYLOAD_OFFSET } from "./guest_tx.ts";
import {
  ADDRESSES6,
  echo6Frame,
  GUEST6,
  readIpv6Sent,
  REMOTE6,
  V6,
} from "./testdata/ipv6_frames.ts";
import { fragment, joinFragments } from "./testdata/fragments.ts";
import {
  ADDRESSES,
  echoRequestFrame,
  GUEST_IP,
  GUEST_MAC,
  ipv4Frame,
} from "./testdata/guest_frames.ts";

const REMOTE = 0xc6336402;

class FakePing implements HostPingSockets {
  next = 50;
  open_ = new Set<number>();
  families = new Map<number, 4 | 6>();
  sent: { handle: number; icmp: Uint8Array; address: IpAddress }[] = [];
  openError = 0;
  opens = 0;
  open(family: 4 | 6): number {
    this.opens++;
    if (this.openError) return -this.openError;
    const h = this.next++;
    this.open_.add(h);
    this.families.set(h, family);
    return h;
  }
  sendTo(handle: number, bytes: Uint8Array, offset: number, length: number, address: IpAddress) {
    assert.ok(this.open_.has(handle));
    assert.equal(typeof address === "bigint" ? 6 : 4, this.families.get(handle), "family");
    this.sent.push({ handle, icmp: bytes.slice(offset, offset + length), address });
    return length;
  }
  close(handle: number): void {
    assert.ok(this.open_.delete(handle));
  }
}

function setup(mtu = 1500, disableHostLoopback = false) {
  const counters = new Counters();
  const link = new MemoryLink();
  const host = new FakePing();
  const warnings: string[] = [];
  const forwarders: { icmp?: (f: Uint8Array, now: number) => void } = {};
  const dispatcher = new Dispatcher(ADDRESSES, mtu, link, counters, forwarders);
  const nat = new IcmpNat(
    ADDRESSES6,
    { disableHostLoopback },
    dispatcher.tx,
    host,
    counters,
    (m) => warnings.push(m),
  );
  forwarders.icmp = (frame, now) => nat.fromGuest(frame, now);
  /** What the kernel hands back on a ping socket: the reply with the socket's own identifier. */
  const reply = (handle: number, src: number, request: Uint8Array, now = 0) => {
    const icmp = request.slice();
    icmp[0] = IcmpType.ECHO_REPLY;
    icmp[4] = 0x99; // the socket's identifier, not the guest's
    icmp[5] = 0x01;
    icmp[2] = icmp[3] = 0;
    const sum = internetChecksum(icmp, 0, icmp.length);
    icmp[2] = sum >> 8;
    icmp[3] = sum & 0xff;
    dispatcher.tx.frame.set(icmp, IPV4_PAYLOAD_OFFSET);
    nat.fromHost(handle, src, icmp.length, now);
  };
  return { nat, host, link, counters, dispatcher, warnings, reply };
}

Deno.test("IcmpNat sends echo requests through a ping socket per guest identifier", () => {
  const { dispatcher, host, counters } = setup();
  dispatcher.handleFrame(echoRequestFrame(REMOTE, 56, 0x1111, 1), 0);
  dispatcher.handleFrame(echoRequestFrame(REMOTE, 56, 0x1111, 2), 1);
  dispatcher.handleFrame(echoRequestFrame(0xcb007101, 56, 0x2222, 1), 2);
  assert.deepEqual(host.sent.map((s) => [s.handle, s.address]), [
    [50, REMOTE],
    [50, REMOTE],
    [51, 0xcb007101],
  ]);
  assert.equal(host.sent[0].icmp.length, 64);
  assert.equal(host.sent[1].icmp[7], 2, "sequence passed unchanged");
  assert.equal(counters.get("icmp.nat_echo_sent"), 3);
});

Deno.test("IcmpNat gives the reply the guest's identifier back, with sequence and data", () => {
  const { dispatcher, host, link, reply } = setup();
  const request = echoRequestFrame(REMOTE, 56, 0x1234, 7);
  dispatcher.handleFrame(request, 0);
  reply(50, REMOTE, host.sent[0].icmp);
  const [frame] = link.take();
  const v = new DataView(frame.buffer);
  assert.deepEqual(frame.subarray(0, 6), GUEST_MAC);
  assert.equal(v.getUint32(26), REMOTE);
  assert.equal(v.getUint32(30), GUEST_IP);
  assert.equal(frame[23], IpProtocol.ICMP);
  assert.equal(frame[34], IcmpType.ECHO_REPLY);
  assert.equal(v.getUint16(38), 0x1234);
  assert.equal(v.getUint16(40), 7);
  assert.deepEqual(frame.subarray(42), request.subarray(42));
  assert.equal(internetChecksum(frame, 34, frame.length - 34), 0);
  assert.equal(internetChecksum(frame, 14, 20), 0);
});

Deno.test("IcmpNat: a fragmented 4000-byte ping goes out whole, its reply comes back fragmented", () => {
  const { dispatcher, host, link, reply } = setup();
  const request = echoRequestFrame(REMOTE, 4000, 0x4444, 1);
  request[20] = 0;
  request[24] = request[25] = 0;
  const sum = internetChecksum(request, 14, 20);
  request[24] = sum >> 8;
  request[25] = sum & 0xff;
  for (const part of fragment(request, 1480)) dispatcher.handleFrame(part, 0);
  assert.equal(host.sent[0].icmp.length, 4008);
  reply(50, REMOTE, host.sent[0].icmp);
  const frames = link.take();
  assert.equal(frames.length, 3);
  const whole = joinFragments(frames);
  assert.equal(internetChecksum(whole, 34, whole.length - 34), 0);
  assert.deepEqual(whole.subarray(42), request.subarray(42));
});

Deno.test("IcmpNat where ping sockets are forbidden: one warning, drops, retries later", () => {
  const { dispatcher, host, link, counters, warnings } = setup();
  host.openError = 13; // EACCES: ping_group_range
  for (let i = 0; i < 5; i++) dispatcher.handleFrame(echoRequestFrame(REMOTE, 8, 1, i), i);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /ping_group_range/);
  assert.equal(host.opens, 1, "no socket() per request while forbidden");
  assert.equal(counters.get("icmp.nat_forbidden"), 5);
  assert.equal(link.take().length, 0, "never a forged reply");
  host.openError = 0;
  dispatcher.handleFrame(echoRequestFrame(REMOTE, 8, 1, 9), FORBIDDEN_RETRY_MS);
  assert.equal(host.sent.length, 1);
  assert.equal(warnings.length, 1);
});

Deno.test("IcmpNat drops other ICMP types, bad checksums and truncated messages", () => {
  const { dispatcher, host, counters } = setup();
  const reply = echoRequestFrame(REMOTE, 8);
  reply[34] = IcmpType.ECHO_REPLY;
  reply[36] = reply[37] = 0;
  const sum = internetChecksum(reply, 34, reply.length - 34);
  reply[36] = sum >> 8;
  reply[37] = sum & 0xff;
  dispatcher.handleFrame(reply, 0);
  const bad = echoRequestFrame(REMOTE, 8);
  bad[40] ^= 1;
  dispatcher.handleFrame(bad, 0);
  dispatcher.handleFrame(ipv4Frame(new Uint8Array(4), IpProtocol.ICMP, GUEST_IP, REMOTE), 0);
  assert.equal(host.sent.length, 0);
  assert.equal(counters.get("icmp.nat_type_dropped"), 1);
  assert.equal(counters.get("icmp.bad_checksum"), 1);
  assert.equal(counters.get("icmp.truncated"), 1);
});

Deno.test("IcmpNat relays host unreachable for a request, quoting the guest's identifier", () => {
  const { dispatcher, link, nat } = setup();
  dispatcher.handleFrame(echoRequestFrame(REMOTE, 56, 0x5555, 3), 0);
  nat.hostError(50, {
    errno: 113,
    fromIcmp: true,
    icmpType: 3,
    icmpCode: 1,
    info: 0,
    offender: 0xc6336401,
    dst: REMOTE,
    dstPort: 0,
    payloadLength: 64,
  }, 3);
  const [frame] = link.take();
  const v = new DataView(frame.buffer);
  assert.equal(v.getUint32(26), 0xc6336401);
  assert.equal(frame[34], 3);
  assert.equal(frame[35], 1);
  assert.equal(v.getUint32(42 + 16), REMOTE);
  assert.equal(frame[62], IcmpType.ECHO_REQUEST);
  assert.equal(v.getUint16(66), 0x5555);
  assert.equal(v.getUint16(68), 3);
  assert.equal(internetChecksum(frame, 34, frame.length - 34), 0);
});

Deno.test("IcmpNat closes idle ping sockets", () => {
  const { dispatcher, host, nat } = setup();
  dispatcher.handleFrame(echoRequestFrame(REMOTE, 8, 1, 1), 0);
  nat.expire(ICMP_IDLE_MS - 1);
  assert.equal(nat.flows, 1);
  nat.expire(ICMP_IDLE_MS);
  assert.equal(nat.flows, 0);
  assert.equal(host.open_.size, 0);
  assert.equal(ADDRESSES.gateway, 0x0a000202);
});

// --- ICMPv6 ---

/** What the kernel hands back on an ICMPv6 ping socket: the reply with its own identifier. */
function reply6(
  nat: IcmpNat,
  tx: { frame: Uint8Array },
  handle: number,
  src: bigint,
  request: Uint8Array,
) {
  const icmp = request.slice();
  icmp[0] = Icmpv6Type.ECHO_REPLY;
  icmp[4] = 0x99;
  icmp[5] = 0x01;
  fillIcmpv6Checksum(icmp, 0, icmp.length, src, 0xfd00n << 112n | 0xabcdn); // the host's view
  tx.frame.set(icmp, IPV6_PAYLOAD_OFFSET);
  nat.fromHost(handle, src, icmp.length, 0);
}

Deno.test("IcmpNat sends ICMPv6 echo through an ICMPv6 ping socket, the reply gets the guest's identifier", () => {
  const { nat, host, link, counters, dispatcher } = setup();
  const request = echo6Frame(REMOTE6, 56, { identifier: 0x1234, sequence: 7 });
  nat.fromGuest(request, 0);
  assert.deepEqual([...host.families.values()], [6]);
  assert.equal(host.sent[0].address, REMOTE6);
  assert.deepEqual(host.sent[0].icmp, request.subarray(54));
  reply6(nat, dispatcher.tx, 50, REMOTE6, host.sent[0].icmp);
  const sent = readIpv6Sent(link.take());
  assert.deepEqual(sent.dstMac, GUEST_MAC);
  assert.equal(sent.src, REMOTE6);
  assert.equal(sent.dst, GUEST6);
  assert.equal(sent.nextHeader, Ipv6NextHeader.ICMPV6);
  assert.ok(sent.checksumOk, "checksum over the guest's pseudo-header");
  assert.equal(sent.payload[0], Icmpv6Type.ECHO_REPLY);
  assert.equal(readU16(sent.payload, 4), 0x1234);
  assert.equal(readU16(sent.payload, 6), 7);
  assert.deepEqual(sent.payload.subarray(8), request.subarray(62));
  assert.equal(counters.get("icmp.nat_echo_sent"), 1);
  assert.equal(counters.get("icmp.nat_echo_reply"), 1);
});

Deno.test("IcmpNat: a 4000-byte ICMPv6 echo reply is fragmented to the guest", () => {
  const { nat, host, link, dispatcher } = setup();
  nat.fromGuest(echo6Frame(REMOTE6, 4000, { identifier: 1, sequence: 1 }), 0);
  reply6(nat, dispatcher.tx, 50, REMOTE6, host.sent[0].icmp);
  const frames = link.take();
  assert.equal(frames.length, 3);
  const sent = readIpv6Sent(frames);
  assert.equal(sent.payload.length, 4008);
  assert.ok(sent.checksumOk);
});

Deno.test("IcmpNat sends echo to other fd00::/64 addresses to ::1, the reply comes from the address pinged", () => {
  const { nat, host, link, dispatcher } = setup();
  const alias = V6.prefix | 0x5n;
  nat.fromGuest(echo6Frame(alias, 8, { identifier: 3, sequence: 1 }), 0);
  assert.equal(host.sent[0].address, 1n, "never a real fd00:: address");
  reply6(nat, dispatcher.tx, 50, 1n, host.sent[0].icmp);
  const sent = readIpv6Sent(link.take());
  assert.equal(sent.src, alias);
  assert.ok(sent.checksumOk);
});

Deno.test("IcmpNat with --disable-host-loopback refuses fd00::/64 echo with ICMPv6 no route", () => {
  const { nat, host, link } = setup(1500, true);
  const request = echo6Frame(V6.prefix | 0x5n, 8, { identifier: 3, sequence: 1 });
  nat.fromGuest(request, 0);
  assert.equal(host.sent.length, 0);
  const error = readIpv6Sent(link.take());
  assert.deepEqual([error.payload[0], error.payload[1]], [1, Icmpv6Unreachable.NO_ROUTE]);
  assert.deepEqual(error.payload.subarray(8), request.subarray(14));
  assert.ok(error.checksumOk);
});

Deno.test("IcmpNat drops ICMPv6 echo to special destinations, bad checksums and other types", () => {
  const { nat, host, counters } = setup();
  for (const dst of [0xfe80n << 112n | 9n, 0xff02n << 112n | 1n, 1n, 0xffffn << 32n | 1n]) {
    nat.fromGuest(echo6Frame(dst, 8), 0);
  }
  const bad = echo6Frame(REMOTE6, 8);
  bad[66] ^= 1;
  nat.fromGuest(bad, 0);
  const wrongPseudo = echo6Frame(REMOTE6, 8, { identifier: 1, sequence: 1, src: GUEST6 + 1n });
  wrongPseudo.set(new Uint8Array(16), 22); // source changed after the checksum: ::
  nat.fromGuest(wrongPseudo, 0);
  const other = echo6Frame(REMOTE6, 8);
  other[54] = Icmpv6Type.ECHO_REPLY;
  fillIcmpv6Checksum(other, 54, other.length - 54, GUEST6, REMOTE6);
  nat.fromGuest(other, 0);
  assert.equal(host.sent.length, 0);
  assert.equal(counters.get("icmp.nat_bad_destination"), 4);
  assert.equal(counters.get("icmp.bad_checksum"), 2);
  assert.equal(counters.get("icmp.nat_type_dropped"), 1);
});

Deno.test("IcmpNat relays a host ICMPv6 error, quoting the guest's request", () => {
  const { nat, link } = setup();
  nat.fromGuest(echo6Frame(REMOTE6, 56, { identifier: 0x5555, sequence: 3 }), 0);
  const router = 0x2001_0db8_0001n << 80n | 1n;
  nat.hostError(50, {
    errno: 113,
    fromIcmp: true,
    icmpType: Icmpv6Type.DEST_UNREACHABLE,
    icmpCode: Icmpv6Unreachable.ADDRESS,
    info: 0,
    offender: router,
    dst: REMOTE6,
    dstPort: 0,
    payloadLength: 64,
  }, 3);
  const error = readIpv6Sent(link.take());
  assert.equal(error.src, router);
  assert.equal(error.dst, GUEST6);
  assert.deepEqual([error.payload[0], error.payload[1]], [1, 3]);
  assert.ok(error.checksumOk);
  const quote = error.payload.subarray(8);
  assert.equal(readIpv6(quote, 8), GUEST6);
  assert.equal(readIpv6(quote, 24), REMOTE6);
  assert.equal(quote[6], Ipv6NextHeader.ICMPV6);
  assert.equal(quote[40], Icmpv6Type.ECHO_REQUEST);
  assert.equal(readU16(quote, 44), 0x5555);
  assert.equal(readU16(quote, 46), 3);
});

Deno.test("IcmpNat keeps IPv4 and IPv6 forbidden states apart (EAFNOSUPPORT for IPv6 alone)", () => {
  const { nat, host, dispatcher, counters } = setup();
  host.openError = 97; // EAFNOSUPPORT: no IPv6 on the host
  nat.fromGuest(echo6Frame(REMOTE6, 8), 0);
  host.openError = 0;
  nat.fromGuest(echo6Frame(REMOTE6, 8), 1);
  dispatcher.handleFrame(echoRequestFrame(REMOTE, 8, 1, 1), 2);
  assert.equal(counters.get("icmp.nat_forbidden"), 2);
  assert.deepEqual(host.sent.map((s) => s.address), [REMOTE]);
});
