import assert from "node:assert/strict";
import {
  checkDnsMessage,
  DNS_MAX_POINTERS,
  DnsRcode,
  emitDnsErrorReply,
  sameQuestion,
  skipDnsName,
} from "./dns.ts";

/** A query laid out as dig 9.18 sends it: example.com A, RD AD, EDNS 1232 with a client cookie. */
const DIG_QUERY = new Uint8Array([
  0x5c,
  0x6e,
  0x01,
  0x20,
  0x00,
  0x01,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x01,
  0x07,
  0x65,
  0x78,
  0x61,
  0x6d,
  0x70,
  0x6c,
  0x65,
  0x03,
  0x63,
  0x6f,
  0x6d,
  0x00,
  0x00,
  0x01,
  0x00,
  0x01,
  0x00,
  0x00,
  0x29,
  0x04,
  0xd0,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x0c,
  0x00,
  0x0a,
  0x00,
  0x08,
  0x8a,
  0x4c,
  0x11,
  0x5b,
  0x0c,
  0x2c,
  0x6f,
  0x61,
]);

function header(qd: number, an = 0, ns = 0, ar = 0): number[] {
  return [0xab, 0xcd, 0x01, 0x00, 0, qd, 0, an, 0, ns, 0, ar];
}

Deno.test("checkDnsMessage() walks a captured dig query with an OPT record", () => {
  const layout = checkDnsMessage(DIG_QUERY, 0, DIG_QUERY.length);
  assert.equal(layout.check, "ok");
  assert.equal(layout.questionEnd, 29);
  assert.equal(layout.end, DIG_QUERY.length);
});

Deno.test("checkDnsMessage() reports every truncation point as truncated, never reads past", () => {
  for (let n = 0; n < DIG_QUERY.length; n++) {
    // A copy of exactly n bytes: a read past the end would see undefined, not the next byte.
    const cut = DIG_QUERY.slice(0, n);
    const layout = checkDnsMessage(cut, 0, n);
    assert.equal(layout.check, "truncated", `length ${n}`);
  }
});

Deno.test("checkDnsMessage() rejects more than one question (RFC 9619)", () => {
  const two = new Uint8Array([...header(2), 0, 0, 1, 0, 1, 0, 0, 1, 0, 1]);
  assert.equal(checkDnsMessage(two, 0, two.length).check, "bad_qdcount");
});

Deno.test("checkDnsMessage() accepts QDCOUNT 0 (a DNS cookie request, RFC 7873 §5.4)", () => {
  const none = new Uint8Array(header(0));
  assert.deepEqual(checkDnsMessage(none, 0, 12), { check: "ok", questionEnd: 12, end: 12 });
});

Deno.test("checkDnsMessage() rejects a record whose RDLENGTH runs past the end", () => {
  const bytes = new Uint8Array([...header(0, 1), 0, 0, 1, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 1, 2, 3]);
  assert.equal(checkDnsMessage(bytes, 0, bytes.length).check, "truncated");
  // questionOnly skips the records (answers cut by a server that set TC).
  assert.equal(checkDnsMessage(bytes, 0, bytes.length, true).check, "ok");
});

Deno.test("checkDnsMessage() rejects a huge record count without walking past the end", () => {
  const bytes = new Uint8Array([...header(0, 0xff, 0xff, 0xff), 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0]);
  assert.equal(checkDnsMessage(bytes, 0, bytes.length).check, "truncated");
});

Deno.test("skipDnsName() follows backward pointers and returns the end after the first one", () => {
  // At 12: "a" "b" root; at 17: "c" + pointer to 14 ("b").
  const bytes = new Uint8Array([...header(0), 1, 0x61, 1, 0x62, 0, 1, 0x63, 0xc0, 14]);
  assert.equal(skipDnsName(bytes, 0, bytes.length, 12), 17);
  assert.equal(skipDnsName(bytes, 0, bytes.length, 17), 21);
});

Deno.test("skipDnsName() stops compression loops", () => {
  // A pointer to itself.
  const self = new Uint8Array([...header(1), 0xc0, 12, 0, 1, 0, 1]);
  assert.equal(checkDnsMessage(self, 0, self.length).check, "compression_loop");
  // Two names pointing at each other: 12 → 14 → 12.
  const pair = new Uint8Array([...header(0, 2), 0xc0, 14, 0xc0, 12]);
  assert.equal(skipDnsName(pair, 0, pair.length, 12), -3);
  assert.equal(skipDnsName(pair, 0, pair.length, 14), -3);
  // A pointer forward.
  const forward = new Uint8Array([...header(1), 0xc0, 16, 0, 0, 0, 0, 1, 0, 1]);
  assert.equal(skipDnsName(forward, 0, forward.length, 12), -3);
  // A label, then a pointer back into that same label.
  const into = new Uint8Array([...header(1), 1, 0x61, 0xc0, 12]);
  assert.equal(skipDnsName(into, 0, into.length, 12), -3);
});

Deno.test("skipDnsName() limits the number of pointers in one name", () => {
  // A chain of pointers, each one two bytes below the previous one: legal, but too long.
  const chain: number[] = [...header(0), 0];
  for (let i = 0; i < DNS_MAX_POINTERS + 2; i++) chain.push(0xc0, 12 + (i === 0 ? 0 : 2 * i - 1));
  const bytes = new Uint8Array(chain);
  assert.equal(skipDnsName(bytes, 0, bytes.length, bytes.length - 2), -3);
  assert.equal(skipDnsName(bytes, 0, bytes.length, 13 + 2 * 4), 13 + 2 * 4 + 2);
});

Deno.test("skipDnsName() rejects long labels, long names, reserved label types, header pointers", () => {
  const label64 = new Uint8Array([...header(1), 64, ...new Array(64).fill(0x61), 0, 0, 1, 0, 1]);
  assert.equal(checkDnsMessage(label64, 0, label64.length).check, "bad_name");
  const long: number[] = [...header(1)];
  for (let i = 0; i < 5; i++) long.push(63, ...new Array(63).fill(0x61));
  long.push(0, 0, 1, 0, 1);
  assert.equal(checkDnsMessage(new Uint8Array(long), 0, long.length).check, "bad_name");
  for (const kind of [0x40, 0x80]) {
    const bytes = new Uint8Array([...header(1), kind, 0, 0, 1, 0, 1]);
    assert.equal(checkDnsMessage(bytes, 0, bytes.length).check, "bad_name");
  }
  const toHeader = new Uint8Array([...header(1), 0xc0, 2, 0, 1, 0, 1]);
  assert.equal(checkDnsMessage(toHeader, 0, toHeader.length).check, "bad_name");
});

Deno.test("skipDnsName() takes a name of exactly 255 bytes", () => {
  const name: number[] = [];
  for (let i = 0; i < 3; i++) name.push(63, ...new Array(63).fill(0x61));
  name.push(61, ...new Array(61).fill(0x62), 0); // 3 × 64 + 62 + 1 = 255
  const bytes = new Uint8Array([...header(1), ...name, 0, 1, 0, 1]);
  assert.equal(checkDnsMessage(bytes, 0, bytes.length).check, "ok");
});

Deno.test("sameQuestion() ignores ASCII case in the name but not type or class", () => {
  const a = new Uint8Array([...header(1), 1, 0x61, 0, 0, 1, 0, 1]);
  const upper = new Uint8Array([...header(1), 1, 0x41, 0, 0, 1, 0, 1]);
  const aaaa = new Uint8Array([...header(1), 1, 0x61, 0, 0, 28, 0, 1]);
  assert.ok(sameQuestion(a, 0, 19, upper, 0, 19));
  assert.ok(!sameQuestion(a, 0, 19, aaaa, 0, 19));
  const none = new Uint8Array(header(0));
  assert.ok(!sameQuestion(a, 0, 19, none, 0, 12));
  assert.ok(sameQuestion(none, 0, 12, none.slice(), 0, 12));
});

Deno.test("emitDnsErrorReply() keeps ID, opcode, RD and the question", () => {
  const out = new Uint8Array(64).fill(0xa5);
  const n = emitDnsErrorReply(out, 0, DIG_QUERY, 0, 29, DnsRcode.SERVFAIL);
  assert.equal(n, 29);
  assert.deepEqual(Array.from(out.subarray(0, 12)), [
    0x5c,
    0x6e,
    0x81,
    0x82,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  assert.deepEqual(out.subarray(12, 29), DIG_QUERY.subarray(12, 29));
  const formerr = emitDnsErrorReply(out, 0, DIG_QUERY, 0, 12, DnsRcode.FORMERR);
  assert.equal(formerr, 12);
  assert.equal(out[3], 0x81);
  assert.equal(out[5], 0);
});
