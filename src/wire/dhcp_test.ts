import assert from "node:assert/strict";
import {
  BootpOp,
  DHCP_MIN_LEN,
  DhcpMessage,
  DhcpMessageType,
  DhcpOption,
  DhcpOptionWalker,
  emitDhcpHeader,
  emitDhcpOptionText,
  emitDhcpOptionU32,
  emitDhcpOptionU8,
} from "./dhcp.ts";
import { macEquals } from "./ethernet.ts";
import { DHCP_DISCOVER_UDHCPC } from "./testdata/captured.ts";

const BOOTP_OFFSET = 42;
const GUEST_MAC = new Uint8Array([0x0e, 0xd4, 0x18, 0xd9, 0x38, 0xfb]);

function optionsOf(message: DhcpMessage): Array<[number, number[]]> {
  const walker = new DhcpOptionWalker();
  walker.start(message);
  const out: Array<[number, number[]]> = [];
  while (walker.next()) {
    out.push([
      walker.code,
      Array.from(
        message.bytes.subarray(walker.valueOffset, walker.valueOffset + walker.valueLength),
      ),
    ]);
  }
  return out;
}

Deno.test("DhcpMessage reads the captured udhcpc DISCOVER", () => {
  const dhcp = new DhcpMessage().wrap(DHCP_DISCOVER_UDHCPC, BOOTP_OFFSET);
  assert.equal(dhcp.check(), "ok");
  assert.equal(dhcp.op, BootpOp.REQUEST);
  assert.equal(dhcp.htype, 1);
  assert.equal(dhcp.hlen, 6);
  assert.equal(dhcp.hops, 0);
  assert.equal(dhcp.xid, 0x44dcd749);
  assert.equal(dhcp.secs, 0);
  assert.equal(dhcp.flags, 0);
  assert.ok(!dhcp.broadcast);
  assert.equal(dhcp.ciaddr, 0);
  assert.equal(dhcp.yiaddr, 0);
  assert.equal(dhcp.siaddr, 0);
  assert.equal(dhcp.giaddr, 0);
  assert.ok(macEquals(dhcp.bytes, dhcp.chaddrOffset, GUEST_MAC, 0));
});

Deno.test("DhcpOptionWalker lists the captured DISCOVER's options and finds End", () => {
  const dhcp = new DhcpMessage().wrap(DHCP_DISCOVER_UDHCPC, BOOTP_OFFSET);
  const walker = new DhcpOptionWalker();
  assert.deepEqual(optionsOf(dhcp), [
    [DhcpOption.MESSAGE_TYPE, [DhcpMessageType.DISCOVER]],
    [DhcpOption.MAX_MESSAGE_SIZE, [0x02, 0x40]],
    [DhcpOption.PARAMETER_REQUEST_LIST, [1, 3, 6, 12, 15, 28, 42]],
    [60, Array.from(new TextEncoder().encode("udhcp 1.35.0"))],
    [DhcpOption.CLIENT_ID, [1, ...GUEST_MAC]],
  ]);
  walker.start(dhcp);
  while (walker.next());
  assert.equal(walker.status, "end");
  assert.equal(walker.next(), false);
});

Deno.test("DhcpMessage.check() reports messages below 240 bytes as truncated", () => {
  const dhcp = new DhcpMessage();
  for (let length = 0; length < DHCP_MIN_LEN; length++) {
    assert.equal(dhcp.wrap(DHCP_DISCOVER_UDHCPC, BOOTP_OFFSET, length).check(), "truncated");
  }
  assert.equal(dhcp.wrap(DHCP_DISCOVER_UDHCPC, BOOTP_OFFSET, 240).check(), "ok");
});

Deno.test("DhcpMessage.check() reports a missing magic cookie (plain BOOTP)", () => {
  const bytes = DHCP_DISCOVER_UDHCPC.slice(BOOTP_OFFSET);
  bytes[236] = 0;
  assert.equal(new DhcpMessage().wrap(bytes).check(), "bad_cookie");
});

Deno.test("DhcpOptionWalker: a message ending right after the cookie is unterminated", () => {
  const dhcp = new DhcpMessage().wrap(DHCP_DISCOVER_UDHCPC, BOOTP_OFFSET, 240);
  const walker = new DhcpOptionWalker();
  walker.start(dhcp);
  assert.equal(walker.next(), false);
  assert.equal(walker.status, "unterminated");
});

Deno.test("DhcpOptionWalker: options cut at every length are unterminated or overrun", () => {
  const dhcp = new DhcpMessage();
  const walker = new DhcpOptionWalker();
  // End (255) is at offset 240 + 35 in the BOOTP message.
  for (let length = 240; length < 276; length++) {
    dhcp.wrap(DHCP_DISCOVER_UDHCPC, BOOTP_OFFSET, length);
    walker.start(dhcp);
    let count = 0;
    while (walker.next()) {
      assert.ok(walker.valueOffset + walker.valueLength <= BOOTP_OFFSET + length);
      count++;
    }
    assert.ok(walker.status === "unterminated" || walker.status === "overrun", `${length}`);
    assert.ok(count <= 5);
  }
});

Deno.test("DhcpOptionWalker: a length running past the end is an overrun", () => {
  const bytes = DHCP_DISCOVER_UDHCPC.slice(BOOTP_OFFSET);
  bytes[241] = 255; // message type claims 255 bytes
  const walker = new DhcpOptionWalker();
  walker.start(new DhcpMessage().wrap(bytes));
  assert.equal(walker.next(), false);
  assert.equal(walker.status, "overrun");
});

Deno.test("DhcpOptionWalker: pads are skipped, all-pad options are unterminated", () => {
  const bytes = new Uint8Array(300);
  emitDhcpHeader(bytes, 0, BootpOp.REQUEST, 1, 0, 0, 0, 0, 0, GUEST_MAC, 0);
  bytes.set([0, 0, 53, 1, 3, 0], 240);
  const dhcp = new DhcpMessage().wrap(bytes);
  assert.deepEqual(optionsOf(dhcp), [[53, [3]]]);
  const walker = new DhcpOptionWalker();
  walker.start(dhcp);
  while (walker.next());
  assert.equal(walker.status, "unterminated");
});

Deno.test("emitDhcpHeader() and option helpers into a 0xa5-filled buffer", () => {
  const bytes = new Uint8Array(300).fill(0xa5);
  let at = emitDhcpHeader(
    bytes,
    0,
    BootpOp.REPLY,
    0x44dcd749,
    0x8000,
    0,
    0x0a00020f,
    0x0a000202,
    0,
    GUEST_MAC,
    0,
  );
  assert.equal(at, 240);
  at = emitDhcpOptionU8(bytes, at, DhcpOption.MESSAGE_TYPE, DhcpMessageType.OFFER);
  at = emitDhcpOptionU32(bytes, at, DhcpOption.LEASE_TIME, 86400);
  at = emitDhcpOptionText(bytes, at, DhcpOption.MESSAGE, "no");
  bytes[at++] = DhcpOption.END;
  assert.equal(at, 240 + 3 + 6 + 4 + 1);
  assert.equal(bytes[at], 0xa5);
  const dhcp = new DhcpMessage().wrap(bytes);
  assert.equal(dhcp.check(), "ok");
  assert.equal(dhcp.op, BootpOp.REPLY);
  assert.ok(dhcp.broadcast);
  assert.equal(dhcp.yiaddr, 0x0a00020f);
  assert.equal(dhcp.siaddr, 0x0a000202);
  assert.ok(macEquals(bytes, 28, GUEST_MAC, 0));
  assert.ok(bytes.subarray(34, 236).every((b) => b === 0), "chaddr padding, sname, file are zero");
  assert.deepEqual(optionsOf(dhcp), [
    [53, [2]],
    [51, [0, 1, 0x51, 0x80]],
    [56, [110, 111]],
  ]);
});
