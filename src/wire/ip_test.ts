import assert from "node:assert/strict";
import { parseIpv6 } from "./address.ts";
import { IpPacket } from "./ip.ts";
import { emitIpv4Header, IpProtocol, IPV4, Ipv4Flag } from "./ipv4.ts";
import { emitIpv6Header, Ipv6NextHeader } from "./ipv6.ts";
import { writeU16 } from "./view.ts";

Deno.test("IpPacket.read() gives the same fields for an IPv4 datagram and an IPv6 packet", () => {
  const v4 = new Uint8Array(14 + 28 + 6);
  emitIpv4Header(v4, 14, 28, 1, false, 64, IpProtocol.UDP, 0x0a00020f, 0x0a000202);
  const ip = new IpPacket();
  assert.ok(ip.read(v4, 14, v4.length - 14));
  assert.equal(ip.ipv6, false);
  assert.deepEqual(
    [ip.protocol, ip.src, ip.dst, ip.payloadOffset, ip.payloadLength, ip.totalLength],
    [17, 0x0a00020f, 0x0a000202, 34, 8, 28],
  );
  const src = parseIpv6("fd00::5")!;
  const v6 = new Uint8Array(14 + 40 + 20);
  emitIpv6Header(v6, 14, 20, Ipv6NextHeader.TCP, 64, src, 1n);
  assert.ok(ip.read(v6, 14, v6.length - 14));
  assert.equal(ip.ipv6, true);
  assert.deepEqual(
    [ip.protocol, ip.src, ip.dst, ip.payloadOffset, ip.payloadLength, ip.totalLength],
    [6, src, 1n, 54, 20, 60],
  );
});

Deno.test("IpPacket.read() refuses truncated packets and IPv4 fragments", () => {
  const ip = new IpPacket();
  const v6 = new Uint8Array(40 + 8);
  emitIpv6Header(v6, 0, 9, Ipv6NextHeader.UDP, 64, 2n, 1n);
  assert.equal(ip.read(v6, 0, v6.length), false);
  assert.equal(ip.read(v6, 0, 20), false);
  const v4 = new Uint8Array(28);
  emitIpv4Header(v4, 0, 28, 1, false, 64, IpProtocol.UDP, 1, 2);
  writeU16(v4, IPV4.FLAGS_FRAGMENT, Ipv4Flag.MORE_FRAGMENTS);
  assert.equal(ip.read(v4, 0, 28), false);
  assert.equal(ip.read(new Uint8Array(0), 0, 0), false);
});

Deno.test("IpPacket.read() gives each packet its own IPv6 addresses, reused or not", () => {
  const ip = new IpPacket();
  const bytes = new Uint8Array(48);
  const seen: bigint[] = [];
  for (const [src, dst] of [[5n, 1n], [5n, 1n], [6n, 1n], [5n, 2n], [(1n << 127n) | 5n, 1n]]) {
    emitIpv6Header(bytes, 0, 8, Ipv6NextHeader.UDP, 64, src, dst);
    assert.ok(ip.read(bytes, 0, bytes.length));
    assert.equal(ip.src, src);
    assert.equal(ip.dst, dst);
    seen.push(ip.src as bigint);
  }
  assert.deepEqual(seen, [5n, 5n, 6n, 5n, (1n << 127n) | 5n]);
});
