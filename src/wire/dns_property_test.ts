/**
 * Property tests for the DNS message checks and the error reply (RFC 1035 §4.1): queries built
 * from arbitrary names check as well formed with the question where it is, names with pointers
 * are skipped to the right place, every hostile message gets a verdict without throwing or
 * looping, and an error reply keeps the question.
 */
import assert from "node:assert/strict";
import { fc, RUNS } from "../testing/property.ts";
import { checkDnsMessage, DnsRcode, emitDnsErrorReply, sameQuestion, skipDnsName } from "./dns.ts";

const label = fc.uint8Array({ minLength: 1, maxLength: 63 });
/** A name of labels whose wire form stays within 255 bytes (RFC 1035 §2.3.4). */
const name = fc.array(label, { maxLength: 6 }).filter((labels) =>
  labels.reduce((n, l) => n + l.length + 1, 1) <= 255
);

/** The wire form of `labels` (RFC 1035 §3.1), independent of the code under test. */
function encodeName(labels: Uint8Array[]): number[] {
  const out: number[] = [];
  for (const l of labels) out.push(l.length, ...l);
  out.push(0);
  return out;
}

function query(id: number, flags: number, labels: Uint8Array[], type: number, klass: number) {
  return Uint8Array.from([
    id >> 8,
    id & 255,
    flags >> 8,
    flags & 255,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...encodeName(labels),
    type >> 8,
    type & 255,
    klass >> 8,
    klass & 255,
  ]);
}

const u16 = fc.integer({ min: 0, max: 0xffff });

Deno.test("DNS: a built query checks ok with its question where it ends, and the reply keeps it", () => {
  fc.assert(
    fc.property(
      u16,
      u16,
      name,
      u16,
      u16,
      fc.integer({ min: 0, max: 15 }),
      (id, flags, labels, type, klass, rcode) => {
        const q = query(id, flags, labels, type, klass);
        const layout = checkDnsMessage(q, 0, q.length);
        assert.deepEqual(layout, { check: "ok", questionEnd: q.length, end: q.length });
        assert.equal(skipDnsName(q, 0, q.length, 12), q.length - 4);
        const reply = new Uint8Array(q.length);
        const n = emitDnsErrorReply(reply, 0, q, 0, layout.questionEnd, rcode);
        assert.equal(n, q.length);
        const replyLayout = checkDnsMessage(reply, 0, n);
        assert.equal(replyLayout.check, "ok");
        assert.ok(sameQuestion(q, 0, layout.questionEnd, reply, 0, replyLayout.questionEnd));
        assert.equal(reply[0] << 8 | reply[1], id);
        assert.equal(reply[3] & 0x0f, rcode);
        assert.equal(reply[2] & 0x80, 0x80, "QR");
        assert.equal(DnsRcode.SERVFAIL, 2);
      },
    ),
    RUNS,
  );
});

Deno.test("DNS: an answer record whose name is a pointer to the question is skipped exactly", () => {
  fc.assert(
    fc.property(name, fc.uint8Array({ maxLength: 40 }), (labels, rdata) => {
      const q = query(1, 0x8180, labels, 1, 1);
      const answer = [
        0xc0,
        12,
        0,
        1,
        0,
        1,
        0,
        0,
        0,
        60,
        rdata.length >> 8,
        rdata.length & 255,
        ...rdata,
      ];
      const message = Uint8Array.from([...q, ...answer]);
      message[7] = 1; // ANCOUNT
      const layout = checkDnsMessage(message, 0, message.length);
      assert.deepEqual(layout, { check: "ok", questionEnd: q.length, end: message.length });
      assert.equal(skipDnsName(message, 0, message.length, q.length), q.length + 2);
      // One byte short: truncated, never a throw or a read past the end.
      assert.equal(checkDnsMessage(message, 0, message.length - 1).check, "truncated");
    }),
    RUNS,
  );
});

Deno.test("DNS: arbitrary messages get a verdict without throwing, and ok only within bounds", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.integer({ min: 0, max: 8 }),
      fc.boolean(),
      (bytes, prefix, questionOnly) => {
        // Counts of 0..1 questions and a few records make the walk go deep more often.
        const message = bytes.slice();
        if (message.length >= 12) {
          message[4] = 0;
          message[5] = prefix & 1;
          message[6] = 0;
          message[7] = prefix >> 1;
        }
        const layout = checkDnsMessage(message, 0, message.length, questionOnly);
        if (layout.check === "ok") {
          assert.ok(layout.questionEnd <= message.length && layout.end <= message.length);
          const reply = new Uint8Array(layout.questionEnd);
          emitDnsErrorReply(reply, 0, message, 0, layout.questionEnd, 1);
          assert.equal(checkDnsMessage(reply, 0, reply.length).check, "ok");
        }
        for (let at = 0; at < Math.min(message.length, 40); at++) {
          const end = skipDnsName(message, 0, message.length, at);
          assert.ok(end <= message.length);
        }
      },
    ),
    RUNS,
  );
});
