import assert from "node:assert/strict";
import {
  emitIpv4Header,
  IpProtocol,
  IPV4_HEADER_LEN,
  Ipv4Packet,
  isLoopbackIpv4,
  isMulticastIpv4,
  isThisNetworkIpv4,
} from "./ipv4.ts";
import {
  ICMP_ECHO_REQUEST_TO_GATEWAY,
  TCP_SYN_TO_INTERNET,
  UDP_DNS_QUERY_TO_INTERNET,
} from "./testdata/captured.ts";

function ipOf(frame: Uint8Array): Uint8Array {
  return frame.slice(14);
}

Deno.test("Ipv4Packet reads the captured ping header", () => {
  const ip = new Ipv4Packet().wrap(ICMP_ECHO_REQUEST_TO_GATEWAY, 14);
  assert.equal(ip.check(), "ok");
  assert.ok(ip.verifyChecksum());
  assert.equal(ip.version, 4);
  assert.equal(ip.headerLength, 20);
  assert.equal(ip.tos, 0);
  assert.equal(ip.totalLength, 84);
  assert.equal(ip.identification, 0x1407);
  assert.ok(ip.dontFragment);
  assert.ok(!ip.moreFragments);
  assert.ok(!ip.isFragment);
  assert.equal(ip.fragmentOffset, 0);
  assert.equal(ip.ttl, 64);
  assert.equal(ip.protocol, IpProtocol.ICMP);
  assert.equal(ip.checksum, 0x0e3d);
  assert.equal(ip.src, 0x0a000264);
  assert.equal(ip.dst, 0x0a000202);
  assert.equal(ip.payloadOffset, 34);
  assert.equal(ip.payloadLength, 64);
  assert.ok(ip.optionsValid());
});

Deno.test("Ipv4Packet reads captured TCP and UDP headers", () => {
  const ip = new Ipv4Packet().wrap(TCP_SYN_TO_INTERNET, 14);
  assert.equal(ip.check(), "ok");
  assert.ok(ip.verifyChecksum());
  assert.equal(ip.protocol, IpProtocol.TCP);
  assert.equal(ip.dst, 0x5db8d822);
  ip.wrap(UDP_DNS_QUERY_TO_INTERNET, 14);
  assert.equal(ip.check(), "ok");
  assert.ok(ip.verifyChecksum());
  assert.equal(ip.protocol, IpProtocol.UDP);
  assert.equal(ip.payloadLength, 37);
});

Deno.test("emitIpv4Header() into a 0xa5-filled buffer reproduces the captured header", () => {
  const bytes = new Uint8Array(IPV4_HEADER_LEN + 4).fill(0xa5);
  emitIpv4Header(bytes, 2, 84, 0x1407, true, 64, IpProtocol.ICMP, 0x0a000264, 0x0a000202);
  assert.deepEqual(bytes.subarray(2, 22), ICMP_ECHO_REQUEST_TO_GATEWAY.subarray(14, 34));
  assert.deepEqual([bytes[0], bytes[1], bytes[22], bytes[23]], [0xa5, 0xa5, 0xa5, 0xa5]);
});

Deno.test("Ipv4Packet.check() reports every length below 20 as truncated", () => {
  const ip = new Ipv4Packet();
  for (let length = 0; length < 20; length++) {
    assert.equal(ip.wrap(ICMP_ECHO_REQUEST_TO_GATEWAY, 14, length).check(), "truncated");
  }
});

Deno.test("Ipv4Packet.check() rejects version 6 and IHL below 5", () => {
  const bytes = ipOf(ICMP_ECHO_REQUEST_TO_GATEWAY);
  const ip = new Ipv4Packet().wrap(bytes);
  bytes[0] = 0x65;
  assert.equal(ip.check(), "bad_version");
  for (let ihl = 0; ihl < 5; ihl++) {
    bytes[0] = 0x40 | ihl;
    assert.equal(ip.check(), "bad_header_length", `IHL ${ihl}`);
  }
});

Deno.test("Ipv4Packet.check() rejects a total length beyond the frame or below the header", () => {
  const bytes = ipOf(ICMP_ECHO_REQUEST_TO_GATEWAY);
  const ip = new Ipv4Packet().wrap(bytes);
  bytes[2] = 0xff;
  bytes[3] = 0xff;
  assert.equal(ip.check(), "total_length_exceeds_buffer");
  bytes[2] = 0;
  bytes[3] = 85;
  assert.equal(ip.check(), "total_length_exceeds_buffer");
  bytes[3] = 0;
  assert.equal(ip.check(), "bad_header_length");
  bytes[3] = 19;
  assert.equal(ip.check(), "bad_header_length");
  bytes[3] = 20;
  assert.equal(ip.check(), "ok");
  assert.equal(ip.payloadLength, 0);
  // IHL 15 (60 bytes) with a total length of 40.
  bytes[0] = 0x4f;
  bytes[3] = 40;
  assert.equal(ip.check(), "bad_header_length");
});

Deno.test("Ipv4Packet ignores Ethernet padding after the total length", () => {
  const bytes = new Uint8Array(46);
  emitIpv4Header(bytes, 0, 28, 1, false, 64, IpProtocol.UDP, 0, 0xffffffff);
  const ip = new Ipv4Packet().wrap(bytes);
  assert.equal(ip.check(), "ok");
  assert.equal(ip.payloadLength, 8);
});

Deno.test("verifyChecksum() detects any flipped bit; header checksums 0 and 0xffff are valid", () => {
  const bytes = ipOf(ICMP_ECHO_REQUEST_TO_GATEWAY);
  const ip = new Ipv4Packet().wrap(bytes);
  for (let bit = 0; bit < 160; bit++) {
    bytes[bit >>> 3] ^= 1 << (bit & 7);
    assert.equal(ip.verifyChecksum(), false, `bit ${bit}`);
    bytes[bit >>> 3] ^= 1 << (bit & 7);
  }
  assert.ok(ip.verifyChecksum());
  // A header whose computed checksum is 0x0000; 0xffff (-0) in its place must verify too.
  const header = new Uint8Array(20);
  for (let id = 0; id < 65536; id++) {
    emitIpv4Header(header, 0, 20, id, false, 64, 17, 0x0a000202, 0x0a00020f);
    if (header[10] === 0 && header[11] === 0) {
      assert.ok(new Ipv4Packet().wrap(header).verifyChecksum());
      // +0 and -0: 0xffff in the checksum field is the same one's complement value.
      header[10] = header[11] = 0xff;
      assert.ok(new Ipv4Packet().wrap(header).verifyChecksum());
      return;
    }
  }
  assert.fail("no identification gives a zero checksum");
});

Deno.test("fillChecksum() recomputes after a TTL change", () => {
  const bytes = ipOf(ICMP_ECHO_REQUEST_TO_GATEWAY);
  const ip = new Ipv4Packet().wrap(bytes);
  ip.ttl = 255;
  assert.ok(!ip.verifyChecksum());
  ip.fillChecksum();
  assert.ok(ip.verifyChecksum());
});

Deno.test("isFragment and fragmentOffset follow the MF flag and the offset field", () => {
  const bytes = ipOf(ICMP_ECHO_REQUEST_TO_GATEWAY);
  const ip = new Ipv4Packet().wrap(bytes);
  bytes[6] = 0x20; // MF, offset 0: first fragment
  bytes[7] = 0;
  assert.ok(ip.isFragment && ip.moreFragments && !ip.dontFragment);
  bytes[6] = 0x00; // last fragment at offset 185 × 8
  bytes[7] = 185;
  assert.ok(ip.isFragment);
  assert.equal(ip.fragmentOffset, 1480);
  bytes[6] = 0x1f;
  bytes[7] = 0xff;
  assert.equal(ip.fragmentOffset, 65528);
});

Deno.test("optionsValid() walks NOP, EOL and TLV options within the header", () => {
  const bytes = new Uint8Array(60);
  const ip = new Ipv4Packet().wrap(bytes);
  const withOptions = (options: number[]) => {
    bytes.fill(0);
    const ihl = 5 + Math.ceil(options.length / 4);
    bytes[0] = 0x40 | ihl;
    bytes[3] = ihl * 4;
    bytes.set(options, 20);
    assert.equal(ip.check(), "ok");
    return ip.optionsValid();
  };
  assert.ok(withOptions([1, 1, 1, 0]));
  assert.ok(withOptions([0x94, 4, 0, 0])); // router alert (RFC 2113)
  assert.ok(withOptions([7, 7, 4, 0, 0, 0, 0, 0])); // record route, one slot
  assert.ok(withOptions([0, 0xff, 0xff, 0xff])); // garbage after EOL is padding
  assert.ok(!withOptions([7, 1, 0, 0])); // length < 2
  assert.ok(!withOptions([7, 0, 0, 0])); // length 0
  assert.ok(!withOptions([1, 1, 1, 7])); // no room for the length octet
  assert.ok(!withOptions([7, 40, 4, 0])); // runs past the header
});

Deno.test("address classes: multicast, this-network, loopback", () => {
  assert.ok(isMulticastIpv4(0xe0000001));
  assert.ok(isMulticastIpv4(0xefffffff));
  assert.ok(!isMulticastIpv4(0xffffffff));
  assert.ok(isThisNetworkIpv4(0));
  assert.ok(isLoopbackIpv4(0x7f000001));
  assert.ok(!isLoopbackIpv4(0x0a000202));
});
