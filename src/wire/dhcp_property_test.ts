/**
 * Property tests for the DHCP parser and builders (RFC 2131, RFC 2132): what is built walks back
 * to the same header fields and options, and arbitrary bytes never throw nor send the walker
 * outside the message.
 */
import assert from "node:assert/strict";
import { fc, RUNS } from "../testing/property.ts";
import {
  DHCP_MIN_LEN,
  DhcpMessage,
  DhcpOptionWalker,
  emitDhcpHeader,
  emitDhcpOptionText,
  emitDhcpOptionU32,
  emitDhcpOptionU8,
} from "./dhcp.ts";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** Option codes other than Pad (0) and End (255). */
const code = fc.integer({ min: 1, max: 254 });
const option = fc.oneof(
  fc.record({ kind: fc.constant("u8" as const), code, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("u32" as const), code, value: u32 }),
  fc.record({
    kind: fc.constant("text" as const),
    code,
    value: fc.array(fc.integer({ min: 0, max: 0x7f }), { maxLength: 300 }).map((codes) =>
      String.fromCharCode(...codes)
    ),
  }),
);

Deno.test("DHCP: emitDhcpHeader() and options → DhcpMessage and DhcpOptionWalker give them back", () => {
  fc.assert(
    fc.property(
      fc.record({
        op: fc.constantFrom(1, 2),
        xid: u32,
        flags: fc.integer({ min: 0, max: 0xffff }),
        ciaddr: u32,
        yiaddr: u32,
        siaddr: u32,
        giaddr: u32,
        mac: fc.uint8Array({ minLength: 6, maxLength: 6 }),
      }),
      fc.array(option, { maxLength: 8 }),
      fc.integer({ min: 0, max: 7 }),
      (h, options, pads) => {
        const bytes = new Uint8Array(DHCP_MIN_LEN + 8 * 300 + pads + 1).fill(0xa5);
        let at = emitDhcpHeader(
          bytes,
          0,
          h.op,
          h.xid,
          h.flags,
          h.ciaddr,
          h.yiaddr,
          h.siaddr,
          h.giaddr,
          h.mac,
          0,
        );
        for (let i = 0; i < pads; i++) bytes[at++] = 0;
        for (const o of options) {
          if (o.kind === "u8") at = emitDhcpOptionU8(bytes, at, o.code, o.value);
          else if (o.kind === "u32") at = emitDhcpOptionU32(bytes, at, o.code, o.value);
          else at = emitDhcpOptionText(bytes, at, o.code, o.value);
        }
        bytes[at++] = 255;
        const message = new DhcpMessage().wrap(bytes, 0, at);
        assert.equal(message.check(), "ok");
        assert.deepEqual(
          [
            message.op,
            message.xid,
            message.flags,
            message.ciaddr,
            message.yiaddr,
            message.siaddr,
            message.giaddr,
            message.htype,
            message.hlen,
          ],
          [h.op, h.xid, h.flags, h.ciaddr, h.yiaddr, h.siaddr, h.giaddr, 1, 6],
        );
        assert.deepEqual(bytes.subarray(message.chaddrOffset, message.chaddrOffset + 6), h.mac);
        const walker = new DhcpOptionWalker();
        walker.start(message);
        const seen: unknown[] = [];
        while (walker.next()) {
          const value = bytes.subarray(walker.valueOffset, walker.valueOffset + walker.valueLength);
          seen.push([walker.code, [...value]]);
        }
        assert.equal(walker.status, "end");
        const expected = options.map((o) => {
          if (o.kind === "u8") return [o.code, [o.value]];
          if (o.kind === "u32") {
            return [o.code, [
              o.value >>> 24,
              (o.value >>> 16) & 255,
              (o.value >>> 8) & 255,
              o.value & 255,
            ]];
          }
          return [o.code, [...o.value.slice(0, 255)].map((c) => c.charCodeAt(0))];
        });
        assert.deepEqual(seen, expected);
      },
    ),
    RUNS,
  );
});

Deno.test("DHCP: arbitrary bytes never throw, and the walker stays inside the message", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 1500 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 1500 }),
      (tail, cookie, cut) => {
        // Half the cases start with a valid cookie, so that the options themselves get fuzzed.
        const bytes = new Uint8Array(DHCP_MIN_LEN + tail.length);
        bytes.set(tail, DHCP_MIN_LEN);
        if (cookie) bytes.set([99, 130, 83, 99], 236);
        else bytes.set(tail.subarray(0, Math.min(tail.length, DHCP_MIN_LEN)));
        const length = Math.min(bytes.length, DHCP_MIN_LEN + cut);
        const message = new DhcpMessage().wrap(bytes, 0, length);
        const check = message.check();
        for (const name of ["op", "xid", "flags", "broadcast", "ciaddr", "yiaddr", "giaddr"]) {
          (message as unknown as Record<string, unknown>)[name];
        }
        if (check !== "ok") return;
        const walker = new DhcpOptionWalker();
        walker.start(message);
        let steps = 0;
        while (walker.next()) {
          assert.ok(walker.valueOffset + walker.valueLength <= length);
          assert.ok(++steps <= length);
        }
        assert.ok(["end", "unterminated", "overrun"].includes(walker.status));
      },
    ),
    RUNS,
  );
});
