import assert from "node:assert/strict";
import { internetChecksum } from "../wire/checksum.ts";
import { IcmpType, IcmpUnreachable } from "../wire/icmp.ts";
import { IpProtocol } from "../wire/ipv4.ts";
import { Counters } from "./counters.ts";
import { Dispatcher } from "./dispatcher.ts";
import { GuestTx } from "./guest_tx.ts";
import { MemoryLink } from "./memory_link.ts";
import { fragment, joinFragments } from "./testdata/fragments.ts";
import { ADDRESSES, GUEST_IP, GUEST_MAC, ipv4Frame, udpFrame } from "./testdata/guest_frames.ts";
import {
  type HostUdpSockets,
  MAX_UDP_FLOWS,
  TFTP_PORT,
  UDP_DNS_IDLE_MS,
  UDP_EVICT_IDLE_MS,
  UDP_IDLE_MS,
  UDP_IPV6_MAX_PAYLOAD,
  UdpNat,
  type UdpNatOptions,
  udpPayloadOffsetOf,
} from "./udp_nat.ts";
import type { IpAddress } from "../wire/address.ts";
import { Icmpv6Type, Icmpv6Unreachable } from "../wire/icmpv6.ts";
import { IPV6_HEADER_LEN, Ipv6NextHeader } from "../wire/ipv6.ts";
import { readIpv6 } from "../wire/address.ts";
import { readU16 } from "../wire/view.ts";
import { seeded } from "./testdata/fragments.ts";
import {
  ADDRESSES6,
  GUEST6,
  readIpv6Sent,
  REMOTE6,
  udp6Frame,
  V6,
} from "./testdata/ipv6_frames.ts";
import { slirpMac } from "./slirp_mac.ts";

const REMOTE = 0xc6336402; // 198.51.100.2

class FakeHost implements HostUdpSockets {
  next = 100;
  open_ = new Set<number>();
  /** The family each socket was opened with. */
  families = new Map<number, 4 | 6>();
  sent: { handle: number; data: Uint8Array; address: IpAddress; port: number }[] = [];
  failOpen = 0;
  sendResult = 0;
  open(family: 4 | 6): number {
    if (this.failOpen) return -this.failOpen;
    const h = this.next++;
    this.open_.add(h);
    this.families.set(h, family);
    return h;
  }
  sendTo(
    handle: number,
    bytes: Uint8Array,
    offset: number,
    length: number,
    address: IpAddress,
    port: number,
  ) {
    assert.ok(this.open_.has(handle));
    assert.equal(typeof address === "bigint" ? 6 : 4, this.families.get(handle), "family");
    assert.ok(offset >= 0 && offset + length <= bytes.length, "reads inside the frame");
    this.sent.push({ handle, data: bytes.slice(offset, offset + length), address, port });
    return this.sendResult < 0 ? this.sendResult : length;
  }
  close(handle: number): void {
    assert.ok(this.open_.delete(handle), `double close ${handle}`);
  }
}

function setup(options: Partial<UdpNatOptions> = {}, mtu = 1500) {
  const counters = new Counters();
  const link = new MemoryLink();
  const host = new FakeHost();
  const dispatcher = new Dispatcher(ADDRESSES, mtu, link, counters);
  const tx: GuestTx = dispatcher.tx;
  const nat = new UdpNat(
    ADDRESSES6,
    { disableHostLoopback: false, disableDns: false, ...options },
    tx,
    host,
    counters,
  );
  // Route the dispatcher's UDP to the NAT, as network.ts does.
  const viaDispatcher = new Dispatcher(ADDRESSES, mtu, link, counters, {
    udp: (frame, now) => nat.fromGuest(frame, now),
  });
  /** Puts `data` where the host socket layer receives it, then hands it to the NAT. */
  const reply = (handle: number, src: IpAddress, srcPort: number, data: Uint8Array, now = 0) => {
    tx.frame.set(data, udpPayloadOffsetOf(src));
    nat.fromHost(handle, src, srcPort, data.length, now);
  };
  return { nat, host, link, counters, tx, dispatcher: viaDispatcher, reply };
}

/** Fields of a UDP frame sent to the guest (20-byte IP header). */
function readUdp(frame: Uint8Array) {
  const v = new DataView(frame.buffer, frame.byteOffset);
  const udpLength = v.getUint16(38);
  return {
    dstMac: frame.slice(0, 6),
    src: v.getUint32(26),
    dst: v.getUint32(30),
    srcPort: v.getUint16(34),
    dstPort: v.getUint16(36),
    data: frame.slice(42, 34 + udpLength),
    checksumOk: internetChecksum(frame, 14, 20) === 0 && udpChecksumOk(frame),
  };
}

function udpChecksumOk(frame: Uint8Array): boolean {
  const v = new DataView(frame.buffer, frame.byteOffset);
  const len = v.getUint16(38);
  const pseudo = new Uint8Array(12 + len + (len & 1));
  pseudo.set(frame.subarray(26, 34), 0);
  pseudo[9] = IpProtocol.UDP;
  pseudo[10] = len >> 8;
  pseudo[11] = len & 0xff;
  pseudo.set(frame.subarray(34, 34 + len), 12);
  return internetChecksum(pseudo, 0, pseudo.length) === 0;
}

const data = (text: string) => new TextEncoder().encode(text);

Deno.test("UdpNat sends guest datagrams from one host socket per guest endpoint", () => {
  const { dispatcher, host, nat, counters } = setup();
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, REMOTE, 7, data("a")), 0);
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, 0xcb007101, 9, data("b")), 1);
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5001, REMOTE, 7, data("c")), 2);
  assert.equal(nat.flows, 2);
  assert.deepEqual(
    host.sent.map((s) => [s.handle, s.address, s.port, new TextDecoder().decode(s.data)]),
    [[100, REMOTE, 7, "a"], [100, 0xcb007101, 9, "b"], [101, REMOTE, 7, "c"]],
  );
  assert.equal(counters.get("udp.nat_sent"), 3);
  assert.equal(counters.get("udp.nat_flow_created"), 2);
});

Deno.test("UdpNat delivers replies from any sender to the guest port, with valid checksums", () => {
  const { dispatcher, link, reply } = setup();
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, REMOTE, 7, data("ping")), 0);
  reply(100, REMOTE, 7, data("pong"));
  reply(100, 0xcb007102, 3478, data("from elsewhere")); // endpoint-independent filtering
  const frames = link.take().map(readUdp);
  assert.equal(frames.length, 2);
  assert.deepEqual(frames[0].dstMac, GUEST_MAC);
  assert.equal(frames[0].src, REMOTE);
  assert.equal(frames[0].dst, GUEST_IP);
  assert.equal(frames[0].srcPort, 7);
  assert.equal(frames[0].dstPort, 5000);
  assert.equal(new TextDecoder().decode(frames[0].data), "pong");
  assert.ok(frames[0].checksumOk);
  assert.equal(frames[1].src, 0xcb007102);
  assert.ok(frames[1].checksumOk);
});

Deno.test("UdpNat maps the gateway to 127.0.0.1 and loopback senders back to the gateway", () => {
  const { dispatcher, host, link, reply } = setup();
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, ADDRESSES.gateway, 7777, data("x")), 0);
  assert.equal(host.sent[0].address, 0x7f000001);
  assert.equal(host.sent[0].port, 7777);
  reply(100, 0x7f000001, 7777, data("y"));
  const [frame] = link.take().map(readUdp);
  assert.equal(frame.src, ADDRESSES.gateway);
  assert.equal(frame.srcPort, 7777);
});

Deno.test("UdpNat with --disable-host-loopback refuses the gateway with ICMP net unreachable", () => {
  const { dispatcher, host, link, counters, reply } = setup({ disableHostLoopback: true });
  const request = udpFrame(GUEST_IP, 5000, ADDRESSES.gateway, 7777, data("x"));
  dispatcher.handleFrame(request, 0);
  assert.equal(host.sent.length, 0);
  const [icmp] = link.take();
  assert.equal(icmp[23], IpProtocol.ICMP);
  assert.equal(icmp[34], IcmpType.DEST_UNREACHABLE);
  assert.equal(icmp[35], IcmpUnreachable.NET);
  assert.deepEqual(icmp.subarray(42, 42 + 28), request.subarray(14, 42), "quotes header + 8");
  assert.equal(counters.get("udp.nat_host_loopback_refused"), 1);
  // A host process on 127.0.0.1 cannot reach the guest through a flow either.
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, REMOTE, 7, data("x")), 0);
  reply(100, 0x7f000001, 53, data("sneaky"));
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("udp.nat_reply_dropped"), 1);
});

Deno.test("UdpNat drops other ports of the DNS address, and NATs it with --disable-dns", () => {
  const drop = setup();
  drop.dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, ADDRESSES.dns, 123, data("x")), 0);
  assert.equal(drop.host.sent.length, 0);
  assert.equal(drop.counters.get("udp.dns_other_port"), 1);
  const nat = setup({ disableDns: true });
  // Without a dns forwarder the dispatcher gives port 53 to the UDP NAT too.
  nat.dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, ADDRESSES.dns, 53, data("q")), 0);
  nat.dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, ADDRESSES.dns, 123, data("r")), 0);
  assert.deepEqual(nat.host.sent.map((s) => [s.address, s.port]), [
    [ADDRESSES.dns, 53],
    [ADDRESSES.dns, 123],
  ]);
});

Deno.test("UdpNat forwards zero-length datagrams both ways", () => {
  const { dispatcher, host, link, reply } = setup();
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, REMOTE, 7, new Uint8Array(0)), 0);
  assert.equal(host.sent[0].data.length, 0);
  reply(100, REMOTE, 7, new Uint8Array(0));
  const [frame] = link.take();
  const udp = readUdp(frame);
  assert.equal(udp.data.length, 0);
  assert.ok(udp.checksumOk);
  assert.equal(frame.length, 60, "padded to the Ethernet minimum");
});

Deno.test("UdpNat fragments a reply larger than the MTU, and relays a reassembled datagram", () => {
  const { dispatcher, host, link, reply } = setup();
  const big = new Uint8Array(4000).map((_, i) => (i * 31) & 0xff);
  const whole = udpFrame(GUEST_IP, 5000, REMOTE, 7, big);
  whole[20] = 0;
  whole[24] = whole[25] = 0;
  const sum = internetChecksum(whole, 14, 20);
  whole[24] = sum >> 8;
  whole[25] = sum & 0xff;
  for (const part of fragment(whole, 1480)) dispatcher.handleFrame(part, 0);
  assert.deepEqual(host.sent[0].data, big);
  reply(100, REMOTE, 7, big);
  const frames = link.take();
  assert.equal(frames.length, 3);
  const joined = readUdp(joinFragments(frames));
  assert.deepEqual(joined.data, big);
  assert.ok(joined.checksumOk);
});

Deno.test("UdpNat answers TFTP requests to the gateway with Access violation, drops the rest", () => {
  const { dispatcher, host, link, counters } = setup();
  const rrq = new Uint8Array([0, 1, ...data("file"), 0, ...data("octet"), 0]);
  dispatcher.handleFrame(udpFrame(GUEST_IP, 4000, ADDRESSES.gateway, TFTP_PORT, rrq), 0);
  // Lengths past the end, truncated, unterminated, other opcodes: no parser, no reply.
  for (const payload of [[0], [], [0, 1, 0x61], [0, 3, 0, 1], [0xff, 0xff, 1, 2, 3]]) {
    dispatcher.handleFrame(
      udpFrame(GUEST_IP, 4000, ADDRESSES.gateway, TFTP_PORT, new Uint8Array(payload)),
      0,
    );
  }
  assert.equal(host.sent.length, 0, "never forwarded to the host's port 69");
  const frames = link.take().map(readUdp);
  // [0, 1, 0x61] is an RRQ opcode with an unterminated name: refused like any RRQ.
  assert.equal(frames.length, 2);
  assert.equal(frames[0].srcPort, TFTP_PORT);
  assert.equal(frames[0].dstPort, 4000);
  assert.equal(frames[0].src, ADDRESSES.gateway);
  assert.deepEqual(Array.from(frames[0].data.subarray(0, 4)), [0, 5, 0, 2]);
  assert.equal(new TextDecoder().decode(frames[0].data.subarray(4, -1)), "Access violation");
  assert.ok(frames[0].checksumOk);
  assert.equal(counters.get("udp.tftp_refused"), 2);
  assert.equal(counters.get("udp.tftp_dropped"), 4);
});

Deno.test("UdpNat turns host ICMP errors into errors to the guest quoting its own header", () => {
  const { dispatcher, link, nat, counters } = setup();
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, ADDRESSES.gateway, 9, data("x")), 0);
  nat.hostError(100, {
    errno: 111,
    fromIcmp: true,
    icmpType: 3,
    icmpCode: 3,
    info: 0,
    offender: 0x7f000001,
    dst: 0x7f000001,
    dstPort: 9,
    payloadLength: 1,
  });
  const [frame] = link.take();
  const v = new DataView(frame.buffer);
  assert.equal(frame[23], IpProtocol.ICMP);
  assert.equal(v.getUint32(26), ADDRESSES.gateway, "loopback offender shown as the gateway");
  assert.equal(v.getUint32(30), GUEST_IP);
  assert.equal(frame[34], 3);
  assert.equal(frame[35], 3);
  assert.equal(internetChecksum(frame, 34, frame.length - 34 > 36 ? 36 : frame.length - 34), 0);
  // The quote: guest → gateway, UDP 5000 → 9: what the guest's kernel matches its socket with.
  assert.equal(v.getUint32(42 + 12), GUEST_IP);
  assert.equal(v.getUint32(42 + 16), ADDRESSES.gateway);
  assert.equal(frame[42 + 9], IpProtocol.UDP);
  assert.equal(v.getUint16(62), 5000);
  assert.equal(v.getUint16(64), 9);
  assert.equal(counters.get("udp.nat_icmp_error"), 1);
  // Errors that are not about reachability, and unknown handles, give nothing.
  nat.hostError(100, {
    errno: 0,
    fromIcmp: true,
    icmpType: 5,
    icmpCode: 0,
    info: 0,
    offender: 1,
    dst: REMOTE,
    dstPort: 9,
    payloadLength: 0,
  });
  nat.hostError(999, {
    errno: 111,
    fromIcmp: true,
    icmpType: 3,
    icmpCode: 3,
    info: 0,
    offender: 1,
    dst: REMOTE,
    dstPort: 9,
    payloadLength: 0,
  });
  assert.equal(link.take().length, 0);
});

Deno.test("UdpNat answers failed sends like libslirp, but not a full buffer", () => {
  const { dispatcher, host, link, counters } = setup();
  host.sendResult = -101; // ENETUNREACH
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, REMOTE, 7, data("x")), 0);
  host.sendResult = -105; // ENOBUFS
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, REMOTE, 7, data("x")), 0);
  const frames = link.take();
  assert.equal(frames.length, 1);
  assert.equal(frames[0][35], IcmpUnreachable.NET);
  assert.equal(counters.get("udp.nat_send_error"), 2);
});

Deno.test("UdpNat expires idle flows, DNS-only ones sooner, and closes their sockets", () => {
  const { dispatcher, host, nat, counters, reply } = setup();
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, REMOTE, 53, data("q")), 0);
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5001, REMOTE, 123, data("ntp")), 0);
  nat.expire(UDP_DNS_IDLE_MS - 1);
  assert.equal(nat.flows, 2);
  nat.expire(UDP_DNS_IDLE_MS);
  assert.equal(nat.flows, 1);
  reply(101, REMOTE, 123, data("r"), UDP_IDLE_MS - 1000); // replies keep a flow alive
  nat.expire(UDP_IDLE_MS);
  assert.equal(nat.flows, 1);
  nat.expire(2 * UDP_IDLE_MS);
  assert.equal(nat.flows, 0);
  assert.equal(host.open_.size, 0);
  assert.equal(counters.get("udp.nat_flow_expired"), 2);
});

Deno.test("UdpNat keeps at most MAX_UDP_FLOWS, replacing only idle ones", () => {
  const { nat, host, counters } = setup();
  const send = (port: number, now: number) =>
    nat.fromGuest(udpFrame(GUEST_IP, port, REMOTE, 7, data("x")), now);
  for (let port = 1; port <= MAX_UDP_FLOWS; port++) send(port, 0);
  assert.equal(nat.flows, MAX_UDP_FLOWS);
  send(60000, 1);
  assert.equal(counters.get("udp.nat_flow_limit"), 1);
  send(60000, UDP_EVICT_IDLE_MS);
  assert.equal(nat.flows, MAX_UDP_FLOWS);
  assert.equal(host.open_.size, MAX_UDP_FLOWS);
  nat.close();
  assert.equal(host.open_.size, 0);
});

Deno.test("UdpNat counts a refused socket and sends nothing", () => {
  const { dispatcher, host, counters, link } = setup();
  host.failOpen = 24; // EMFILE
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, REMOTE, 7, data("x")), 0);
  assert.equal(counters.get("udp.nat_socket_error"), 1);
  assert.equal(link.take().length, 0);
});

Deno.test("UdpNat drops replies from impossible senders and for unknown sockets", () => {
  const { dispatcher, link, counters, reply } = setup();
  dispatcher.handleFrame(udpFrame(GUEST_IP, 5000, REMOTE, 7, data("x")), 0);
  reply(100, 0, 7, data("a"));
  reply(100, 0xe0000001, 7, data("b"));
  reply(100, 0xffffffff, 7, data("c"));
  reply(555, REMOTE, 7, data("d"));
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("udp.nat_reply_dropped"), 4);
});

Deno.test("UDP bad input (CVE-2021-3594 class) never reaches the NAT; a short UDP length is honoured", () => {
  const { dispatcher, host, counters, link } = setup();
  // IP payload shorter than a UDP header.
  for (let length = 0; length < 8; length++) {
    dispatcher.handleFrame(ipv4Frame(new Uint8Array(length), IpProtocol.UDP, GUEST_IP, REMOTE), 0);
  }
  assert.equal(counters.get("udp.truncated"), 8);
  // UDP length above the datagram, or below its own header.
  for (const udpLength of [0, 7, 14, 65535]) {
    const frame = udpFrame(GUEST_IP, 5000, REMOTE, 7, data("hello"));
    frame[38] = udpLength >>> 8;
    frame[39] = udpLength & 0xff;
    frame[40] = frame[41] = 0; // no checksum: only the length is wrong
    dispatcher.handleFrame(frame, 0);
  }
  assert.equal(counters.get("udp.bad_length"), 4);
  assert.equal(host.sent.length, 0);
  // UDP length below the IP payload: the rest is padding and is not forwarded (RFC 768).
  const short = udpFrame(GUEST_IP, 5000, REMOTE, 7, data("hello, trailing junk"));
  short[38] = 0;
  short[39] = 8 + 5;
  short[40] = short[41] = 0;
  dispatcher.handleFrame(short, 0);
  assert.equal(new TextDecoder().decode(host.sent[0].data), "hello");
  assert.equal(link.take().length, 0);
});

// --- IPv6 ---

/** An address of fd00::/64 by its interface identifier. */
const inPrefix = (iid: bigint) => V6.prefix | iid;

Deno.test("UdpNat sends IPv6 datagrams from an AF_INET6 socket per guest endpoint", () => {
  const { nat, host, counters } = setup();
  nat.fromGuest(udp6Frame(GUEST6, REMOTE6, 5000, 7, data("one")), 0);
  nat.fromGuest(udp6Frame(GUEST6, REMOTE6 + 1n, 5000, 8, data("two")), 0);
  nat.fromGuest(udp6Frame(GUEST6, REMOTE6, 5001, 7, data("three")), 0);
  // An IPv4 endpoint with the same port is a flow of its own.
  nat.fromGuest(udpFrame(GUEST_IP, 5000, REMOTE, 7, data("four")), 0);
  assert.deepEqual(
    host.sent.map((s) => [s.handle, s.address, s.port, new TextDecoder().decode(s.data)]),
    [
      [100, REMOTE6, 7, "one"],
      [100, REMOTE6 + 1n, 8, "two"],
      [101, REMOTE6, 7, "three"],
      [102, REMOTE, 7, "four"],
    ],
  );
  assert.deepEqual([...host.families.values()], [6, 6, 4]);
  assert.equal(nat.flows, 3);
  assert.equal(counters.get("udp.nat_sent"), 4);
});

Deno.test("UdpNat delivers IPv6 replies from any sender with a valid checksum, to the guest's MAC", () => {
  const { nat, link, reply, counters } = setup();
  nat.fromGuest(udp6Frame(GUEST6, REMOTE6, 5000, 7, data("ping")), 0);
  reply(100, REMOTE6, 7, data("pong"));
  reply(100, REMOTE6 + 9n, 1234, data("other sender (endpoint-independent filtering)"));
  const sent = link.take().map((f) => readIpv6Sent([f]));
  assert.equal(sent.length, 2);
  const [first, second] = sent;
  assert.deepEqual(first.dstMac, GUEST_MAC);
  assert.deepEqual(first.srcMac, slirpMac(ADDRESSES.gateway));
  assert.equal(first.src, REMOTE6);
  assert.equal(first.dst, GUEST6);
  assert.equal(first.nextHeader, Ipv6NextHeader.UDP);
  assert.equal(first.hopLimit, 64);
  assert.ok(first.checksumOk);
  assert.equal(readU16(first.payload, 0), 7);
  assert.equal(readU16(first.payload, 2), 5000);
  assert.equal(new TextDecoder().decode(first.payload.subarray(8)), "pong");
  assert.equal(second.src, REMOTE6 + 9n);
  assert.equal(readU16(second.payload, 0), 1234);
  assert.ok(second.checksumOk);
  assert.equal(counters.get("udp.nat_received"), 2);
});

Deno.test("UdpNat maps fd00::2 and other fd00::/64 addresses but fd00::3 to ::1, replies come from the address used", () => {
  const { nat, host, link, reply, counters } = setup();
  nat.fromGuest(udp6Frame(GUEST6, V6.gateway, 5000, 7, data("a")), 0);
  nat.fromGuest(udp6Frame(GUEST6, inPrefix(0x1234n), 5000, 8, data("b")), 0);
  nat.fromGuest(udp6Frame(GUEST6, V6.dns, 5000, 9, data("dns, other port")), 0);
  assert.deepEqual(host.sent.map((s) => [s.address, s.port]), [[1n, 7], [1n, 8]]);
  assert.equal(counters.get("udp.dns_other_port"), 1);
  reply(100, 1n, 7, data("from ::1:7"));
  reply(100, 1n, 8, data("from ::1:8"));
  const sent = link.take().map((f) => readIpv6Sent([f]));
  assert.deepEqual(sent.map((p) => p.src), [V6.gateway, inPrefix(0x1234n)]);
  assert.ok(sent.every((p) => p.checksumOk));
  // The last alias per port wins: fd00::2 again on port 8.
  nat.fromGuest(udp6Frame(GUEST6, V6.gateway, 5000, 8, data("c")), 0);
  reply(100, 1n, 8, data("from ::1:8 again"));
  assert.equal(readIpv6Sent(link.take()).src, V6.gateway);
});

Deno.test("UdpNat with --disable-dns sends fd00::3 to ::1 too, never to a real fd00::3", () => {
  const { nat, host } = setup({ disableDns: true });
  nat.fromGuest(udp6Frame(GUEST6, V6.dns, 5000, 53, data("q")), 0);
  assert.deepEqual(host.sent.map((s) => [s.address, s.port]), [[1n, 53]]);
});

Deno.test("UdpNat never makes an address of fd00::/64 a host socket's destination", () => {
  for (const options of [{}, { disableDns: true }, { disableHostLoopback: true }]) {
    const { nat, host, counters } = setup(options);
    const random = seeded(0x6e6174);
    const word = () => BigInt(Math.floor(random() * 0x10000));
    const destinations: bigint[] = [V6.gateway, V6.dns, V6.prefix, V6.prefix | 0xffffffffffffffffn];
    for (let i = 0; i < 500; i++) {
      destinations.push(V6.prefix | (word() << 48n) | (word() << 32n) | (word() << 16n) | word());
    }
    // Link-local, multicast, unspecified, loopback, IPv4-mapped: dropped and counted.
    const special = [
      0xfe80n << 112n | 2n,
      0xff02n << 112n | 1n,
      0n,
      1n,
      0xffffn << 32n | 0x7f000001n,
    ];
    let port = 1;
    for (const dst of [...destinations, ...special]) {
      nat.fromGuest(udp6Frame(GUEST6, dst, 5000, port++, data("x")), 0);
    }
    for (const { address } of host.sent) {
      assert.ok(
        address === 1n || (typeof address === "bigint" && address >> 64n !== V6.prefix >> 64n),
        `sent to ${address.toString(16)}`,
      );
    }
    assert.equal(counters.get("udp.nat_bad_destination"), special.length);
    assert.ok(host.sent.every((s) => s.address === 1n));
  }
});

Deno.test("UdpNat with --disable-host-loopback refuses fd00::/64 with ICMPv6 no route, quoting the datagram", () => {
  const { nat, host, link, counters } = setup({ disableHostLoopback: true });
  const frame = udp6Frame(GUEST6, inPrefix(0x42n), 5000, 7777, data("hello"));
  nat.fromGuest(frame, 0);
  assert.equal(host.sent.length, 0);
  const error = readIpv6Sent(link.take());
  assert.equal(error.nextHeader, Ipv6NextHeader.ICMPV6);
  assert.equal(error.src, inPrefix(0x42n));
  assert.equal(error.dst, GUEST6);
  assert.equal(error.payload[0], Icmpv6Type.DEST_UNREACHABLE);
  assert.equal(error.payload[1], Icmpv6Unreachable.NO_ROUTE);
  assert.ok(error.checksumOk);
  // RFC 4443 §2.4 (c): the whole offending packet fits, so all of it is quoted.
  assert.deepEqual(error.payload.subarray(8), frame.subarray(14));
  assert.equal(counters.get("udp.nat_host_loopback_refused"), 1);
  // Replies from ::1 are refused too (a forward flow aside).
  nat.fromGuest(udp6Frame(GUEST6, REMOTE6, 5000, 7, data("x")), 0);
  nat.fromHost(100, 1n, 7, 0, 0);
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("udp.nat_reply_dropped"), 1);
});

Deno.test("UdpNat drops IPv6 replies from senders the guest cannot tell from its own network", () => {
  const { nat, link, reply, counters } = setup();
  nat.fromGuest(udp6Frame(GUEST6, REMOTE6, 5000, 7, data("x")), 0);
  for (const src of [inPrefix(0x77n), 0xfe80n << 112n | 1n, 0xff02n << 112n | 1n, 0n]) {
    reply(100, src, 7, data("spoof"));
  }
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("udp.nat_reply_dropped"), 4);
});

Deno.test("UdpNat fragments an IPv6 reply above the MTU (RFC 8200 §4.5), up to 65527 bytes", () => {
  const { nat, link, reply } = setup({}, 1500);
  nat.fromGuest(udp6Frame(GUEST6, REMOTE6, 5000, 7, data("x")), 0);
  for (const length of [3000, UDP_IPV6_MAX_PAYLOAD]) {
    const payload = Uint8Array.from({ length }, (_, i) => (i * 13) & 0xff);
    reply(100, REMOTE6, 7, payload);
    const frames = link.take();
    assert.ok(frames.length > 1);
    assert.ok(frames.every((f) => f.length <= 1514));
    const sent = readIpv6Sent(frames);
    assert.equal(sent.nextHeader, Ipv6NextHeader.UDP);
    assert.ok(sent.checksumOk);
    assert.deepEqual(sent.payload.subarray(8), payload);
  }
});

Deno.test("UdpNat answers TFTP requests to fd00::2 with Access violation over IPv6", () => {
  const { nat, host, link } = setup();
  nat.fromGuest(
    udp6Frame(GUEST6, V6.gateway, 4000, TFTP_PORT, data("\x00\x01file\x00octet\x00")),
    0,
  );
  assert.equal(host.sent.length, 0);
  const sent = readIpv6Sent(link.take());
  assert.equal(sent.src, V6.gateway);
  assert.equal(readU16(sent.payload, 0), TFTP_PORT);
  assert.equal(readU16(sent.payload, 2), 4000);
  assert.equal(new TextDecoder().decode(sent.payload.subarray(12, -1)), "Access violation");
  assert.ok(sent.checksumOk);
});

Deno.test("UdpNat relays host ICMPv6 errors as ICMPv6 errors quoting the guest's datagram", () => {
  const { nat, link, counters } = setup();
  nat.fromGuest(udp6Frame(GUEST6, REMOTE6, 5000, 9, data("xyz")), 0);
  const hostError = {
    errno: 111,
    fromIcmp: true,
    icmpType: Icmpv6Type.DEST_UNREACHABLE,
    icmpCode: Icmpv6Unreachable.PORT,
    info: 0,
    offender: REMOTE6,
    dst: REMOTE6,
    dstPort: 9,
    payloadLength: 3,
  };
  nat.hostError(100, hostError);
  const error = readIpv6Sent(link.take());
  assert.equal(error.src, REMOTE6);
  assert.equal(error.dst, GUEST6);
  assert.deepEqual([error.payload[0], error.payload[1]], [1, 4]);
  assert.ok(error.checksumOk);
  // The quote: an IPv6 header guest → remote with a UDP header 5000 → 9.
  const quote = error.payload.subarray(8);
  assert.equal(quote.length, IPV6_HEADER_LEN + 8);
  assert.equal(quote[0] >> 4, 6);
  assert.equal(quote[6], Ipv6NextHeader.UDP);
  assert.equal(readIpv6(quote, 8), GUEST6);
  assert.equal(readIpv6(quote, 24), REMOTE6);
  assert.equal(readU16(quote, 40), 5000);
  assert.equal(readU16(quote, 42), 9);
  assert.equal(readU16(quote, 44), 8 + 3);
  // Packet too big keeps its MTU; a local ECONNREFUSED (from ::1) becomes port unreachable
  // from the address the guest used; parameter problems are not relayed.
  nat.hostError(100, {
    ...hostError,
    icmpType: Icmpv6Type.PACKET_TOO_BIG,
    icmpCode: 0,
    info: 1400,
  });
  const tooBig = readIpv6Sent(link.take());
  assert.deepEqual([tooBig.payload[0], readU16(tooBig.payload, 6)], [2, 1400]);
  nat.fromGuest(udp6Frame(GUEST6, inPrefix(0x99n), 5000, 9, data("x")), 0);
  nat.hostError(100, { ...hostError, fromIcmp: false, offender: null, dst: 1n });
  const local = readIpv6Sent(link.take());
  assert.equal(local.src, inPrefix(0x99n));
  assert.deepEqual([local.payload[0], local.payload[1]], [1, Icmpv6Unreachable.PORT]);
  nat.hostError(100, { ...hostError, icmpType: Icmpv6Type.PARAMETER_PROBLEM });
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("udp.nat_icmp_error"), 3);
});

Deno.test("UdpNat answers a failed IPv6 send with the ICMPv6 code of the errno", () => {
  const { nat, host, link } = setup();
  host.sendResult = -113; // EHOSTUNREACH
  nat.fromGuest(udp6Frame(GUEST6, REMOTE6, 5000, 7, data("x")), 0);
  host.sendResult = -11; // EAGAIN: a loss like any other
  nat.fromGuest(udp6Frame(GUEST6, REMOTE6, 5000, 7, data("x")), 0);
  const frames = link.take();
  assert.equal(frames.length, 1);
  const error = readIpv6Sent(frames);
  assert.deepEqual([error.payload[0], error.payload[1]], [1, Icmpv6Unreachable.ADDRESS]);
  assert.equal(error.src, REMOTE6);
});

Deno.test("UdpNat sends an IPv6 reply to a port forward's client back through the forward first", () => {
  const { nat, host, counters } = setup({ disableHostLoopback: true });
  const toClient: string[] = [];
  const asked: unknown[][] = [];
  nat.forwardFlow = (guestAddr, guestPort, dstAddr, dstPort) => {
    asked.push([guestAddr, guestPort, dstAddr, dstPort]);
    return dstPort === 40000
      ? { sendToClient: (p: Uint8Array) => toClient.push(new TextDecoder().decode(p)) }
      : undefined;
  };
  // The client appears as fd00::2:40000; even with --disable-host-loopback the reply goes back.
  nat.fromGuest(udp6Frame(GUEST6, V6.gateway, 53, 40000, data("answer")), 0);
  assert.deepEqual(toClient, ["answer"]);
  assert.deepEqual(asked, [[GUEST6, 53, V6.gateway, 40000]]);
  assert.equal(counters.get("udp.forward_reply"), 1);
  assert.equal(host.sent.length, 0);
  // Not a forward's client: the usual rules (refused here).
  nat.fromGuest(udp6Frame(GUEST6, V6.gateway, 53, 40001, data("other")), 0);
  assert.equal(counters.get("udp.nat_host_loopback_refused"), 1);
});
