import assert from "node:assert/strict";
import { finishChecksum, pseudoHeaderSumAt, sumBytes } from "../wire/checksum.ts";
import { EthernetFrame } from "../wire/ethernet.ts";
import {
  Icmpv6Message,
  Icmpv6Type,
  NdpOptions,
  NeighborFlag,
  parseMtuOption,
  parsePrefixOption,
  parseRdnssOption,
} from "../wire/icmpv6.ts";
import { Ipv6NextHeader, Ipv6Packet } from "../wire/ipv6.ts";
import { FragmentHeader, Ipv6ExtensionHeaders } from "../wire/ipv6_ext.ts";
import { RxOffload } from "../wire/virtio_net.ts";
import {
  DAD_NEIGHBOR_SOLICITATION,
  MLDV2_REPORT_FROM_UNSPECIFIED,
  ROUTER_SOLICITATION,
} from "../wire/testdata/ipv6_captured.ts";
import { type CounterName, Counters } from "./counters.ts";
import { Dispatcher } from "./dispatcher.ts";
import type { Forwarders } from "./forwarders.ts";
import { Ipv6Reassembler } from "./ipv6_reassembly.ts";
import { MemoryLink } from "./memory_link.ts";
import {
  INITIAL_RTR_ADVERT_INTERVAL_MS,
  MAX_RA_DELAY_TIME_MS,
  MAX_RTR_ADV_INTERVAL_MS,
  MIN_DELAY_BETWEEN_RAS_MS,
  MIN_RTR_ADV_INTERVAL_MS,
} from "./ndp.ts";
import { ADDRESSES, DNS_MAC, GATEWAY_MAC, GUEST_MAC } from "./testdata/guest_frames.ts";
import {
  ADDRESSES6,
  ALL_NODES,
  echo6Frame,
  fragment6,
  fragment6Of,
  GUEST6,
  GUEST_LINK_LOCAL,
  ipv6Frame,
  neighborAdvertisementFrame,
  neighborSolicitationFrame,
  routerSolicitationFrame,
  udp6Frame,
  V6,
} from "./testdata/ipv6_frames.ts";

const REMOTE = 0x2001_0db8n << 112n | 1n;
const ALL_NODES_MAC = Uint8Array.of(0x33, 0x33, 0, 0, 0, 1);

interface Handed {
  kind: "tcp" | "udp" | "dns" | "icmp";
  frame: Uint8Array;
}

function setup(mtu = 1500, ipv6 = true) {
  const link = new MemoryLink();
  const counters = new Counters();
  const handed: Handed[] = [];
  const forward: Forwarders = {
    tcp: (frame) => handed.push({ kind: "tcp", frame: frame.slice() }),
    udp: (frame) => handed.push({ kind: "udp", frame: frame.slice() }),
    dns: (frame) => handed.push({ kind: "dns", frame: frame.slice() }),
    icmp: (frame) => handed.push({ kind: "icmp", frame: frame.slice() }),
  };
  const dispatcher = new Dispatcher(ipv6 ? ADDRESSES6 : ADDRESSES, mtu, link, counters, forward);
  const counted = () => {
    const c = counters.nonZero() as Record<string, number>;
    delete c["frame.received"];
    delete c["tx.frame"];
    delete c["ndp.learned"];
    return c;
  };
  return { link, counters, dispatcher, handed, counted };
}

/** The IPv6 header and ICMPv6 message of a frame the stack sent, checked. */
function readIcmpv6(frame: Uint8Array) {
  const ip = new Ipv6Packet().wrap(frame, 14, frame.length - 14);
  assert.equal(ip.check(), "ok");
  assert.equal(ip.nextHeader, Ipv6NextHeader.ICMPV6);
  const icmp = new Icmpv6Message().wrap(frame, 54, ip.payloadLength);
  assert.equal(icmp.check(), "ok");
  assert.ok(icmp.verifyChecksum(pseudoHeaderSumAt(frame, 14, 58, icmp.length)), "checksum");
  const options = new NdpOptions();
  if (icmp.type >= 133 && icmp.type <= 136) {
    assert.equal(options.parse(frame, icmp.optionsOffset, icmp.optionsLength), "ok");
  }
  return { ip, icmp, options };
}

function assertDropped(frame: Uint8Array, reason: CounterName, ipv6 = true) {
  const { link, dispatcher, handed, counted } = setup(1500, ipv6);
  dispatcher.handleFrame(frame, 0);
  assert.equal(link.take().length, 0, reason);
  assert.equal(handed.length, 0, reason);
  assert.deepEqual(counted(), { [reason]: 1 });
}

/** Checks a router advertisement: our fixed contents, and where it went. */
function assertRouterAdvertisement(frame: Uint8Array, dst: bigint, mtu = 1500) {
  assert.deepEqual(frame.subarray(6, 12), GATEWAY_MAC);
  const { ip, icmp, options } = readIcmpv6(frame);
  assert.equal(ip.src, V6.routerLinkLocal);
  assert.equal(ip.dst, dst);
  assert.equal(ip.hopLimit, 255);
  assert.equal(icmp.type, Icmpv6Type.ROUTER_ADVERTISEMENT);
  assert.equal(icmp.curHopLimit, 64);
  assert.equal(icmp.routerFlags, 0);
  assert.equal(icmp.routerLifetime, 1800);
  assert.equal(icmp.reachableTime, 0);
  assert.equal(icmp.retransTimer, 0);
  assert.deepEqual(
    frame.subarray(options.sourceMacOffset, options.sourceMacOffset + 6),
    GATEWAY_MAC,
  );
  if (mtu >= 1280) assert.equal(parseMtuOption(frame, options.mtuOffset), mtu);
  else assert.equal(options.mtuOffset, -1);
  assert.deepEqual(parsePrefixOption(frame, options.prefixOffset), {
    prefixLength: 64,
    onLink: true,
    autonomous: true,
    validLifetime: 86400,
    preferredLifetime: 14400,
    prefix: V6.prefix,
  });
  assert.deepEqual(parseRdnssOption(frame, options.rdnssOffset), {
    lifetime: 1200,
    servers: [V6.dns],
  });
}

Deno.test("Dispatcher without -6 drops IPv6 and sends no router advertisement", () => {
  assertDropped(echo6Frame(V6.gateway, 8), "ipv6.unsupported", false);
  assertDropped(ROUTER_SOLICITATION, "ipv6.unsupported", false);
  const { dispatcher, link } = setup(1500, false);
  dispatcher.start(0);
  assert.equal(dispatcher.nextDeadline, Infinity);
  dispatcher.tick(1e9);
  assert.equal(link.take().length, 0);
  assert.equal(dispatcher.ndp, null);
});

Deno.test("router advertisements: three at start 4 s apart, then every 200..600 s", () => {
  const { dispatcher, link, counted } = setup(9000);
  assert.equal(dispatcher.nextDeadline, Infinity, "nothing before start");
  dispatcher.start(1000);
  assert.equal(dispatcher.nextDeadline, 1000);
  dispatcher.tick(999);
  assert.equal(link.take().length, 0);
  let now = 1000;
  for (let i = 0; i < 3; i++) {
    dispatcher.tick(now);
    const frames = link.take();
    assert.equal(frames.length, 1, `RA ${i}`);
    assert.deepEqual(frames[0].subarray(0, 6), ALL_NODES_MAC);
    assertRouterAdvertisement(frames[0], ALL_NODES, 9000);
    const next: number = dispatcher.nextDeadline;
    if (i < 2) assert.equal(next, now + INITIAL_RTR_ADVERT_INTERVAL_MS);
    else {
      assert.ok(next >= now + MIN_RTR_ADV_INTERVAL_MS, `${next - now}`);
      assert.ok(next <= now + MAX_RTR_ADV_INTERVAL_MS, `${next - now}`);
    }
    now = next;
  }
  assert.deepEqual(counted(), { "ndp.ra_sent": 3 });
});

Deno.test("the MTU option is left out below 1280", () => {
  const { dispatcher, link } = setup(1000);
  dispatcher.start(0);
  dispatcher.tick(0);
  assertRouterAdvertisement(link.take()[0], ALL_NODES, 1000);
});

Deno.test("a router solicitation is answered unicast within MAX_RA_DELAY_TIME", () => {
  const { dispatcher, link, counted } = setup();
  dispatcher.handleFrame(ROUTER_SOLICITATION, 100);
  assert.ok(dispatcher.nextDeadline <= 100 + MAX_RA_DELAY_TIME_MS);
  // A second solicitation shares the pending answer.
  dispatcher.handleFrame(ROUTER_SOLICITATION, 150);
  dispatcher.tick(100 + MAX_RA_DELAY_TIME_MS);
  const frames = link.take();
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0].subarray(0, 6), GUEST_MAC);
  assertRouterAdvertisement(frames[0], GUEST_LINK_LOCAL);
  assert.equal(dispatcher.nextDeadline, Infinity);
  assert.deepEqual(counted(), { "ndp.rs": 2, "ndp.ra_sent": 1 });
  assert.ok(
    dispatcher.neighbors.has(GUEST_LINK_LOCAL),
    "learned from the source link-layer option",
  );
});

Deno.test("a router solicitation from :: gets a multicast answer, rate limited", () => {
  const { dispatcher, link } = setup();
  dispatcher.start(0);
  dispatcher.tick(0);
  link.take();
  dispatcher.handleFrame(routerSolicitationFrame(0n), 1000);
  // Not before MIN_DELAY_BETWEEN_RAS after the last multicast one.
  dispatcher.tick(MIN_DELAY_BETWEEN_RAS_MS - 1);
  assert.equal(link.take().length, 0);
  dispatcher.tick(MIN_DELAY_BETWEEN_RAS_MS);
  const frames = link.take();
  assert.equal(frames.length, 1);
  assertRouterAdvertisement(frames[0], ALL_NODES);
});

Deno.test("neighbour solicitations for fd00::2, fd00::3 and fe80::2 are answered", () => {
  for (
    const [target, mac, flags] of [
      [V6.gateway, GATEWAY_MAC, 0xe0],
      [V6.dns, DNS_MAC, 0x60],
      [V6.routerLinkLocal, GATEWAY_MAC, 0xe0],
    ] as const
  ) {
    for (const src of [GUEST6, GUEST_LINK_LOCAL]) {
      for (const dst of [undefined, target]) {
        const { dispatcher, link, counted } = setup();
        dispatcher.handleFrame(neighborSolicitationFrame(target, { src, dst }), 0);
        const frames = link.take();
        assert.equal(frames.length, 1);
        assert.deepEqual(frames[0].subarray(0, 6), GUEST_MAC);
        assert.deepEqual(frames[0].subarray(6, 12), mac);
        const { ip, icmp, options } = readIcmpv6(frames[0]);
        assert.equal(icmp.type, Icmpv6Type.NEIGHBOR_ADVERTISEMENT);
        assert.equal(ip.src, target);
        assert.equal(ip.dst, src);
        assert.equal(ip.hopLimit, 255);
        assert.equal(icmp.target, target);
        assert.equal(icmp.neighborFlags, flags);
        assert.deepEqual(
          frames[0].subarray(options.targetMacOffset, options.targetMacOffset + 6),
          mac,
        );
        assert.deepEqual(counted(), { "ndp.ns": 1, "ndp.na_sent": 1 });
        assert.ok(dispatcher.neighbors.has(src));
      }
    }
  }
});

Deno.test("duplicate address detection of our address is answered to all nodes (RFC 4861 §7.2.4)", () => {
  const { dispatcher, link } = setup();
  dispatcher.handleFrame(neighborSolicitationFrame(V6.gateway, { src: 0n }), 0);
  const frames = link.take();
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0].subarray(0, 6), ALL_NODES_MAC);
  const { ip, icmp } = readIcmpv6(frames[0]);
  assert.equal(ip.dst, ALL_NODES);
  assert.equal(icmp.neighborFlags & NeighborFlag.SOLICITED, 0);
  assert.equal(dispatcher.neighbors.size, 0, ":: teaches nothing");
});

Deno.test("the guest's own duplicate address detection gets no answer", () => {
  const { dispatcher, link, counted } = setup();
  dispatcher.handleFrame(DAD_NEIGHBOR_SOLICITATION, 0);
  dispatcher.handleFrame(neighborSolicitationFrame(GUEST6, { src: 0n }), 0);
  dispatcher.handleFrame(neighborSolicitationFrame(V6.prefix | 5n, { src: 0n }), 0);
  assert.equal(link.take().length, 0);
  assert.deepEqual(counted(), { "ndp.ns": 3, "ndp.ns_ignored": 3 });
});

Deno.test("another fd00::/64 address resolves to the gateway's MAC (the host's ::1), not the guest's own", () => {
  const { dispatcher, link, counted } = setup();
  const other = V6.prefix | 0x1234n;
  dispatcher.handleFrame(neighborSolicitationFrame(other), 0);
  const frames = link.take();
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0].subarray(6, 12), GATEWAY_MAC);
  const { ip, icmp, options } = readIcmpv6(frames[0]);
  assert.equal(ip.src, other);
  assert.equal(icmp.target, other);
  assert.equal(icmp.neighborFlags, NeighborFlag.SOLICITED | NeighborFlag.OVERRIDE);
  assert.deepEqual(
    frames[0].subarray(options.targetMacOffset, options.targetMacOffset + 6),
    GATEWAY_MAC,
  );
  assert.deepEqual(counted(), { "ndp.ns": 1, "ndp.na_sent": 1 });
  // The guest's own address (learned from that solicitation) and fd00:: are never answered.
  dispatcher.handleFrame(neighborSolicitationFrame(GUEST6, { src: V6.prefix | 0x99n }), 0);
  dispatcher.handleFrame(neighborSolicitationFrame(V6.prefix), 0);
  assert.equal(link.take().length, 0);
});

Deno.test("malformed neighbour solicitations are dropped, each for its reason", () => {
  assertDropped(neighborSolicitationFrame(V6.gateway, { hopLimit: 64 }), "ndp.bad_hop_limit");
  assertDropped(
    neighborSolicitationFrame(V6.gateway, { src: 0n, sourceMac: true }),
    "ndp.invalid",
  );
  // From :: to the target itself rather than its solicited-node address.
  assertDropped(neighborSolicitationFrame(V6.gateway, { src: 0n, dst: V6.gateway }), "ndp.invalid");
  // Solicited-node address of another target.
  assertDropped(
    neighborSolicitationFrame(V6.gateway, { dst: 0xff02_0000_0000_0000_0000_0001_ff00_0003n }),
    "ndp.invalid",
  );
  const zeroOption = neighborSolicitationFrame(V6.gateway);
  zeroOption[54 + 25] = 0; // the source link-layer option's length
  fixIcmpv6Checksum(zeroOption);
  assertDropped(zeroOption, "ndp.bad_options");
  const badCode = neighborSolicitationFrame(V6.gateway);
  badCode[55] = 1;
  fixIcmpv6Checksum(badCode);
  assertDropped(badCode, "ndp.bad_code");
  const badSum = neighborSolicitationFrame(V6.gateway);
  badSum[60] ^= 1;
  assertDropped(badSum, "icmpv6.bad_checksum");
  assertDropped(
    neighborSolicitationFrame(V6.gateway).subarray(0, 54 + 20),
    "ipv6.payload_length_exceeds_frame",
  );
  const short = neighborSolicitationFrame(V6.gateway).slice(0, 54 + 20);
  short[19] = 20;
  assertDropped(short, "icmpv6.truncated");
});

Deno.test("neighbour advertisements and solicitations teach the guest's MAC", () => {
  const { dispatcher, counted } = setup();
  const learned: unknown[] = [];
  dispatcher.neighbors.onLearn = (ip) => learned.push(ip);
  dispatcher.handleFrame(neighborAdvertisementFrame(GUEST6, V6.gateway, NeighborFlag.SOLICITED), 0);
  const mac = new Uint8Array(6);
  assert.ok(dispatcher.neighbors.copyMac(GUEST6, mac, 0));
  assert.deepEqual(mac, GUEST_MAC);
  // An unsolicited one to all nodes, with S set: invalid (RFC 4861 §7.1.2).
  dispatcher.handleFrame(
    neighborAdvertisementFrame(GUEST6 + 1n, ALL_NODES, NeighborFlag.SOLICITED),
    0,
  );
  assert.ok(!dispatcher.neighbors.has(GUEST6 + 1n));
  // A guest claiming fd00::2 is not learned.
  dispatcher.handleFrame(
    neighborAdvertisementFrame(V6.gateway, ALL_NODES, NeighborFlag.OVERRIDE, { src: GUEST6 }),
    0,
  );
  assert.ok(!dispatcher.neighbors.has(V6.gateway));
  assert.deepEqual(learned, [GUEST6]);
  assert.deepEqual(counted(), { "ndp.na": 2, "ndp.invalid": 1 });
});

Deno.test("requestMac() of an IPv6 address solicits it at its solicited-node address", () => {
  const { dispatcher, link } = setup();
  dispatcher.requestMac(GUEST6);
  const frames = link.take();
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0].subarray(0, 6), Uint8Array.of(0x33, 0x33, 0xff, 0xd9, 0x38, 0xfb));
  const { ip, icmp, options } = readIcmpv6(frames[0]);
  assert.equal(icmp.type, Icmpv6Type.NEIGHBOR_SOLICITATION);
  assert.equal(icmp.target, GUEST6);
  assert.equal(ip.src, V6.gateway);
  assert.equal(ip.dst, 0xff02_0000_0000_0000_0000_0001_ffd9_38fbn);
  assert.equal(ip.hopLimit, 255);
  assert.deepEqual(
    frames[0].subarray(options.sourceMacOffset, options.sourceMacOffset + 6),
    GATEWAY_MAC,
  );
  dispatcher.requestMac(GUEST_LINK_LOCAL);
  assert.equal(readIcmpv6(link.take()[0]).ip.src, V6.routerLinkLocal);
  // Without -6, an IPv6 address is not asked for.
  const off = setup(1500, false);
  off.dispatcher.requestMac(GUEST6);
  assert.equal(off.link.take().length, 0);
});

Deno.test("echo requests to fd00::2, fd00::3 and fe80::2 are answered with hop limit 255", () => {
  for (
    const [dst, mac] of [[V6.gateway, GATEWAY_MAC], [V6.dns, DNS_MAC], [
      V6.routerLinkLocal,
      GATEWAY_MAC,
    ]] as const
  ) {
    const { dispatcher, link, counted } = setup();
    const src = dst === V6.routerLinkLocal ? GUEST_LINK_LOCAL : GUEST6;
    const request = echo6Frame(dst, 56, { src, identifier: 0x1234, sequence: 7 });
    dispatcher.handleFrame(request, 0);
    const frames = link.take();
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0].subarray(6, 12), mac);
    const { ip, icmp } = readIcmpv6(frames[0]);
    assert.equal(icmp.type, Icmpv6Type.ECHO_REPLY);
    assert.equal(ip.src, dst);
    assert.equal(ip.dst, src);
    assert.equal(ip.hopLimit, 255);
    assert.equal(icmp.identifier, 0x1234);
    assert.equal(icmp.sequence, 7);
    assert.deepEqual(frames[0].subarray(62), request.subarray(62));
    assert.deepEqual(counted(), { "icmpv6.echo_request": 1, "icmpv6.echo_reply": 1 });
  }
});

Deno.test("a 3000-byte ping to fd00::2 at MTU 1500 is reassembled and answered in fragments", () => {
  const { dispatcher, link, counted } = setup();
  const request = echo6Frame(V6.gateway, 3000);
  for (const part of fragment6(request, 1448).reverse()) dispatcher.handleFrame(part, 0);
  const frames = link.take();
  assert.equal(frames.length, 3);
  for (const f of frames) assert.ok(f.length <= 1514);
  // Put the reply back together with the reassembler itself.
  const reassembler = new Ipv6Reassembler(new Counters());
  const eth = new EthernetFrame();
  const ip = new Ipv6Packet();
  const walk = new Ipv6ExtensionHeaders();
  const fragment = new FragmentHeader();
  let whole: Uint8Array | null = null;
  for (const f of frames) {
    eth.wrap(f);
    ip.wrap(f, 14, f.length - 14);
    assert.equal(ip.check(), "ok");
    assert.equal(walk.walk(f, 54, 54 + ip.payloadLength, ip.nextHeader), "fragment");
    fragment.wrap(f, walk.upperOffset, 8);
    whole = reassembler.add(eth, ip, fragment, 0);
  }
  assert.ok(whole);
  const { icmp } = readIcmpv6(whole);
  assert.equal(icmp.type, Icmpv6Type.ECHO_REPLY);
  assert.deepEqual(whole.subarray(62), request.subarray(62));
  const c = counted();
  assert.equal(c["ipv6.reassembled"], 1);
  assert.equal(c["icmpv6.echo_reply"], 1);
  assert.equal(c["tx.fragmented"], 1);
});

Deno.test("echo to other hosts goes to the ICMP forwarder, from fd00::/64 only", () => {
  const { dispatcher, handed } = setup();
  const request = echo6Frame(REMOTE, 8);
  dispatcher.handleFrame(request, 0);
  assert.deepEqual(handed, [{ kind: "icmp", frame: request }]);
  assertDropped(echo6Frame(REMOTE, 8, { src: GUEST_LINK_LOCAL }), "ipv6.bad_source");
  assertDropped(echo6Frame(ALL_NODES, 8), "ipv6.multicast_dropped");
  // Echo replies and errors to our addresses have nobody behind them.
  const reply = echo6Frame(V6.gateway, 8);
  reply[54] = Icmpv6Type.ECHO_REPLY;
  fixIcmpv6Checksum(reply);
  assertDropped(reply, "icmpv6.type_ignored");
});

Deno.test("UDP goes to the DNS or UDP forwarder, TCP to the TCP one", () => {
  const { dispatcher, handed } = setup();
  const query = udp6Frame(GUEST6, V6.dns, 40000, 53, new Uint8Array(30));
  const other = udp6Frame(GUEST6, REMOTE, 40000, 53, new Uint8Array(30));
  const local = udp6Frame(GUEST6, V6.gateway, 40000, 8080, new Uint8Array(3));
  dispatcher.handleFrame(query, 0);
  dispatcher.handleFrame(other, 0);
  dispatcher.handleFrame(local, 0);
  const tcp = ipv6Frame(new Uint8Array(20), Ipv6NextHeader.TCP, GUEST6, REMOTE);
  dispatcher.handleFrame(tcp, 0);
  assert.deepEqual(handed.map((h) => h.kind), ["dns", "udp", "udp", "tcp"]);
  assert.deepEqual(handed[0].frame, query);
  assert.deepEqual(handed[3].frame, tcp);
  assert.ok(dispatcher.neighbors.has(GUEST6), "learned from traffic");
});

Deno.test("UDP over IPv6 needs a checksum (RFC 8200 §8.1) unless the tap left it partial", () => {
  const zero = udp6Frame(GUEST6, REMOTE, 1, 2, new Uint8Array(4));
  zero[60] = zero[61] = 0;
  assertDropped(zero, "udp.ipv6_zero_checksum");
  const bad = udp6Frame(GUEST6, REMOTE, 1, 2, new Uint8Array(4));
  bad[62] ^= 1;
  assertDropped(bad, "udp.bad_checksum");
  const { dispatcher, handed } = setup();
  dispatcher.handleFrame(bad, 0, RxOffload.CHECKSUM_PARTIAL);
  assert.equal(handed.length, 1);
});

Deno.test("extension headers are stripped before a packet is handed on", () => {
  const { dispatcher, handed, counted } = setup();
  const payload = Uint8Array.from({ length: 40 }, (_, i) => i);
  const plain = udp6Frame(GUEST6, REMOTE, 1234, 5678, payload);
  // Hop-by-hop with PadN, then destination options with PadN.
  const ext = Uint8Array.of(60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0);
  const frame = udp6Frame(GUEST6, REMOTE, 1234, 5678, payload, { ext, extType: 0 });
  dispatcher.handleFrame(frame, 0);
  assert.equal(handed.length, 1);
  assert.deepEqual(handed[0].frame, plain);
  assert.deepEqual(counted(), {});
});

Deno.test("multicast, MLD and router messages from the guest are counted, never forwarded", () => {
  assertDropped(MLDV2_REPORT_FROM_UNSPECIFIED, "icmpv6.mld_ignored");
  assertDropped(
    udp6Frame(
      GUEST_LINK_LOCAL,
      0xff02_0000_0000_0000_0000_0000_0000_00fbn,
      5353,
      5353,
      new Uint8Array(12),
    ),
    "ipv6.multicast_dropped",
  );
  assertDropped(
    udp6Frame(
      GUEST_LINK_LOCAL,
      0xff02_0000_0000_0000_0000_0000_0001_0002n,
      546,
      547,
      new Uint8Array(12),
    ),
    "ipv6.multicast_dropped",
  );
  const ra = routerSolicitationFrame();
  ra[54] = Icmpv6Type.ROUTER_ADVERTISEMENT;
  const longer = new Uint8Array(ra.length + 8);
  longer.set(ra);
  longer[19] += 8;
  fixIcmpv6Checksum(longer);
  assertDropped(longer, "ndp.ra_ignored");
});

Deno.test("IPv6 address rules: sources and destinations nobody may use are dropped", () => {
  assertDropped(echo6Frame(V6.gateway, 8, { src: 0x2001_0db8n << 112n | 5n }), "ipv6.bad_source");
  assertDropped(echo6Frame(V6.dns, 8, { src: V6.gateway }), "ipv6.bad_source");
  assertDropped(echo6Frame(V6.gateway, 8, { src: ALL_NODES }), "ipv6.bad_source");
  assertDropped(echo6Frame(V6.gateway, 8, { src: 0n }), "ipv6.bad_source");
  assertDropped(
    echo6Frame(0xfe80n << 112n | 5n, 8, { src: GUEST_LINK_LOCAL }),
    "ipv6.bad_destination",
  );
  assertDropped(echo6Frame(1n, 8), "ipv6.bad_destination");
  assertDropped(echo6Frame(0xffff_0a00_0202n, 8), "ipv6.bad_destination");
  assertDropped(
    udp6Frame(GUEST6, V6.routerLinkLocal, 1, 2, new Uint8Array(4)),
    "ipv6.bad_destination",
  );
  assertDropped(
    udp6Frame(GUEST_LINK_LOCAL, V6.gateway, 1, 2, new Uint8Array(4)),
    "ipv6.bad_source",
  );
});

Deno.test("IPv6 header and extension-header damage is counted by reason", () => {
  const good = echo6Frame(V6.gateway, 8);
  assertDropped(good.subarray(0, 53), "ipv6.truncated");
  const v5 = good.slice();
  v5[14] = 0x50;
  assertDropped(v5, "ipv6.bad_version");
  const routing = ipv6Frame(
    Uint8Array.of(58, 0, 0, 1, 0, 0, 0, 0, ...good.subarray(54)),
    Ipv6NextHeader.ROUTING,
    GUEST6,
    V6.gateway,
  );
  assertDropped(routing, "ipv6.routing_header");
  const lateHopByHop = ipv6Frame(
    Uint8Array.of(0, 0, 1, 4, 0, 0, 0, 0, 58, 0, 1, 4, 0, 0, 0, 0),
    Ipv6NextHeader.DESTINATION_OPTIONS,
    GUEST6,
    V6.gateway,
  );
  assertDropped(lateHopByHop, "ipv6.hop_by_hop_not_first");
  assertDropped(
    ipv6Frame(
      Uint8Array.of(58, 0, 0x80, 4, 0, 0, 0, 0),
      Ipv6NextHeader.DESTINATION_OPTIONS,
      GUEST6,
      V6.gateway,
    ),
    "ipv6.unrecognized_option",
  );
  assertDropped(
    ipv6Frame(
      Uint8Array.of(58, 1, 1, 4, 0, 0, 0, 0),
      Ipv6NextHeader.DESTINATION_OPTIONS,
      GUEST6,
      V6.gateway,
    ),
    "ipv6.ext_truncated",
  );
  assertDropped(
    ipv6Frame(new Uint8Array(8), Ipv6NextHeader.NO_NEXT_HEADER, GUEST6, V6.gateway),
    "ipv6.no_next_header",
  );
  assertDropped(
    ipv6Frame(new Uint8Array(8), 132, /* SCTP */ GUEST6, REMOTE),
    "ipv6.unknown_next_header",
  );
});

Deno.test("a first fragment without the whole header chain is dropped (RFC 7112)", () => {
  // The fragmentable part starts with a 16-byte destination options header; the fragment has 8.
  const packet = ipv6Frame(
    Uint8Array.of(17, 1, 1, 12, ...new Array(12).fill(0), ...new Array(16).fill(0)),
    Ipv6NextHeader.DESTINATION_OPTIONS,
    GUEST6,
    REMOTE,
  );
  assertDropped(fragment6Of(packet, 0, 8, true), "ipv6.fragment_incomplete_chain");
});

Deno.test("a fragment header inside a reassembled packet is dropped", () => {
  const { dispatcher, counted } = setup();
  const inner = ipv6Frame(
    Uint8Array.of(17, 0, 0, 9, 0, 0, 0, 1, ...new Array(24).fill(0)),
    Ipv6NextHeader.FRAGMENT,
    GUEST6,
    REMOTE,
  );
  for (const part of fragment6(inner, 16)) dispatcher.handleFrame(part, 0);
  assert.equal(counted()["ipv6.fragment_nested"], 1);
});

Deno.test("TCP super-frames over IPv6 pass the MTU check; anything else above it does not", () => {
  const { dispatcher, handed } = setup();
  const big = ipv6Frame(new Uint8Array(20000), Ipv6NextHeader.TCP, GUEST6, REMOTE);
  dispatcher.handleFrame(big, 0, RxOffload.TCP_SEGMENTED | RxOffload.CHECKSUM_PARTIAL);
  assert.equal(handed.length, 1);
  const udp = udp6Frame(GUEST6, REMOTE, 1, 2, new Uint8Array(20000));
  const { dispatcher: d2, counted } = setup();
  d2.handleFrame(udp, 0, RxOffload.TCP_SEGMENTED);
  assert.deepEqual(counted(), { "frame.too_long": 1 });
  assertDropped(big, "frame.too_long");
});

/** Recomputes the ICMPv6 checksum of a frame a test changed. */
function fixIcmpv6Checksum(frame: Uint8Array): void {
  const length = (frame[18] << 8) | frame[19];
  frame[56] = frame[57] = 0;
  const sum = pseudoHeaderSumAt(frame, 14, 58, length);
  const checksum = finishChecksum(sumBytes(frame, 54, length, sum));
  frame[56] = checksum >> 8;
  frame[57] = checksum & 0xff;
}
