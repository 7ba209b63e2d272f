/**
 * Garbage in, nothing out of place: 100k random, truncated and mutated frames (from the captured
 * fixtures) through the dispatcher. It must never throw, never send a frame outside 60..MTU+14,
 * count every frame, and still answer a valid ping and DHCP exchange afterwards. This is the
 * input-class list of the CVEs (reference §6): runts, short ARP, IHL < 5, total length > frame,
 * UDP length 0/65535, truncated BOOTP, option lengths past the end; with `-6` on, the same for
 * IPv6: payload lengths, extension-header lengths, NDP option lengths (0 and past the end),
 * fragments, short echo requests (CVE-2020-10756 was an out-of-bounds read in libslirp's ICMPv6
 * echo reply).
 */

import assert from "node:assert/strict";
import { internetChecksum } from "../wire/checksum.ts";
import { ArpOp } from "../wire/arp.ts";
import { DhcpMessageType as T } from "../wire/dhcp.ts";
import { UdpDatagram } from "../wire/udp.ts";
import { TcpSegment } from "../wire/tcp.ts";
import {
  ARP_REPLY_FROM_GUEST,
  ARP_REQUEST_FOR_GATEWAY,
  DHCP_DISCOVER_UDHCPC,
  ICMP_ECHO_REQUEST_TO_GATEWAY,
  IPV6_NEIGHBOR_SOLICITATION,
  TCP_SYN_TO_INTERNET,
  UDP_DNS_QUERY_TO_INTERNET,
} from "../wire/testdata/captured.ts";
import { finishChecksum, pseudoHeaderSumAt, sumBytes } from "../wire/checksum.ts";
import { Ipv6ExtensionHeaders } from "../wire/ipv6_ext.ts";
import {
  DAD_NEIGHBOR_SOLICITATION,
  MLDV2_REPORT_FROM_UNSPECIFIED,
  ROUTER_SOLICITATION,
} from "../wire/testdata/ipv6_captured.ts";
import { C, Counters } from "./counters.ts";
import { Dispatcher } from "./dispatcher.ts";
import type { GuestLink } from "./guest_link.ts";
import {
  ADDRESSES,
  arpFrame,
  clientMac,
  dhcpFrame,
  echoRequestFrame,
  GUEST_IP,
  GUEST_MAC,
  readDhcpReply,
  udpFrame,
} from "./testdata/guest_frames.ts";
import {
  ADDRESSES6,
  echo6Frame,
  fragment6,
  GUEST6,
  GUEST_LINK_LOCAL,
  ipv6Frame,
  neighborAdvertisementFrame,
  neighborSolicitationFrame,
  udp6Frame,
  V6,
} from "./testdata/ipv6_frames.ts";

/** xorshift32: small, fast, and the same sequence on every run. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const SEEDS: Uint8Array[] = [
  ARP_REQUEST_FOR_GATEWAY,
  ARP_REPLY_FROM_GUEST,
  ICMP_ECHO_REQUEST_TO_GATEWAY,
  TCP_SYN_TO_INTERNET,
  UDP_DNS_QUERY_TO_INTERNET,
  IPV6_NEIGHBOR_SOLICITATION,
  DHCP_DISCOVER_UDHCPC,
  arpFrame(ArpOp.REQUEST, GUEST_MAC, GUEST_IP, ADDRESSES.dns),
  echoRequestFrame(ADDRESSES.dns, 1400),
  dhcpFrame({ type: T.REQUEST, requested: ADDRESSES.dhcpStart, serverId: ADDRESSES.gateway }),
  dhcpFrame({ type: T.REQUEST, ciaddr: ADDRESSES.dhcpStart, dst: ADDRESSES.gateway }),
  dhcpFrame({ type: T.RELEASE, ciaddr: ADDRESSES.dhcpStart }),
  dhcpFrame({ type: T.DECLINE, requested: ADDRESSES.dhcpStart + 1 }),
  dhcpFrame({
    type: T.INFORM,
    ciaddr: GUEST_IP,
    extra: [55, 3, 1, 3, 6, 12, 4, 0x61, 0x62, 0x63, 0x64],
  }),
  dhcpFrame({ type: T.DISCOVER, flags: 0x8000, length: 548 }),
  udpFrame(GUEST_IP, 40000, ADDRESSES.dns, 53, new Uint8Array(30)),
  // IPv6 (the dispatcher runs with -6).
  ROUTER_SOLICITATION,
  DAD_NEIGHBOR_SOLICITATION,
  MLDV2_REPORT_FROM_UNSPECIFIED,
  neighborSolicitationFrame(V6.gateway),
  neighborSolicitationFrame(V6.routerLinkLocal, { src: GUEST_LINK_LOCAL }),
  neighborSolicitationFrame(V6.dns, { src: 0n }),
  neighborAdvertisementFrame(GUEST6, V6.gateway, 0x60),
  echo6Frame(V6.gateway, 56),
  echo6Frame(V6.dns, 1400),
  echo6Frame(0x2001_0db8n << 112n | 1n, 8),
  udp6Frame(GUEST6, V6.dns, 40000, 53, new Uint8Array(30)),
  udp6Frame(GUEST6, V6.gateway, 40000, 9, new Uint8Array(30), {
    ext: Uint8Array.of(60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 5, 2, 0, 0, 1, 0),
    extType: 0,
  }),
  ipv6Frame(new Uint8Array(20), 6, GUEST6, V6.gateway),
  ...fragment6(echo6Frame(V6.gateway, 3000), 1448, { id: 77 }),
];

/** Offsets of length-like fields worth setting to extremes, per frame kind (IPv4 over Ethernet). */
const LENGTH_FIELDS_16 = [16, 38, 12, 18, 58]; // IP total length, UDP length, EtherType, ARP ptype / IPv6 payload length, UDPv6 length
const LENGTH_FIELDS_8 = [14, 46, 17, 19, 43, 44, 283, 285, 287, 20, 55, 63, 79, 56]; // IHL, TCP offset, ARP hln/pln, hlen, hops, DHCP option lengths; IPv6 next header, extension length, RS and NS option lengths, fragment offset

const walk = new Ipv6ExtensionHeaders();

/** Repairs the ICMPv6 or UDP checksum of an IPv6 frame (behind any extension headers). */
function repairIpv6Checksum(frame: Uint8Array): void {
  if (frame.length < 54 || (frame[14] >>> 4) !== 6) return;
  const end = 54 + ((frame[18] << 8) | frame[19]);
  if (end > frame.length || walk.walk(frame, 54, end, frame[20]) !== "ok") return;
  const at = walk.upperOffset;
  const checksumAt = walk.protocol === 58 ? at + 2 : walk.protocol === 17 ? at + 6 : -1;
  if (checksumAt < 0 || checksumAt + 2 > end) return;
  frame[checksumAt] = frame[checksumAt + 1] = 0;
  const sum = pseudoHeaderSumAt(frame, 14, walk.protocol, end - at);
  const checksum = finishChecksum(sumBytes(frame, at, end - at, sum));
  frame[checksumAt] = checksum >>> 8;
  frame[checksumAt + 1] = checksum & 0xff;
}

/** Repairs the IPv4 header and UDP/TCP checksums so that mutations reach deeper parsers. */
function repairChecksums(frame: Uint8Array): void {
  if (frame.length >= 14 && frame[12] === 0x86 && frame[13] === 0xdd) {
    repairIpv6Checksum(frame);
    return;
  }
  if (frame.length < 34 || frame[12] !== 0x08 || frame[13] !== 0x00) return;
  const ihl = (frame[14] & 0x0f) * 4;
  if (ihl < 20 || 14 + ihl > frame.length) return;
  frame[24] = frame[25] = 0;
  const sum = internetChecksum(frame, 14, ihl);
  frame[24] = sum >>> 8;
  frame[25] = sum & 0xff;
  const total = (frame[16] << 8) | frame[17];
  if (total < ihl || 14 + total > frame.length) return;
  const view = new DataView(frame.buffer, frame.byteOffset);
  const src = view.getUint32(26);
  const dst = view.getUint32(30);
  if (frame[23] === 17) {
    const udp = new UdpDatagram().wrap(frame, 14 + ihl, total - ihl);
    if (udp.check() === "ok") udp.fillChecksum(src, dst);
  } else if (frame[23] === 6) {
    const tcp = new TcpSegment().wrap(frame, 14 + ihl, total - ihl);
    if (tcp.check() === "ok") tcp.fillChecksum(src, dst);
  }
}

/** The first `length` bytes of a UDP frame, its IP and UDP lengths and checksums consistent. */
function shortDatagram(frame: Uint8Array, length: number): Uint8Array {
  const cut = frame.slice(0, length);
  cut[16] = (length - 14) >>> 8;
  cut[17] = (length - 14) & 0xff;
  cut[38] = (length - 34) >>> 8;
  cut[39] = (length - 34) & 0xff;
  repairChecksums(cut);
  return cut;
}

function* garbage(count: number, seed: number, maxLength: number): Generator<Uint8Array> {
  const next = prng(seed);
  let produced = 0;
  // 1. Every fixture cut at every length: as is, and with the IP and UDP lengths and the
  //    checksums made to agree with the cut (a short datagram rather than a short frame).
  for (const fixture of SEEDS) {
    for (let length = 0; length <= fixture.length && produced < count; length++, produced++) {
      yield fixture.subarray(0, length);
      if (length >= 42 && fixture[23] === 17 && produced++ < count) {
        yield shortDatagram(fixture, length);
      }
    }
  }
  while (produced++ < count) {
    const kind = next() % 8;
    if (kind === 0) {
      // 2. Pure noise, sometimes with a plausible header in front.
      const frame = new Uint8Array(next() % (maxLength + 100));
      for (let i = 0; i < frame.length; i++) frame[i] = next() & 0xff;
      if (frame.length >= 14 && next() % 2 === 0) {
        frame.set(
          SEEDS[next() % SEEDS.length].subarray(0, Math.min(frame.length, 14 + (next() % 40))),
        );
      }
      yield frame;
      continue;
    }
    const frame = SEEDS[next() % SEEDS.length].slice();
    if (kind <= 3) {
      // 3. Flip 1..8 random bytes.
      const flips = 1 + (next() % 8);
      for (let i = 0; i < flips; i++) frame[next() % frame.length] ^= 1 + (next() % 255);
    } else if (kind <= 5) {
      // 4. Length fields set to 0, 1, 65535 or random.
      const extremes = [0, 1, 0xff, 0xffff, next() & 0xffff];
      const value = extremes[next() % extremes.length];
      if (next() % 2 === 0) {
        const at = LENGTH_FIELDS_16[next() % LENGTH_FIELDS_16.length];
        if (at + 1 < frame.length) {
          frame[at] = value >>> 8;
          frame[at + 1] = value & 0xff;
        }
      } else {
        const at = LENGTH_FIELDS_8[next() % LENGTH_FIELDS_8.length];
        if (at < frame.length) frame[at] = value & 0xff;
      }
    } else if (kind === 6 && frame[23] === 17 && next() % 2 === 0) {
      // 5. A UDP datagram cut short with consistent lengths.
      yield shortDatagram(frame, 42 + (next() % (frame.length - 41)));
      continue;
    } else if (kind === 6) {
      // 6. Random bytes over the DHCP options area.
      for (let i = 0; i < 1 + (next() % 30); i++) {
        const at = 282 + (next() % Math.max(1, frame.length - 282));
        if (at < frame.length) frame[at] = next() & 0xff;
      }
    } else {
      // 7. Truncated or extended at a random length.
      const length = next() % (frame.length + 64);
      const resized = new Uint8Array(length);
      resized.set(frame.subarray(0, Math.min(length, frame.length)));
      yield next() % 2 === 0 ? resized : resized.subarray(0, length);
      continue;
    }
    // Half the mutants get valid checksums so that they reach ICMP, UDP and DHCP parsing.
    if (next() % 2 === 0) repairChecksums(frame);
    yield frame;
  }
}

function runGarbage(mtu: number, count: number, seed: number) {
  const sentLengths: number[] = [];
  let tooLong = 0;
  const link: GuestLink = {
    sendFrame(frame) {
      if (frame.length < 60 || frame.length > mtu + 14) tooLong++;
      sentLengths.push(frame.length);
    },
  };
  const counters = new Counters();
  const dispatcher = new Dispatcher(ADDRESSES6, mtu, link, counters);
  dispatcher.start(0);
  let now = 0;
  let fed = 0;
  for (const frame of garbage(count, seed, mtu + 14)) {
    now += 7;
    try {
      if (now >= dispatcher.nextDeadline) dispatcher.tick(now);
      dispatcher.handleFrame(frame, now);
    } catch (error) {
      const hex = Array.from(frame, (b) => b.toString(16).padStart(2, "0")).join("");
      throw new Error(`handleFrame threw on frame #${fed} (${hex}): ${error}`);
    }
    fed++;
  }
  assert.equal(fed, count);
  assert.equal(tooLong, 0, "every sent frame within 60..MTU+14");
  assert.equal(counters.get("frame.received"), count);
  assert.equal(counters.get("tx.frame"), sentLengths.length);
  assert.ok(counters.values.every((v) => Number.isFinite(v) && v >= 0));
  return { dispatcher, counters, sentLengths, now };
}

Deno.test("Dispatcher survives 100k garbage frames and still answers ping and DHCP", () => {
  const { dispatcher, counters, now, sentLengths } = runGarbage(1500, 100_000, 0x5eed);
  // Mutants reached the deep parsers, not only the first checks.
  for (
    const name of [
      "frame.runt",
      "arp.truncated",
      "arp.reply",
      "ipv4.bad_checksum",
      "ipv4.bad_header_length",
      "ipv4.total_length_exceeds_frame",
      "icmp.bad_checksum",
      "icmp.echo_reply",
      "udp.bad_length",
      "dhcp.truncated",
      "dhcp.bad_options",
      "dhcp.offer",
      "dhcp.ack",
      "nat.not_implemented",
      "ipv6.payload_length_exceeds_frame",
      "ipv6.fragment",
      "ipv6.ext_truncated",
      "icmpv6.bad_checksum",
      "icmpv6.echo_reply",
      "ndp.bad_options",
      "ndp.na_sent",
      "ndp.ra_sent",
    ] as const
  ) {
    assert.ok(counters.get(name) > 0, `${name} never counted`);
  }

  // Still functional: a valid ping gets a reply, over IPv4 and IPv6...
  const before = counters.get("icmp.echo_reply");
  dispatcher.handleFrame(ICMP_ECHO_REQUEST_TO_GATEWAY, now + 1);
  assert.equal(counters.get("icmp.echo_reply"), before + 1);
  const before6 = counters.get("icmpv6.echo_reply");
  const nas = counters.get("ndp.na_sent");
  dispatcher.handleFrame(echo6Frame(V6.gateway, 100), now + 1);
  dispatcher.handleFrame(neighborSolicitationFrame(V6.gateway), now + 1);
  assert.equal(counters.get("icmpv6.echo_reply"), before6 + 1);
  assert.equal(counters.get("ndp.na_sent"), nas + 1);

  // ...and after the leases lapse, a new client gets an address.
  const acks = counters.get("dhcp.ack");
  const later = now + 2 * 86_400_000;
  dispatcher.handleFrame(
    dhcpFrame({ type: T.REQUEST, mac: clientMac(999), requested: ADDRESSES.dhcpStart + 4 }),
    later,
  );
  assert.equal(counters.get("dhcp.ack"), acks + 1);
  assert.equal(dispatcher.dhcp.addressOf(clientMac(999), 0, later), ADDRESSES.dhcpStart + 4);
  assert.equal(counters.values[C["frame.received"]], 100_004);
  assert.ok(sentLengths.length > 0);
});

Deno.test("Dispatcher survives garbage at the smallest MTU (68) and at 65520", () => {
  runGarbage(68, 10_000, 0xbad);
  runGarbage(65520, 10_000, 0xf00d);
});

Deno.test("garbage replies are well-formed DHCP when they are DHCP", () => {
  const frames: Uint8Array[] = [];
  const dispatcher = new Dispatcher(
    ADDRESSES,
    1500,
    { sendFrame: (f) => frames.push(f.slice()) },
    new Counters(),
  );
  let now = 0;
  for (const frame of garbage(20_000, 42, 1514)) dispatcher.handleFrame(frame, now += 3);
  let dhcpReplies = 0;
  for (const frame of frames) {
    if (frame[23] !== 17) continue;
    dhcpReplies++;
    assert.equal(internetChecksum(frame, 14, 20), 0);
    const reply = readDhcpReply(frame);
    assert.equal(reply.message.check(), "ok");
    assert.equal(reply.optionsEnd, "end");
    assert.equal(reply.srcPort, 67);
    assert.equal(reply.dstPort, 68);
  }
  assert.ok(dhcpReplies > 0);
});
