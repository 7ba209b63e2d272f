import assert from "node:assert/strict";
import { internetChecksum } from "../wire/checksum.ts";
import { BootpOp, DHCP_FLAG_BROADCAST, DhcpMessageType as T, DhcpOption } from "../wire/dhcp.ts";
import { UdpDatagram } from "../wire/udp.ts";
import {
  DHCP_DISCOVER_UDHCPC,
  DHCP_RELEASE_UDHCPC,
  DHCP_REQUEST_RENEWING_UDHCPC,
  DHCP_REQUEST_SELECTING_UDHCPC,
} from "../wire/testdata/captured.ts";
import { Counters } from "./counters.ts";
import { DHCP_LEASE_SECONDS, DHCP_NAK_MESSAGE, DHCP_OFFER_HOLD_MS } from "./dhcp_server.ts";
import { Dispatcher } from "./dispatcher.ts";
import { MemoryLink } from "./memory_link.ts";
import {
  ADDRESSES,
  clientMac,
  dhcpFrame,
  GATEWAY_MAC,
  GUEST_MAC,
  readDhcpReply,
  u32,
} from "./testdata/guest_frames.ts";

const BROADCAST = new Uint8Array(6).fill(0xff);
const DAY_MS = DHCP_LEASE_SECONDS * 1000;
const FIRST = ADDRESSES.dhcpStart; // 10.0.2.15

function setup(mtu = 1500) {
  const link = new MemoryLink();
  const counters = new Counters();
  const dispatcher = new Dispatcher(ADDRESSES, mtu, link, counters);
  /** Sends a frame and returns the single reply, or null. */
  const exchange = (frame: Uint8Array, now = 0) => {
    dispatcher.handleFrame(frame, now);
    const frames = link.take();
    assert.ok(frames.length <= 1);
    return frames.length === 0 ? null : readDhcpReply(frames[0]);
  };
  /** DISCOVER + REQUEST for a client; returns the address acknowledged. */
  const lease = (mac: Uint8Array, now = 0) => {
    const offer = exchange(dhcpFrame({ type: T.DISCOVER, mac }), now);
    assert.ok(offer);
    const ack = exchange(
      dhcpFrame({
        type: T.REQUEST,
        mac,
        requested: offer.message.yiaddr,
        serverId: ADDRESSES.gateway,
      }),
      now,
    );
    assert.ok(ack);
    assert.equal(ack.options.get(DhcpOption.MESSAGE_TYPE)?.[0], T.ACK);
    return ack.message.yiaddr;
  };
  return { link, counters, dispatcher, exchange, lease };
}

function udpChecksumOk(frame: Uint8Array): boolean {
  const udp = new UdpDatagram().wrap(frame, 34, frame.length - 34);
  const src = new DataView(frame.buffer).getUint32(26);
  const dst = new DataView(frame.buffer).getUint32(30);
  return udp.check() === "ok" && udp.checksum !== 0 && udp.verifyChecksum(src, dst);
}

Deno.test("DHCP: the captured udhcpc DISCOVER gets an OFFER of 10.0.2.15 with libslirp's options", () => {
  const { link, counters, dispatcher } = setup();
  dispatcher.handleFrame(DHCP_DISCOVER_UDHCPC, 0);
  const [frame] = link.take();
  assert.equal(frame.length, 14 + 20 + 8 + 548, "BOOTP padded to 548 bytes");
  assert.equal(internetChecksum(frame, 14, 20), 0);
  assert.ok(udpChecksumOk(frame));
  const r = readDhcpReply(frame);
  // RFC 2131 §4.1: no broadcast bit, no ciaddr → unicast to yiaddr at chaddr.
  assert.deepEqual(r.ethDst, GUEST_MAC);
  assert.deepEqual(r.ethSrc, GATEWAY_MAC);
  assert.equal(r.ipSrc, ADDRESSES.gateway);
  assert.equal(r.ipDst, FIRST);
  assert.equal(r.ttl, 64);
  assert.equal(r.srcPort, 67);
  assert.equal(r.dstPort, 68);
  assert.equal(r.bootpLength, 548);
  assert.equal(r.message.check(), "ok");
  assert.equal(r.message.op, BootpOp.REPLY);
  assert.equal(r.message.xid, 0x44dcd749);
  assert.equal(r.message.ciaddr, 0);
  assert.equal(r.message.yiaddr, FIRST);
  assert.equal(r.message.siaddr, ADDRESSES.gateway);
  assert.equal(r.message.giaddr, 0);
  assert.deepEqual(
    r.message.bytes.slice(r.message.chaddrOffset, r.message.chaddrOffset + 6),
    GUEST_MAC,
  );
  assert.equal(r.optionsEnd, "end");
  assert.deepEqual([...r.options.keys()], [53, 54, 1, 3, 6, 51]);
  assert.equal(r.options.get(DhcpOption.MESSAGE_TYPE)?.[0], T.OFFER);
  assert.equal(u32(r.options.get(DhcpOption.SERVER_ID)), ADDRESSES.gateway);
  assert.equal(u32(r.options.get(DhcpOption.SUBNET_MASK)), 0xffffff00);
  assert.equal(u32(r.options.get(DhcpOption.ROUTER)), ADDRESSES.gateway);
  assert.equal(u32(r.options.get(DhcpOption.DNS)), ADDRESSES.dns);
  assert.equal(u32(r.options.get(DhcpOption.LEASE_TIME)), 86400);
  assert.equal(counters.get("dhcp.discover"), 1);
  assert.equal(counters.get("dhcp.offer"), 1);
  assert.deepEqual(dispatcher.dhcp.leases(0).map((l) => [l.address, l.state, l.mac]), [
    [FIRST, "offered", "0e:d4:18:d9:38:fb"],
  ]);
});

Deno.test("DHCP: a captured udhcpc lease cycle: DISCOVER, select, renew, release", () => {
  const { exchange, dispatcher, counters } = setup();
  assert.equal(exchange(DHCP_DISCOVER_UDHCPC, 0)?.message.yiaddr, FIRST);
  const ack = exchange(DHCP_REQUEST_SELECTING_UDHCPC, 10);
  assert.equal(ack?.options.get(DhcpOption.MESSAGE_TYPE)?.[0], T.ACK);
  assert.equal(ack?.message.xid, 0x88ae1b6e);
  assert.equal(ack?.ipDst, FIRST);
  const renewed = exchange(DHCP_REQUEST_RENEWING_UDHCPC, 3000);
  assert.equal(renewed?.options.get(DhcpOption.MESSAGE_TYPE)?.[0], T.ACK);
  assert.equal(renewed?.message.ciaddr, FIRST);
  assert.equal(renewed?.ipDst, FIRST);
  assert.equal(dispatcher.dhcp.leases(3000)[0].expiresAt, 3000 + DAY_MS);
  assert.equal(exchange(DHCP_RELEASE_UDHCPC, 5000), null);
  assert.deepEqual(dispatcher.dhcp.leases(5000), []);
  assert.deepEqual(
    [counters.get("dhcp.offer"), counters.get("dhcp.ack"), counters.get("dhcp.release")],
    [1, 2, 1],
  );
});

Deno.test("DHCP: REQUEST in SELECTING state gets an ACK and binds the lease for 24 hours", () => {
  const { exchange, dispatcher, counters } = setup();
  exchange(DHCP_DISCOVER_UDHCPC);
  const ack = exchange(
    dhcpFrame({ type: T.REQUEST, requested: FIRST, serverId: ADDRESSES.gateway, xid: 7 }),
    1000,
  );
  assert.ok(ack);
  assert.equal(ack.options.get(DhcpOption.MESSAGE_TYPE)?.[0], T.ACK);
  assert.equal(ack.message.xid, 7);
  assert.equal(ack.message.yiaddr, FIRST);
  assert.equal(ack.ipDst, FIRST);
  assert.deepEqual(ack.ethDst, GUEST_MAC);
  assert.equal(u32(ack.options.get(DhcpOption.LEASE_TIME)), 86400);
  assert.deepEqual(dispatcher.dhcp.leases(1000), [
    { address: FIRST, state: "bound", mac: "0e:d4:18:d9:38:fb", expiresAt: 1000 + DAY_MS },
  ]);
  assert.equal(dispatcher.dhcp.addressOf(GUEST_MAC, 0, 1000), FIRST);
  assert.ok(dispatcher.neighbors.has(FIRST), "the ACK teaches the guest's MAC");
  assert.equal(counters.get("dhcp.ack"), 1);
});

Deno.test("DHCP: the broadcast bit gets replies to 255.255.255.255 and ff:ff:ff:ff:ff:ff", () => {
  const { exchange } = setup();
  const offer = exchange(dhcpFrame({ type: T.DISCOVER, flags: DHCP_FLAG_BROADCAST }));
  assert.ok(offer);
  assert.deepEqual(offer.ethDst, BROADCAST);
  assert.equal(offer.ipDst, 0xffffffff);
  assert.ok(offer.message.broadcast, "flags copied from the client");
});

Deno.test("DHCP: the same client is offered the same address again", () => {
  const { exchange, lease } = setup();
  assert.equal(exchange(dhcpFrame({ type: T.DISCOVER }))?.message.yiaddr, FIRST);
  assert.equal(exchange(dhcpFrame({ type: T.DISCOVER }))?.message.yiaddr, FIRST);
  assert.equal(lease(clientMac(1)), FIRST + 1);
  assert.equal(lease(GUEST_MAC), FIRST);
  assert.equal(exchange(dhcpFrame({ type: T.DISCOVER }))?.message.yiaddr, FIRST);
});

Deno.test("DHCP: a DISCOVER asking for a free address in the pool gets it", () => {
  const { exchange } = setup();
  assert.equal(
    exchange(dhcpFrame({ type: T.DISCOVER, requested: FIRST + 7 }))?.message.yiaddr,
    FIRST + 7,
  );
  // Outside the pool: the first free address instead.
  assert.equal(
    exchange(dhcpFrame({ type: T.DISCOVER, mac: clientMac(1), requested: ADDRESSES.guest }))
      ?.message.yiaddr,
    FIRST,
  );
});

Deno.test("DHCP: INIT-REBOOT for a free pool address gets an ACK without a prior offer", () => {
  const { exchange } = setup();
  const ack = exchange(dhcpFrame({ type: T.REQUEST, requested: FIRST + 3 }));
  assert.equal(ack?.options.get(DhcpOption.MESSAGE_TYPE)?.[0], T.ACK);
  assert.equal(ack?.message.yiaddr, FIRST + 3);
});

Deno.test("DHCP: a REQUEST for an address outside the pool or held by another client gets a NAK", () => {
  const { exchange, lease, counters } = setup();
  lease(clientMac(1));
  for (const requested of [ADDRESSES.guest, FIRST, 0xc0a80164, ADDRESSES.dhcpEnd + 1]) {
    const nak = exchange(dhcpFrame({ type: T.REQUEST, requested }));
    assert.ok(nak, `${requested.toString(16)}`);
    assert.equal(nak.options.get(DhcpOption.MESSAGE_TYPE)?.[0], T.NAK);
    // RFC 2131 §4.1: "In all cases, when 'giaddr' is zero, the server broadcasts any DHCPNAK".
    assert.deepEqual(nak.ethDst, BROADCAST);
    assert.equal(nak.ipDst, 0xffffffff);
    assert.equal(nak.message.yiaddr, 0);
    assert.equal(nak.message.siaddr, 0);
    assert.equal(u32(nak.options.get(DhcpOption.SERVER_ID)), ADDRESSES.gateway);
    assert.equal(new TextDecoder().decode(nak.options.get(DhcpOption.MESSAGE)), DHCP_NAK_MESSAGE);
    assert.ok(!nak.options.has(DhcpOption.LEASE_TIME));
  }
  assert.equal(counters.get("dhcp.nak"), 4);
});

Deno.test("DHCP: a REQUEST naming another server frees our offer silently", () => {
  const { exchange, dispatcher, counters } = setup();
  exchange(dhcpFrame({ type: T.DISCOVER }));
  assert.equal(dispatcher.dhcp.leases(0).length, 1);
  assert.equal(
    exchange(dhcpFrame({ type: T.REQUEST, requested: FIRST, serverId: 0x0a000201 })),
    null,
  );
  assert.equal(dispatcher.dhcp.leases(0).length, 0);
  assert.equal(counters.get("dhcp.other_server"), 1);
});

Deno.test("DHCP: RENEWING (ciaddr, unicast to the gateway) gets an ACK unicast to ciaddr", () => {
  const { exchange, lease } = setup();
  const address = lease(GUEST_MAC);
  const ack = exchange(
    dhcpFrame({ type: T.REQUEST, ciaddr: address, dst: ADDRESSES.gateway }),
    5000,
  );
  assert.ok(ack);
  assert.equal(ack.options.get(DhcpOption.MESSAGE_TYPE)?.[0], T.ACK);
  assert.equal(ack.message.ciaddr, address, "ciaddr echoed in the ACK");
  assert.equal(ack.ipDst, address);
  assert.deepEqual(ack.ethDst, GUEST_MAC);
});

Deno.test("DHCP: REBINDING with ciaddr and the broadcast bit still unicasts to ciaddr", () => {
  const { exchange, lease } = setup();
  const address = lease(GUEST_MAC);
  const ack = exchange(dhcpFrame({ type: T.REQUEST, ciaddr: address, flags: DHCP_FLAG_BROADCAST }));
  assert.equal(ack?.ipDst, address);
});

Deno.test("DHCP: a REQUEST with no address at all gets the client's lease or a new one (libslirp)", () => {
  const { exchange, lease } = setup();
  lease(clientMac(1));
  assert.equal(exchange(dhcpFrame({ type: T.REQUEST, mac: clientMac(1) }))?.message.yiaddr, FIRST);
  assert.equal(
    exchange(dhcpFrame({ type: T.REQUEST, mac: clientMac(2) }))?.message.yiaddr,
    FIRST + 1,
  );
});

Deno.test("DHCP: RELEASE frees the lease for the next client", () => {
  const { exchange, lease, dispatcher, counters } = setup();
  const address = lease(GUEST_MAC);
  assert.equal(
    exchange(dhcpFrame({ type: T.RELEASE, ciaddr: address, dst: ADDRESSES.gateway })),
    null,
  );
  assert.equal(counters.get("dhcp.release"), 1);
  assert.equal(dispatcher.dhcp.leases(0).length, 0);
  assert.equal(lease(clientMac(1)), address);
});

Deno.test("DHCP: RELEASE of someone else's lease changes nothing", () => {
  const { exchange, lease, dispatcher } = setup();
  const address = lease(GUEST_MAC);
  exchange(dhcpFrame({ type: T.RELEASE, mac: clientMac(1), ciaddr: address }));
  assert.equal(dispatcher.dhcp.addressOf(GUEST_MAC, 0, 0), address);
});

Deno.test("DHCP: a declined address is not offered again for a lease time", () => {
  const { exchange, lease, dispatcher } = setup();
  const address = lease(GUEST_MAC);
  assert.equal(exchange(dhcpFrame({ type: T.DECLINE, requested: address })), null);
  assert.deepEqual(dispatcher.dhcp.leases(0).map((l) => [l.address, l.state, l.mac]), [
    [address, "declined", ""],
  ]);
  assert.equal(exchange(dhcpFrame({ type: T.DISCOVER }))?.message.yiaddr, address + 1);
  assert.equal(
    exchange(dhcpFrame({ type: T.REQUEST, mac: clientMac(1), requested: address }))?.options.get(
      DhcpOption.MESSAGE_TYPE,
    )?.[0],
    T.NAK,
  );
  const later = exchange(
    dhcpFrame({ type: T.REQUEST, mac: clientMac(2), requested: address }),
    DAY_MS,
  );
  assert.equal(later?.message.yiaddr, address, "usable again after a lease time");
});

Deno.test("DHCP: INFORM gets an ACK without address or lease time, to ciaddr", () => {
  const { exchange } = setup();
  const ack = exchange(
    dhcpFrame({ type: T.INFORM, ciaddr: ADDRESSES.guest, dst: ADDRESSES.gateway }),
  );
  assert.ok(ack);
  assert.equal(ack.options.get(DhcpOption.MESSAGE_TYPE)?.[0], T.ACK);
  assert.equal(ack.message.yiaddr, 0);
  assert.equal(ack.ipDst, ADDRESSES.guest);
  assert.ok(!ack.options.has(DhcpOption.LEASE_TIME));
  assert.equal(u32(ack.options.get(DhcpOption.DNS)), ADDRESSES.dns);
});

Deno.test("DHCP: 16 clients exhaust the pool; the 17th gets nothing until a lease lapses", () => {
  const { exchange, lease, counters } = setup();
  for (let n = 0; n < 16; n++) assert.equal(lease(clientMac(n), 0), FIRST + n);
  assert.equal(exchange(dhcpFrame({ type: T.DISCOVER, mac: clientMac(16) }), 1000), null);
  assert.equal(counters.get("dhcp.pool_exhausted"), 1);
  // The pool holds: a client that already has a lease still gets it.
  assert.equal(
    exchange(dhcpFrame({ type: T.DISCOVER, mac: clientMac(5) }), 1000)?.message.yiaddr,
    FIRST + 5,
  );
  // Client 3 renews; after a day all the others lapse and the oldest unused address goes first.
  exchange(dhcpFrame({ type: T.REQUEST, mac: clientMac(3), ciaddr: FIRST + 3 }), 2000);
  const offer = exchange(dhcpFrame({ type: T.DISCOVER, mac: clientMac(16) }), DAY_MS + 1000);
  assert.ok(offer);
  assert.notEqual(offer.message.yiaddr, FIRST + 3);
});

Deno.test("DHCP: an unanswered OFFER is held for a while, then goes to others", () => {
  const { exchange, lease } = setup();
  for (let n = 0; n < 15; n++) lease(clientMac(n));
  assert.equal(
    exchange(dhcpFrame({ type: T.DISCOVER, mac: clientMac(20) }), 0)?.message.yiaddr,
    FIRST + 15,
  );
  assert.equal(exchange(dhcpFrame({ type: T.DISCOVER, mac: clientMac(21) }), 1000), null);
  assert.equal(
    exchange(dhcpFrame({ type: T.DISCOVER, mac: clientMac(21) }), DHCP_OFFER_HOLD_MS + 1)?.message
      .yiaddr,
    FIRST + 15,
  );
});

Deno.test("DHCP: a client moving to another address keeps only one binding", () => {
  const { exchange, lease, dispatcher } = setup();
  lease(GUEST_MAC);
  exchange(dhcpFrame({ type: T.REQUEST, requested: FIRST + 9 }));
  assert.deepEqual(dispatcher.dhcp.leases(0).map((l) => l.address), [FIRST + 9]);
});

Deno.test("DHCP: truncated BOOTP (< 240 bytes) is dropped at every length", () => {
  const { exchange, counters } = setup();
  for (let length = 0; length < 240; length++) {
    assert.equal(exchange(dhcpFrame({ type: T.DISCOVER, length })), null);
  }
  assert.equal(counters.get("dhcp.truncated"), 240);
});

Deno.test("DHCP: malformed messages are dropped and counted by reason", () => {
  const { exchange, counters } = setup();
  const noCookie = dhcpFrame({ type: T.DISCOVER });
  noCookie[42 + 236] = 0;
  fixUdpChecksum(noCookie);
  assert.equal(exchange(noCookie), null);
  // Option length running past the end (a 255-byte hostname in a 300-byte message).
  assert.equal(
    exchange(dhcpFrame({ type: T.DISCOVER, extra: [12, 255, 0x61], noEnd: true })),
    null,
  );
  // Length octet missing at the very end.
  assert.equal(
    exchange(dhcpFrame({ type: T.DISCOVER, extra: [12], noEnd: true, length: 240 + 3 + 1 })),
    null,
  );
  // Message type of length 2, requested IP of length 3.
  assert.equal(exchange(dhcpFrame({ extra: [53, 2, 1, 1] })), null);
  assert.equal(exchange(dhcpFrame({ type: T.REQUEST, extra: [50, 3, 10, 0, 2] })), null);
  assert.equal(counters.get("dhcp.bad_cookie"), 1);
  assert.equal(counters.get("dhcp.bad_options"), 4);

  const reply = dhcpFrame({ type: T.DISCOVER });
  reply[42] = BootpOp.REPLY;
  fixUdpChecksum(reply);
  assert.equal(exchange(reply), null);
  const ieee802 = dhcpFrame({ type: T.DISCOVER });
  ieee802[43] = 6;
  fixUdpChecksum(ieee802);
  assert.equal(exchange(ieee802), null);
  assert.equal(exchange(dhcpFrame({ type: T.DISCOVER, giaddr: 0x0a000001 })), null);
  assert.equal(exchange(dhcpFrame({})), null);
  assert.equal(exchange(dhcpFrame({ type: T.OFFER })), null);
  assert.equal(exchange(dhcpFrame({ type: 200 })), null);
  assert.deepEqual(
    [
      counters.get("dhcp.not_request"),
      counters.get("dhcp.unsupported_hardware"),
      counters.get("dhcp.relay_unsupported"),
      counters.get("dhcp.bootp_unsupported"),
      counters.get("dhcp.unknown_type"),
    ],
    [1, 1, 1, 1, 2],
  );
});

Deno.test("DHCP: options without End, or with pads, are tolerated", () => {
  const { exchange } = setup();
  assert.ok(exchange(dhcpFrame({ type: T.DISCOVER, noEnd: true, length: 243 })));
  assert.ok(exchange(dhcpFrame({ type: T.DISCOVER, extra: [0, 0, 0, 12, 1, 0x61] })));
});

Deno.test("DHCP: UDP checksum 0 from the client is accepted, a wrong one is not", () => {
  const { exchange, counters } = setup();
  const zero = dhcpFrame({ type: T.DISCOVER });
  zero[40] = zero[41] = 0;
  assert.ok(exchange(zero));
  const wrong = dhcpFrame({ type: T.DISCOVER });
  wrong[41] ^= 1;
  assert.equal(exchange(wrong), null);
  assert.equal(counters.get("udp.bad_checksum"), 1);
});

Deno.test("DHCP: at MTU 576 the reply is exactly 548 bytes of BOOTP", () => {
  const { exchange } = setup(576);
  assert.equal(exchange(dhcpFrame({ type: T.DISCOVER }))?.bootpLength, 548);
});

Deno.test("DHCP: below 576 the reply shrinks to the MTU; if the options do not fit it is dropped", () => {
  const small = setup(400);
  const offer = small.exchange(dhcpFrame({ type: T.DISCOVER }));
  assert.equal(offer?.bootpLength, 400 - 28);
  assert.equal(offer?.optionsEnd, "end");
  const tiny = setup(272);
  assert.equal(tiny.exchange(dhcpFrame({ type: T.DISCOVER, length: 244 })), null);
  assert.equal(tiny.counters.get("dhcp.reply_exceeds_mtu"), 1);
});

function fixUdpChecksum(frame: Uint8Array): void {
  const view = new DataView(frame.buffer);
  new UdpDatagram().wrap(frame, 34, frame.length - 34).fillChecksum(
    view.getUint32(26),
    view.getUint32(30),
  );
}
