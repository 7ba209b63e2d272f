/**
 * Property tests for the API socket's JSON parser and request parser: any JSON value
 * JSON.stringify writes parses back to the same value, arbitrary bytes never throw (the parser
 * returns null, a request gets an error reply), and the framer finds the end of every object the
 * parser reads, however the bytes arrive.
 */
import assert from "node:assert/strict";
import { fc, RUNS } from "../testing/property.ts";
import { JsonFramer, type JsonValue, parseFirstJsonValue } from "./json.ts";
import { parseRequest } from "./protocol.ts";

const encoder = new TextEncoder();

/** JSON.parse's plain objects as our Maps, for comparison. */
function asMaps(value: unknown): JsonValue {
  if (Array.isArray(value)) return value.map(asMaps);
  if (value !== null && typeof value === "object") {
    return new Map(Object.entries(value).map(([k, v]) => [k, asMaps(v)]));
  }
  return value as JsonValue;
}

const json = fc.jsonValue({ maxDepth: 4 });

Deno.test("parseFirstJsonValue() reads back what JSON.stringify wrote, trailing bytes ignored", () => {
  fc.assert(
    fc.property(json, fc.constantFrom("", " ", "\n trailing", "}}"), (value, tail) => {
      const text = JSON.stringify(value);
      const parsed = parseFirstJsonValue(encoder.encode(text + tail));
      assert.ok(parsed !== null, text);
      assert.deepEqual(parsed.value, asMaps(JSON.parse(text)));
      assert.equal(parsed.end, encoder.encode(text).length);
    }),
    RUNS,
  );
});

Deno.test("JsonFramer ends an object or array where the parser does, bytes split anywhere", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.dictionary(fc.string(), json, { maxKeys: 4 }), fc.array(json, { maxLength: 4 })),
      fc.array(fc.nat(), { maxLength: 5 }),
      (value, cuts) => {
        const bytes = encoder.encode(" " + JSON.stringify(value) + " {");
        const framer = new JsonFramer();
        let end = -1;
        for (
          const cut of [
            ...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b),
            bytes.length,
          ]
        ) {
          end = framer.scan(bytes, cut);
          if (end >= 0) break;
        }
        assert.equal(end, parseFirstJsonValue(bytes)?.end);
      },
    ),
    RUNS,
  );
});

Deno.test("parseFirstJsonValue(), the framer and parseRequest() never throw on arbitrary bytes", () => {
  const jsonish = fc.stringMatching(/^[\s{}\[\]",:0-9a-z\\.eE+-]{0,80}$/).map((s) =>
    encoder.encode(s)
  );
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), jsonish), (bytes) => {
      const parsed = parseFirstJsonValue(bytes);
      if (parsed !== null) assert.ok(parsed.end <= bytes.length);
      new JsonFramer().scan(bytes, bytes.length);
      const request = parseRequest(bytes, { ipv4: 0x0a000264, ipv6: () => null });
      if (!request.ok) assert.equal(typeof JSON.parse(request.reply).error.desc, "string");
    }),
    RUNS,
  );
});

Deno.test("parseRequest() reads any add_hostfwd with valid ports and addresses, and get_stats' flag", () => {
  fc.assert(
    fc.property(
      fc.constantFrom("tcp", "udp"),
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: 1, max: 65535 }),
      fc.ipV4(),
      fc.boolean(),
      (proto, hostPort, guestPort, guest, connections) => {
        const add = parseRequest(
          encoder.encode(JSON.stringify({
            execute: "add_hostfwd",
            arguments: { proto, host_port: hostPort, guest_port: guestPort, guest_addr: guest },
          })),
          { ipv4: 0x0a000264 },
        );
        assert.ok(add.ok && add.command.execute === "add_hostfwd");
        assert.deepEqual(
          [add.command.forward.proto, add.command.forward.hostPort, add.command.forward.guestPort],
          [proto, hostPort, guestPort],
        );
        const stats = parseRequest(
          encoder.encode(JSON.stringify({ execute: "get_stats", arguments: { connections } })),
          { ipv4: 0x0a000264 },
        );
        assert.deepEqual(stats, { ok: true, command: { execute: "get_stats", connections } });
      },
    ),
    RUNS,
  );
});
