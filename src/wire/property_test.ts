/**
 * Property tests (fast-check, src/testing/property.ts) for the parsers and builders of src/wire:
 * what is built parses back to the same fields, a view over arbitrary bytes at an arbitrary window
 * never throws (wire/ never throws: views report "truncated" and the like), and every checksum
 * agrees with an independent RFC 1071 sum. DHCP and DNS have their own files beside them; pcap's
 * are here. `deno task fuzz` runs them longer.
 */
import assert from "node:assert/strict";
import { fc, rfc1071Checksum, RUNS } from "../testing/property.ts";
import {
  formatIpv4,
  formatIpv6,
  ipv6Groups,
  parseIpv4,
  parseIpv6,
  readIpv4,
  readIpv6,
  writeIpv4,
  writeIpv6,
} from "./address.ts";
import { ArpPacket, emitArp } from "./arp.ts";
import {
  finishChecksum,
  foldSum,
  internetChecksum,
  pseudoHeaderSum,
  pseudoHeaderSumAt,
  sumBytes,
  updateChecksum16,
  updateChecksum32,
} from "./checksum.ts";
import { emitEthernetHeader, EthernetFrame } from "./ethernet.ts";
import { emitIcmpEcho, emitIcmpError, IcmpMessage, icmpQuoteLength } from "./icmp.ts";
import {
  emitIcmpv6Echo,
  emitLinkLayerOption,
  emitMtuOption,
  emitPrefixOption,
  emitRdnssOption,
  fillIcmpv6Checksum,
  Icmpv6Message,
  NdpOptions,
  parseMtuOption,
  parsePrefixOption,
  parseRdnssOption,
} from "./icmpv6.ts";
import { IpPacket } from "./ip.ts";
import { emitIpv4Header, IpProtocol, Ipv4Packet } from "./ipv4.ts";
import { emitIpv6Header, Ipv6Packet } from "./ipv6.ts";
import { FragmentHeader, Ipv6ExtensionHeaders } from "./ipv6_ext.ts";
import {
  emitPcapFileHeader,
  emitPcapRecordHeader,
  parsePcap,
  parsePcapFileHeader,
} from "./pcap.ts";
import {
  emitTcpHeader,
  emitTcpMssOption,
  emitTcpSackPermittedOption,
  emitTcpTimestampsOption,
  emitTcpWindowScaleOption,
  parseTcpOptions,
  TcpOptions,
  TcpSegment,
} from "./tcp.ts";
import { emitUdpHeader, UdpDatagram } from "./udp.ts";
import { readU16, readU32, writeU16, writeU32 } from "./view.ts";
import { rxOffload } from "./virtio_net.ts";

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const ipv4 = u32;
const ipv6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
const bytes = fc.uint8Array({ maxLength: 2048 });

/** Arbitrary bytes and a window into them, possibly out of range (negative, past the end, NaN). */
const window = fc.record({
  bytes,
  offset: fc.oneof(fc.integer({ min: -4, max: 2100 }), fc.constant(Number.NaN)),
  length: fc.option(fc.integer({ min: -4, max: 2100 }), { nil: undefined }),
});

/** Reads every getter of a view's class chain: none may throw, whatever the bytes. */
function readAllGetters(view: object): void {
  for (
    let proto = Object.getPrototypeOf(view);
    proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
      if (descriptor.get) (view as Record<string, unknown>)[name];
    }
  }
}

// --- Views never throw -------------------------------------------------------------------

const VIEWS = {
  EthernetFrame,
  ArpPacket,
  Ipv4Packet,
  Ipv6Packet,
  UdpDatagram,
  TcpSegment,
  IcmpMessage,
  Icmpv6Message,
  FragmentHeader,
} as const;

for (const [name, View] of Object.entries(VIEWS)) {
  Deno.test(`${name}: wrap() and check() over arbitrary bytes and windows never throw`, () => {
    fc.assert(
      fc.property(window, ({ bytes, offset, length }) => {
        const view = new View().wrap(bytes, offset, length);
        assert.ok(view.length >= 0 && view.offset + view.length <= bytes.length);
        view.check();
        readAllGetters(view);
      }),
      RUNS,
    );
  });
}

Deno.test("IpPacket.read(), extension headers, TCP and NDP options, rxOffload never throw on arbitrary bytes", () => {
  fc.assert(
    fc.property(window, fc.integer({ min: 0, max: 255 }), ({ bytes, offset, length }, next) => {
      const off = Number.isNaN(offset) ? 0 : offset;
      const len = length ?? bytes.length - off;
      new IpPacket().read(bytes, off, len);
      new Ipv6ExtensionHeaders().walk(bytes, off, len, next);
      new NdpOptions().parse(bytes, off, len);
      const segment = new TcpSegment().wrap(bytes, offset, length);
      if (segment.check() === "ok") parseTcpOptions(segment, new TcpOptions());
      rxOffload(bytes);
      icmpQuoteLength(bytes, off, len);
      if (bytes.length >= 8) {
        parseMtuOption(bytes, 0);
        parseRdnssOption(bytes, 0);
      }
      if (bytes.length >= 32) parsePrefixOption(bytes, 0);
      parsePcap(bytes);
      parsePcapFileHeader(bytes);
    }),
    RUNS,
  );
});

// --- Checksums against RFC 1071 ----------------------------------------------------------

Deno.test("internetChecksum() and sumBytes() agree with an independent RFC 1071 sum at any offset", () => {
  fc.assert(
    fc.property(bytes, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 0xffff }), (b, o, l, seed) => {
      const offset = b.length === 0 ? 0 : o % (b.length + 1);
      const length = l % (b.length - offset + 1);
      const slice = b.subarray(offset, offset + length);
      assert.equal(internetChecksum(b, offset, length), rfc1071Checksum(slice));
      assert.equal(finishChecksum(sumBytes(b, offset, length, seed)), rfc1071Checksum(slice, seed));
      // A buffer that is a view at an odd byteOffset of a larger one.
      const shifted = new Uint8Array(b.length + 1);
      shifted.set(b, 1);
      assert.equal(internetChecksum(shifted.subarray(1), offset, length), rfc1071Checksum(slice));
    }),
    RUNS,
  );
});

Deno.test("foldSum() keeps the sum modulo 0xffff in 16 bits", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (sum) => {
      const folded = foldSum(sum);
      assert.ok(folded <= 0xffff);
      assert.equal(folded % 0xffff, sum % 0xffff);
    }),
    RUNS,
  );
});

Deno.test("updateChecksum16/32() equal recomputing the checksum (RFC 1624)", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 8, maxLength: 64 }).filter((b) => b.length % 2 === 0),
      fc.nat(),
      u32,
      (b, at, value) => {
        const word = (at % (b.length / 2 - 1)) * 2;
        const before = rfc1071Checksum(b);
        const copy = b.slice();
        writeU16(copy, word, value & 0xffff);
        const after16 = rfc1071Checksum(copy);
        const got16 = updateChecksum16(before, readU16(b, word), value & 0xffff);
        // 0x0000 and 0xffff are the same number in one's complement.
        assert.equal(got16 % 0xffff, after16 % 0xffff);
        if (word + 4 <= b.length) {
          const copy32 = b.slice();
          writeU32(copy32, word, value);
          const got32 = updateChecksum32(before, readU32(b, word), value);
          assert.equal(got32 % 0xffff, rfc1071Checksum(copy32) % 0xffff);
        }
      },
    ),
    RUNS,
  );
});

/** The pseudo-header of RFC 768 / RFC 8200 §8.1 as bytes, for the independent sum. */
function pseudoHeaderBytes(
  src: number | bigint,
  dst: number | bigint,
  protocol: number,
  length: number,
) {
  if (typeof src === "bigint" && typeof dst === "bigint") {
    const b = new Uint8Array(40);
    writeIpv6(b, 0, src);
    writeIpv6(b, 16, dst);
    writeU32(b, 32, length);
    b[39] = protocol;
    return b;
  }
  const b = new Uint8Array(12);
  writeIpv4(b, 0, src as number);
  writeIpv4(b, 4, dst as number);
  b[9] = protocol;
  writeU16(b, 10, length);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const family = fc.oneof(
  fc.record({ src: ipv4, dst: ipv4 }),
  fc.record({ src: ipv6, dst: ipv6 }),
);

Deno.test("pseudoHeaderSum() is the RFC 1071 sum of the pseudo-header bytes, IPv4 and IPv6", () => {
  fc.assert(
    fc.property(family, fc.integer({ min: 0, max: 255 }), u16, ({ src, dst }, protocol, length) => {
      const expected = rfc1071Checksum(pseudoHeaderBytes(src, dst, protocol, length));
      assert.equal(finishChecksum(pseudoHeaderSum(src, dst, protocol, length)), expected);
    }),
    RUNS,
  );
});

// --- Builders and parsers round trip ----------------------------------------------------

Deno.test("Ethernet: emitEthernetHeader() → EthernetFrame gives the same fields", () => {
  fc.assert(
    fc.property(mac, mac, u16, fc.uint8Array({ maxLength: 100 }), (dst, src, type, payload) => {
      const frame = new Uint8Array(14 + payload.length).fill(0xa5);
      emitEthernetHeader(frame, 0, dst, 0, src, 0, type);
      frame.set(payload, 14);
      const eth = new EthernetFrame().wrap(frame);
      assert.equal(eth.check(), "ok");
      assert.deepEqual(frame.subarray(eth.dstOffset, eth.dstOffset + 6), dst);
      assert.deepEqual(frame.subarray(eth.srcOffset, eth.srcOffset + 6), src);
      assert.equal(eth.ethertype, type);
      assert.equal(eth.payloadLength, payload.length);
    }),
    RUNS,
  );
});

Deno.test("ARP: emitArp() → ArpPacket gives the same fields", () => {
  fc.assert(
    fc.property(fc.constantFrom(1, 2), mac, ipv4, mac, ipv4, (op, sMac, sIp, tMac, tIp) => {
      const b = new Uint8Array(28).fill(0xa5);
      emitArp(b, 0, op, sMac, 0, sIp, tMac, 0, tIp);
      const arp = new ArpPacket().wrap(b);
      assert.equal(arp.check(), "ok");
      assert.deepEqual(
        [arp.operation, arp.senderIp, arp.targetIp],
        [op, sIp, tIp],
      );
      assert.deepEqual(b.subarray(arp.senderMacOffset, arp.senderMacOffset + 6), sMac);
      assert.deepEqual(b.subarray(arp.targetMacOffset, arp.targetMacOffset + 6), tMac);
    }),
    RUNS,
  );
});

Deno.test("IPv4: emitIpv4Header() → Ipv4Packet gives the same fields and a checksum RFC 1071 accepts", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1000 }),
      u16,
      fc.boolean(),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      ipv4,
      ipv4,
      fc.integer({ min: 0, max: 255 }),
      (payload, id, df, ttl, protocol, src, dst, tos) => {
        const b = new Uint8Array(20 + payload).fill(0xa5);
        emitIpv4Header(b, 0, 20 + payload, id, df, ttl, protocol, src, dst, tos);
        const ip = new Ipv4Packet().wrap(b);
        assert.equal(ip.check(), "ok");
        assert.deepEqual(
          [
            ip.totalLength,
            ip.identification,
            ip.dontFragment,
            ip.ttl,
            ip.protocol,
            ip.src,
            ip.dst,
            ip.tos,
          ],
          [20 + payload, id, df, ttl, protocol, src, dst, tos],
        );
        assert.equal(ip.isFragment, false);
        assert.equal(ip.payloadLength, payload);
        assert.ok(ip.verifyChecksum());
        assert.equal(rfc1071Checksum(b.subarray(0, 20)), 0);
        const generic = new IpPacket();
        assert.ok(generic.read(b, 0, b.length));
      },
    ),
    RUNS,
  );
});

Deno.test("IPv6: emitIpv6Header() → Ipv6Packet gives the same fields", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1000 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      ipv6,
      ipv6,
      fc.integer({ min: 0, max: 255 }),
      (payload, next, hop, src, dst, tc) => {
        const b = new Uint8Array(40 + payload).fill(0xa5);
        emitIpv6Header(b, 0, payload, next, hop, src, dst, tc);
        const ip = new Ipv6Packet().wrap(b);
        assert.equal(ip.check(), "ok");
        assert.deepEqual(
          [
            ip.payloadLength,
            ip.nextHeader,
            ip.hopLimit,
            ip.src,
            ip.dst,
            ip.trafficClass,
            ip.version,
          ],
          [payload, next, hop, src, dst, tc, 6],
        );
      },
    ),
    RUNS,
  );
});

Deno.test("UDP: emitUdpHeader() → UdpDatagram: same fields, checksum verified and equal to RFC 1071's", () => {
  fc.assert(
    fc.property(
      family,
      u16,
      u16,
      fc.uint8Array({ maxLength: 600 }),
      ({ src, dst }, sp, dp, payload) => {
        const b = new Uint8Array(8 + payload.length).fill(0xa5);
        b.set(payload, 8);
        emitUdpHeader(b, 0, sp, dp, payload.length, src, dst);
        const udp = new UdpDatagram().wrap(b);
        assert.equal(udp.check(), "ok");
        assert.deepEqual([udp.srcPort, udp.dstPort, udp.payloadLength], [sp, dp, payload.length]);
        assert.ok(udp.verifyChecksum(src, dst));
        const zeroed = b.slice();
        writeU16(zeroed, 6, 0);
        const independent = rfc1071Checksum(
          concat(pseudoHeaderBytes(src, dst, IpProtocol.UDP, b.length), zeroed),
        );
        assert.equal(udp.checksum, independent === 0 ? 0xffff : independent);
      },
    ),
    RUNS,
  );
});

Deno.test("TCP: emitTcpHeader() and options → TcpSegment and parseTcpOptions() give them back", () => {
  fc.assert(
    fc.property(
      family,
      fc.record({
        sp: u16,
        dp: u16,
        seq: u32,
        ack: u32,
        flags: fc.integer({ min: 0, max: 0xff }),
        window: u16,
      }),
      fc.record({
        mss: fc.option(u16, { nil: undefined }),
        shift: fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
        sack: fc.boolean(),
        ts: fc.option(fc.tuple(u32, u32), { nil: undefined }),
      }),
      fc.uint8Array({ maxLength: 300 }),
      ({ src, dst }, h, o, payload) => {
        const b = new Uint8Array(60 + payload.length).fill(0xa5);
        let at = 20;
        if (o.mss !== undefined) at = emitTcpMssOption(b, at, o.mss);
        if (o.shift !== undefined) at = emitTcpWindowScaleOption(b, at, o.shift);
        if (o.sack) at = emitTcpSackPermittedOption(b, at);
        if (o.ts !== undefined) at = emitTcpTimestampsOption(b, at, o.ts[0], o.ts[1]);
        while (at % 4 !== 0) b[at++] = 1; // NOP padding
        emitTcpHeader(b, 0, h.sp, h.dp, h.seq, h.ack, h.flags, h.window, at - 20);
        b.set(payload, at);
        const segment = b.subarray(0, at + payload.length);
        const tcp = new TcpSegment().wrap(segment);
        assert.equal(tcp.check(), "ok");
        assert.deepEqual(
          [
            tcp.srcPort,
            tcp.dstPort,
            tcp.seq,
            tcp.ack,
            tcp.flags,
            tcp.window,
            tcp.headerLength,
            tcp.payloadLength,
          ],
          [h.sp, h.dp, h.seq, h.ack, h.flags, h.window, at, payload.length],
        );
        const options = new TcpOptions();
        assert.ok(parseTcpOptions(tcp, options));
        assert.deepEqual(
          [options.mss, options.windowScale, options.sackPermitted, options.hasTimestamps],
          [o.mss ?? -1, o.shift ?? -1, o.sack, o.ts !== undefined],
        );
        if (o.ts !== undefined) assert.deepEqual([options.tsVal, options.tsEcr], o.ts);
        tcp.fillChecksum(src, dst);
        assert.ok(tcp.verifyChecksum(src, dst));
        const zeroed = segment.slice();
        writeU16(zeroed, 16, 0);
        assert.equal(
          tcp.checksum,
          rfc1071Checksum(
            concat(pseudoHeaderBytes(src, dst, IpProtocol.TCP, segment.length), zeroed),
          ),
        );
        assert.equal(
          finishChecksum(
            sumBytes(
              segment,
              0,
              segment.length,
              pseudoHeaderSum(src, dst, IpProtocol.TCP, segment.length),
            ),
          ),
          0,
        );
      },
    ),
    RUNS,
  );
});

Deno.test("ICMP: emitIcmpEcho() and emitIcmpError() → IcmpMessage with a checksum RFC 1071 accepts", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(0, 8),
      u16,
      u16,
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ minLength: 28, maxLength: 200 }),
      (type, id, seq, data, quoted) => {
        const b = new Uint8Array(8 + data.length).fill(0xa5);
        b.set(data, 8);
        emitIcmpEcho(b, 0, type, id, seq, data.length);
        const icmp = new IcmpMessage().wrap(b);
        assert.equal(icmp.check(), "ok");
        assert.deepEqual([icmp.type, icmp.identifier, icmp.sequence, icmp.dataLength], [
          type,
          id,
          seq,
          data.length,
        ]);
        assert.ok(icmp.verifyChecksum());
        assert.equal(rfc1071Checksum(b), 0);
        const error = new Uint8Array(8 + quoted.length).fill(0xa5);
        const n = emitIcmpError(error, 0, 3, 3, 0, quoted, 0, quoted.length);
        const message = new IcmpMessage().wrap(error, 0, n);
        assert.equal(message.check(), "ok");
        assert.equal(rfc1071Checksum(error.subarray(0, n)), 0);
      },
    ),
    RUNS,
  );
});

Deno.test("ICMPv6: emitIcmpv6Echo() and fillIcmpv6Checksum() agree with RFC 1071 over the pseudo-header", () => {
  fc.assert(
    fc.property(
      ipv6,
      ipv6,
      u16,
      u16,
      fc.uint8Array({ maxLength: 200 }),
      (src, dst, id, seq, data) => {
        const b = new Uint8Array(8 + data.length).fill(0xa5);
        b.set(data, 8);
        emitIcmpv6Echo(b, 0, 129, id, seq, data.length, src, dst);
        fillIcmpv6Checksum(b, 0, b.length, src, dst);
        const message = new Icmpv6Message().wrap(b);
        assert.equal(message.check(), "ok");
        assert.ok(message.verifyChecksum(pseudoHeaderSum(src, dst, 58, b.length)));
        assert.equal(rfc1071Checksum(concat(pseudoHeaderBytes(src, dst, 58, b.length), b)), 0);
      },
    ),
    RUNS,
  );
});

Deno.test("NDP options: emitted options parse back (link-layer, prefix, MTU, RDNSS)", () => {
  fc.assert(
    fc.property(
      mac,
      ipv6,
      fc.integer({ min: 0, max: 128 }),
      u32,
      u32,
      u32,
      fc.array(ipv6, { minLength: 1, maxLength: 4 }),
      (m, prefix, length, valid, preferred, mtu, servers) => {
        const b = new Uint8Array(256).fill(0xa5);
        let at = 0;
        at += emitLinkLayerOption(b, at, 1, m, 0);
        const prefixAt = at;
        at += emitPrefixOption(b, at, prefix, length, 0xc0, valid, preferred);
        const mtuAt = at;
        at += emitMtuOption(b, at, mtu);
        const rdnssAt = at;
        at += emitRdnssOption(b, at, valid, servers);
        const options = new NdpOptions();
        assert.equal(options.parse(b, 0, at), "ok");
        assert.deepEqual(parsePrefixOption(b, prefixAt), {
          prefixLength: length,
          onLink: true,
          autonomous: true,
          validLifetime: valid,
          preferredLifetime: preferred,
          prefix,
        });
        assert.equal(parseMtuOption(b, mtuAt), mtu);
        assert.deepEqual(parseRdnssOption(b, rdnssAt), { lifetime: valid, servers });
      },
    ),
    RUNS,
  );
});

Deno.test("Addresses: IPv4 and IPv6 text and bytes round trip", () => {
  fc.assert(
    fc.property(ipv4, ipv6, (a4, a6) => {
      assert.equal(parseIpv4(formatIpv4(a4)), a4);
      assert.equal(parseIpv6(formatIpv6(a6)), a6);
      assert.equal(ipv6Groups(a6).length, 8);
      const b = new Uint8Array(20);
      writeIpv4(b, 0, a4);
      writeIpv6(b, 4, a6);
      assert.equal(readIpv4(b, 0), a4);
      assert.equal(readIpv6(b, 4), a6);
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), (text) => {
      // Never throws; what parses formats back to the same address.
      const four = parseIpv4(text);
      if (four !== null) assert.equal(parseIpv4(formatIpv4(four)), four);
      const six = parseIpv6(text);
      if (six !== null) assert.equal(parseIpv6(formatIpv6(six)), six);
    }),
    RUNS,
  );
});

Deno.test("pcap: file and record headers round trip through parsePcap()", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 262144 }),
      fc.integer({ min: 0, max: 300 }),
      fc.array(
        fc.record({
          s: u32,
          us: fc.integer({ min: 0, max: 999999 }),
          data: fc.uint8Array({ maxLength: 80 }),
        }),
        {
          maxLength: 8,
        },
      ),
      (snaplen, linktype, records) => {
        const total = 24 + records.reduce((n, r) => n + 16 + Math.min(r.data.length, snaplen), 0);
        const file = new Uint8Array(total);
        emitPcapFileHeader(file, 0, snaplen, linktype);
        let at = 24;
        for (const r of records) {
          const captured = Math.min(r.data.length, snaplen);
          emitPcapRecordHeader(file, at, r.s, r.us, captured, r.data.length);
          file.set(r.data.subarray(0, captured), at + 16);
          at += 16 + captured;
        }
        const parsed = parsePcap(file);
        assert.ok(parsed.ok);
        assert.deepEqual([parsed.header.snaplen, parsed.header.linktype], [snaplen, linktype]);
        assert.deepEqual(
          parsed.records.map((r) => [r.seconds, r.microseconds, r.originalLength, [...r.data]]),
          records.map((r) => [r.s, r.us, r.data.length, [...r.data.subarray(0, snaplen)]]),
        );
      },
    ),
    RUNS,
  );
});

Deno.test("pseudoHeaderSumAt() reads the addresses an emitted IP header holds", () => {
  fc.assert(
    fc.property(family, u16, ({ src, dst }, length) => {
      const b = new Uint8Array(40);
      if (typeof src === "bigint") emitIpv6Header(b, 0, length, 6, 64, src, dst as bigint);
      else emitIpv4Header(b, 0, 20, 0, false, 64, 6, src, dst as number);
      assert.equal(
        finishChecksum(pseudoHeaderSumAt(b, 0, 6, length)),
        rfc1071Checksum(pseudoHeaderBytes(src, dst, 6, length)),
      );
    }),
    RUNS,
  );
});
