import assert from "node:assert/strict";
import {
  DAD_NEIGHBOR_SOLICITATION,
  GUEST_LINK_LOCAL,
  ROUTER_SOLICITATION,
} from "./testdata/ipv6_captured.ts";
import {
  emitIcmpv6Echo,
  emitIcmpv6Error,
  emitLinkLayerOption,
  emitMtuOption,
  emitNeighborMessage,
  emitPrefixOption,
  emitRdnssOption,
  emitRouterAdvertisement,
  emitRouterSolicitation,
  fillIcmpv6Checksum,
  ICMPV6_MAX_QUOTE,
  Icmpv6Message,
  icmpv6QuoteLength,
  Icmpv6Type,
  Icmpv6Unreachable,
  isSolicitedNodeOf,
  NdpOption,
  NdpOptions,
  NeighborFlag,
  parseMtuOption,
  parsePrefixOption,
  parseRdnssOption,
  PrefixFlag,
  RouterFlag,
  solicitedNodeAddress,
  writeMulticastMac,
} from "./icmpv6.ts";
import { readIpv6, writeIpv6 } from "./address.ts";
import { pseudoHeaderSum, pseudoHeaderSumAt } from "./checksum.ts";

const ALL_ROUTERS = 0xff02_0000_0000_0000_0000_0000_0000_0002n;
const ALL_NODES = 0xff02_0000_0000_0000_0000_0000_0000_0001n;
const ROUTER_LINK_LOCAL = 0xfe80_0000_0000_0000_0000_0000_0000_0002n;
const GATEWAY = 0xfd00_0000_0000_0000_0000_0000_0000_0002n;
const DNS = 0xfd00_0000_0000_0000_0000_0000_0000_0003n;
const GUEST = 0xfd00_0000_0000_0000_0000_0000_0000_0064n;

/** The ICMPv6 message of a captured frame (Ethernet 14 + IPv6 40), with its pseudo-header sum. */
function icmpOf(frame: Uint8Array): { icmp: Icmpv6Message; sum: number } {
  const length = frame.length - 54;
  return {
    icmp: new Icmpv6Message().wrap(frame, 54, length),
    sum: pseudoHeaderSumAt(frame, 14, 58, length),
  };
}

Deno.test("Icmpv6Message reads the captured router solicitation and its source MAC", () => {
  const { icmp, sum } = icmpOf(ROUTER_SOLICITATION);
  assert.equal(icmp.check(), "ok");
  assert.ok(icmp.verifyChecksum(sum));
  assert.equal(icmp.type, Icmpv6Type.ROUTER_SOLICITATION);
  assert.equal(icmp.code, 0);
  assert.equal(icmp.optionsOffset, 62);
  assert.equal(icmp.optionsLength, 8);
  const options = new NdpOptions();
  assert.equal(options.parse(icmp.bytes, icmp.optionsOffset, icmp.optionsLength), "ok");
  assert.equal(options.sourceMacOffset, 64);
  assert.deepEqual(ROUTER_SOLICITATION.subarray(64, 70), ROUTER_SOLICITATION.subarray(6, 12));
  assert.equal(options.targetMacOffset, -1);
  assert.equal(options.count, 1);
});

Deno.test("Icmpv6Message reads the captured DAD solicitation: target, nonce, no source MAC", () => {
  const { icmp, sum } = icmpOf(DAD_NEIGHBOR_SOLICITATION);
  assert.equal(icmp.check(), "ok");
  assert.ok(icmp.verifyChecksum(sum));
  assert.equal(icmp.type, Icmpv6Type.NEIGHBOR_SOLICITATION);
  assert.equal(icmp.target, GUEST_LINK_LOCAL);
  assert.equal(icmp.targetOffset, 62);
  const options = new NdpOptions();
  assert.equal(options.parse(icmp.bytes, icmp.optionsOffset, icmp.optionsLength), "ok");
  assert.equal(options.sourceMacOffset, -1);
  assert.equal(options.nonceOffset, 78);
  // The destination is the solicited-node address of the target.
  assert.ok(isSolicitedNodeOf(DAD_NEIGHBOR_SOLICITATION, 38, DAD_NEIGHBOR_SOLICITATION, 62));
  assert.ok(!isSolicitedNodeOf(ROUTER_SOLICITATION, 38, DAD_NEIGHBOR_SOLICITATION, 62));
  assert.equal(readIpv6(DAD_NEIGHBOR_SOLICITATION, 38), solicitedNodeAddress(GUEST_LINK_LOCAL));
});

Deno.test("a flipped byte or a wrong pseudo-header fails the checksum", () => {
  const frame = ROUTER_SOLICITATION.slice();
  const { icmp, sum } = icmpOf(frame);
  assert.ok(!icmp.verifyChecksum(sum + 1));
  frame[66] ^= 0x10;
  assert.ok(!icmp.verifyChecksum(sum));
});

Deno.test("Icmpv6Message.check() wants the fixed part of each type", () => {
  const bytes = new Uint8Array(64);
  const icmp = new Icmpv6Message();
  for (
    const [type, min] of [
      [Icmpv6Type.ECHO_REQUEST, 8],
      [Icmpv6Type.ROUTER_SOLICITATION, 8],
      [Icmpv6Type.ROUTER_ADVERTISEMENT, 16],
      [Icmpv6Type.NEIGHBOR_SOLICITATION, 24],
      [Icmpv6Type.NEIGHBOR_ADVERTISEMENT, 24],
      [Icmpv6Type.REDIRECT, 40],
      [Icmpv6Type.PACKET_TOO_BIG, 8],
    ]
  ) {
    bytes[0] = type;
    for (let length = 0; length < min; length++) {
      assert.equal(icmp.wrap(bytes, 0, length).check(), "truncated", `${type}/${length}`);
    }
    assert.equal(icmp.wrap(bytes, 0, min).check(), "ok", `${type}`);
  }
  // An empty view reads byte undefined as type: still truncated, never a throw.
  assert.equal(icmp.wrap(new Uint8Array(0)).check(), "truncated");
});

Deno.test("NdpOptions rejects a zero length and an option past the end", () => {
  const options = new NdpOptions();
  assert.equal(options.parse(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]), 0, 8), "zero_length");
  assert.equal(options.parse(new Uint8Array([1, 2, 0, 0, 0, 0, 0, 0]), 0, 8), "truncated");
  assert.equal(options.parse(new Uint8Array([1]), 0, 1), "truncated");
  assert.equal(options.parse(new Uint8Array(8), 4, 8), "truncated");
  assert.equal(options.parse(new Uint8Array(8), 0, -1), "truncated");
  // A zero length after a good option.
  const two = new Uint8Array([1, 1, 2, 2, 2, 2, 2, 2, 25, 0]);
  assert.equal(options.parse(two, 0, 10), "zero_length");
  assert.equal(options.parse(two, 0, 0), "ok");
  assert.equal(options.sourceMacOffset, -1, "reset by the next parse");
});

Deno.test("NdpOptions skips unknown options and odd-sized known ones", () => {
  const bytes = new Uint8Array(64);
  let at = 0;
  bytes.set([200, 2], at); // unknown, 16 bytes
  at += 16;
  bytes.set([1, 2], at); // a source link-layer option of 16 bytes: not an Ethernet MAC
  at += 16;
  bytes.set([25, 2], at); // RDNSS with an even length: invalid (RFC 8106 §5.1)
  at += 16;
  bytes.set([2, 1, 1, 2, 3, 4, 5, 6], at);
  at += 8;
  bytes.set([1, 1, 9, 9, 9, 9, 9, 9], at);
  at += 8;
  const options = new NdpOptions();
  assert.equal(options.parse(bytes, 0, at), "ok");
  assert.equal(options.count, 5);
  assert.equal(options.rdnssOffset, -1);
  assert.equal(options.targetMacOffset, 50);
  assert.equal(options.sourceMacOffset, 58);
});

Deno.test("a router advertisement built into a 0xa5 buffer reads back field by field", () => {
  const bytes = new Uint8Array(200).fill(0xa5);
  const mac = new Uint8Array([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
  const at = 10;
  let length = emitRouterAdvertisement(bytes, at, 64, RouterFlag.OTHER, 1800, 0, 0);
  length += emitLinkLayerOption(bytes, at + length, NdpOption.SOURCE_LINK_LAYER, mac, 0);
  length += emitMtuOption(bytes, at + length, 1500);
  length += emitPrefixOption(
    bytes,
    at + length,
    0xfd00n << 112n,
    64,
    PrefixFlag.ON_LINK | PrefixFlag.AUTONOMOUS,
    86400,
    14400,
  );
  length += emitRdnssOption(bytes, at + length, 1200, [DNS, GATEWAY]);
  assert.equal(length, 16 + 8 + 8 + 32 + 40);
  fillIcmpv6Checksum(bytes, at, length, ROUTER_LINK_LOCAL, ALL_NODES);
  assert.equal(bytes[at + length], 0xa5, "nothing written past the end");
  assert.equal(bytes[at - 1], 0xa5);

  const icmp = new Icmpv6Message().wrap(bytes, at, length);
  assert.equal(icmp.check(), "ok");
  assert.ok(icmp.verifyChecksum(pseudoHeaderSum(ROUTER_LINK_LOCAL, ALL_NODES, 58, length)));
  assert.equal(icmp.type, Icmpv6Type.ROUTER_ADVERTISEMENT);
  assert.equal(icmp.curHopLimit, 64);
  assert.equal(icmp.routerFlags, RouterFlag.OTHER);
  assert.equal(icmp.routerLifetime, 1800);
  assert.equal(icmp.reachableTime, 0);
  assert.equal(icmp.retransTimer, 0);
  const options = new NdpOptions();
  assert.equal(options.parse(bytes, icmp.optionsOffset, icmp.optionsLength), "ok");
  assert.equal(options.count, 4);
  assert.deepEqual(bytes.subarray(options.sourceMacOffset, options.sourceMacOffset + 6), mac);
  assert.equal(parseMtuOption(bytes, options.mtuOffset), 1500);
  assert.deepEqual(parsePrefixOption(bytes, options.prefixOffset), {
    prefixLength: 64,
    onLink: true,
    autonomous: true,
    validLifetime: 86400,
    preferredLifetime: 14400,
    prefix: 0xfd00n << 112n,
  });
  assert.deepEqual(parseRdnssOption(bytes, options.rdnssOffset), {
    lifetime: 1200,
    servers: [DNS, GATEWAY],
  });
});

Deno.test("emitRouterSolicitation() and a source MAC option reproduce the captured one", () => {
  const bytes = new Uint8Array(24).fill(0xa5);
  let length = emitRouterSolicitation(bytes, 0);
  length += emitLinkLayerOption(
    bytes,
    length,
    NdpOption.SOURCE_LINK_LAYER,
    ROUTER_SOLICITATION,
    6,
  );
  fillIcmpv6Checksum(bytes, 0, length, GUEST_LINK_LOCAL, ALL_ROUTERS);
  assert.deepEqual(bytes.subarray(0, length), ROUTER_SOLICITATION.subarray(54));
});

Deno.test("emitNeighborMessage() builds solicitations and advertisements with their flags", () => {
  const target = new Uint8Array(16);
  writeIpv6(target, 0, GATEWAY);
  const bytes = new Uint8Array(40).fill(0xa5);
  let length = emitNeighborMessage(
    bytes,
    0,
    Icmpv6Type.NEIGHBOR_ADVERTISEMENT,
    NeighborFlag.ROUTER | NeighborFlag.SOLICITED | NeighborFlag.OVERRIDE,
    target,
    0,
  );
  const mac = new Uint8Array([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
  length += emitLinkLayerOption(bytes, length, NdpOption.TARGET_LINK_LAYER, mac, 0);
  fillIcmpv6Checksum(bytes, 0, length, GATEWAY, GUEST);
  const icmp = new Icmpv6Message().wrap(bytes, 0, length);
  assert.equal(icmp.check(), "ok");
  assert.ok(icmp.verifyChecksum(pseudoHeaderSum(GATEWAY, GUEST, 58, length)));
  assert.equal(icmp.neighborFlags, 0xe0);
  assert.deepEqual([bytes[5], bytes[6], bytes[7]], [0, 0, 0], "reserved bits zero");
  assert.equal(icmp.target, GATEWAY);
  const options = new NdpOptions();
  assert.equal(options.parse(bytes, icmp.optionsOffset, icmp.optionsLength), "ok");
  assert.equal(options.targetMacOffset, 26);

  emitNeighborMessage(bytes, 0, Icmpv6Type.NEIGHBOR_SOLICITATION, 0, target, 0);
  assert.equal(icmp.type, Icmpv6Type.NEIGHBOR_SOLICITATION);
  assert.equal(icmp.neighborFlags, 0);
});

Deno.test("emitIcmpv6Echo() checksums odd lengths and no data", () => {
  for (const dataLength of [0, 1, 7, 1453]) {
    const bytes = new Uint8Array(8 + dataLength).map((_, i) => i * 13);
    const length = emitIcmpv6Echo(
      bytes,
      0,
      Icmpv6Type.ECHO_REPLY,
      0x1234,
      9,
      dataLength,
      GATEWAY,
      GUEST,
    );
    const icmp = new Icmpv6Message().wrap(bytes, 0, length);
    assert.ok(icmp.verifyChecksum(pseudoHeaderSum(GATEWAY, GUEST, 58, length)), `${dataLength}`);
    assert.equal(icmp.identifier, 0x1234);
    assert.equal(icmp.sequence, 9);
  }
});

Deno.test("ICMPv6 errors quote as much as fits in 1280 bytes (RFC 4443 §2.4 (c))", () => {
  assert.equal(ICMPV6_MAX_QUOTE, 1232);
  assert.equal(icmpv6QuoteLength(0), 0);
  assert.equal(icmpv6QuoteLength(-5), 0);
  assert.equal(icmpv6QuoteLength(48), 48);
  assert.equal(icmpv6QuoteLength(1232), 1232);
  assert.equal(icmpv6QuoteLength(65535), 1232);

  const offending = new Uint8Array(3000).map((_, i) => i);
  const out = new Uint8Array(1300).fill(0xa5);
  const quote = icmpv6QuoteLength(offending.length);
  const length = emitIcmpv6Error(
    out,
    4,
    Icmpv6Type.PACKET_TOO_BIG,
    0,
    1500,
    offending,
    0,
    quote,
    GATEWAY,
    GUEST,
  );
  assert.equal(length + 40, 1280);
  assert.equal(out[4 + length], 0xa5);
  const icmp = new Icmpv6Message().wrap(out, 4, length);
  assert.ok(icmp.verifyChecksum(pseudoHeaderSum(GATEWAY, GUEST, 58, length)));
  assert.equal(icmp.restOfHeader, 1500);
  assert.deepEqual(out.subarray(12, 4 + length), offending.subarray(0, 1232));

  const short = emitIcmpv6Error(
    out,
    0,
    Icmpv6Type.DEST_UNREACHABLE,
    Icmpv6Unreachable.PORT,
    0,
    offending,
    0,
    icmpv6QuoteLength(48),
    GATEWAY,
    GUEST,
  );
  assert.equal(short, 56);
  assert.equal(icmp.wrap(out, 0, short).code, Icmpv6Unreachable.PORT);
  assert.equal(icmp.restOfHeader, 0);
});

Deno.test("solicited-node addresses and multicast MACs (RFC 4291 §2.7.1, RFC 2464 §7)", () => {
  assert.equal(solicitedNodeAddress(GUEST), 0xff02_0000_0000_0000_0000_0001_ff00_0064n);
  const address = new Uint8Array(16);
  writeIpv6(address, 0, solicitedNodeAddress(GUEST_LINK_LOCAL));
  const mac = new Uint8Array(6);
  writeMulticastMac(mac, 0, address, 0);
  assert.deepEqual(mac, DAD_NEIGHBOR_SOLICITATION.subarray(0, 6));
});
