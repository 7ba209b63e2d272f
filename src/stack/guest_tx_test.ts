import assert from "node:assert/strict";
import { deriveAddresses } from "../config.ts";
import { parseIpv6 } from "../wire/address.ts";
import { EtherType } from "../wire/ethernet.ts";
import { IPV6_HEADER_LEN, Ipv6NextHeader, Ipv6Packet } from "../wire/ipv6.ts";
import { readU16, readU32 } from "../wire/view.ts";
import { Counters } from "./counters.ts";
import {
  GuestTx,
  IPV4_PAYLOAD_OFFSET,
  IPV6_MAX_PAYLOAD,
  IPV6_PAYLOAD_OFFSET,
  payloadOffsetOf,
} from "./guest_tx.ts";
import { MemoryLink } from "./memory_link.ts";
import { slirpMac } from "./slirp_mac.ts";

const ADDRESSES = deriveAddresses(0x0a000200, 24, true);
const V6 = ADDRESSES.ipv6!;
const GUEST = parseIpv6("fd00::5054:ff:fe12:3456")!;
const GUEST_MAC = new Uint8Array([0x52, 0x54, 0, 0x12, 0x34, 0x56]);

function setup(mtu = 1500) {
  const link = new MemoryLink();
  const counters = new Counters();
  return { link, counters, tx: new GuestTx(link, mtu, ADDRESSES, counters) };
}

Deno.test("sendIpv6() sends a payload within the MTU behind Ethernet and IPv6 headers", () => {
  const { link, tx } = setup();
  tx.frame.fill(7, IPV6_PAYLOAD_OFFSET, IPV6_PAYLOAD_OFFSET + 100);
  assert.ok(tx.sendIpv6(GUEST_MAC, 0, V6.gateway, GUEST, Ipv6NextHeader.UDP, 64, 0, 100));
  const [frame] = link.take();
  assert.equal(frame.length, IPV6_PAYLOAD_OFFSET + 100);
  assert.deepEqual(frame.subarray(0, 6), GUEST_MAC);
  assert.deepEqual(frame.subarray(6, 12), slirpMac(ADDRESSES.gateway));
  assert.equal(readU16(frame, 12), EtherType.IPV6);
  const ip = new Ipv6Packet().wrap(frame, 14);
  assert.equal(ip.check(), "ok");
  assert.equal(ip.payloadLength, 100);
  assert.equal(ip.src, V6.gateway);
  assert.equal(ip.dst, GUEST);
  assert.ok(frame.subarray(IPV6_PAYLOAD_OFFSET).every((b) => b === 7));
});

Deno.test("sendIpv6() from the DNS address uses the DNS host's MAC", () => {
  const { link, tx } = setup();
  tx.sendIpv6(GUEST_MAC, 0, V6.dns, GUEST, Ipv6NextHeader.UDP, 64, 0, 8);
  assert.deepEqual(link.take()[0].subarray(6, 12), slirpMac(ADDRESSES.dns));
});

Deno.test("sendIpv6() cuts a payload above the MTU into RFC 8200 §4.5 fragments that reassemble", () => {
  for (const mtu of [1280, 1500, 9000]) {
    for (
      const length of [mtu - 40 + 1, 4000, 20000, IPV6_MAX_PAYLOAD].filter((n) => n > mtu - 40)
    ) {
      const { link, tx, counters } = setup(mtu);
      const payload = Uint8Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff);
      tx.frame.set(payload, IPV6_PAYLOAD_OFFSET);
      assert.ok(tx.sendIpv6(GUEST_MAC, 0, V6.gateway, GUEST, Ipv6NextHeader.UDP, 64, 0, length));
      const frames = link.take();
      assert.ok(frames.length >= 2);
      const whole = new Uint8Array(length);
      const ids = new Set<number>();
      let expectedOffset = 0;
      frames.forEach((frame, index) => {
        assert.ok(frame.length <= mtu + 14, `mtu ${mtu} fragment ${index} fits`);
        const ip = new Ipv6Packet().wrap(frame, 14);
        assert.equal(ip.check(), "ok");
        assert.equal(ip.nextHeader, Ipv6NextHeader.FRAGMENT);
        const at = IPV6_PAYLOAD_OFFSET;
        assert.equal(frame[at], Ipv6NextHeader.UDP);
        const offsetWord = readU16(frame, at + 2);
        const offset = offsetWord & 0xfff8;
        const more = (offsetWord & 1) === 1;
        assert.equal(offset, expectedOffset);
        assert.equal(more, index < frames.length - 1);
        ids.add(readU32(frame, at + 4));
        const data = frame.subarray(at + 8, 14 + IPV6_HEADER_LEN + ip.payloadLength);
        if (more) assert.equal(data.length % 8, 0);
        whole.set(data, offset);
        expectedOffset += data.length;
      });
      assert.equal(expectedOffset, length);
      assert.equal(ids.size, 1);
      assert.deepEqual(whole, payload);
      assert.equal(counters.get("tx.fragmented"), 1);
      assert.equal(counters.get("tx.fragment"), frames.length);
    }
  }
});

Deno.test("sendIpv6() refuses a payload beyond 65535 bytes", () => {
  const { link, tx, counters } = setup();
  assert.equal(
    tx.sendIpv6(GUEST_MAC, 0, V6.gateway, GUEST, 17, 64, 0, IPV6_MAX_PAYLOAD + 1),
    false,
  );
  assert.equal(link.take().length, 0);
  assert.equal(counters.get("tx.exceeds_mtu"), 1);
});

Deno.test("sendIp() and payloadOffsetOf() pick the family by the address type", () => {
  const { link, tx } = setup();
  assert.equal(payloadOffsetOf(ADDRESSES.gateway), IPV4_PAYLOAD_OFFSET);
  assert.equal(payloadOffsetOf(V6.gateway), IPV6_PAYLOAD_OFFSET);
  tx.sendIp(GUEST_MAC, 0, ADDRESSES.gateway, ADDRESSES.guest, 17, 64, 0, 8);
  tx.sendIp(GUEST_MAC, 0, V6.gateway, GUEST, 17, 64, 0, 8);
  const [v4, v6] = link.take();
  assert.equal(readU16(v4, 12), EtherType.IPV4);
  assert.equal(readU16(v6, 12), EtherType.IPV6);
});
