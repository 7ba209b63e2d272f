import assert from "node:assert/strict";
import { JsonFramer, MAX_NESTING, parseFirstJsonValue } from "./json.ts";

const encoder = new TextEncoder();

function parse(text: string) {
  return parseFirstJsonValue(encoder.encode(text));
}

/** Feeds `text` to a framer in pieces cut at `cuts`; returns the end it reports, or -1. */
function frame(text: string, cuts: number[] = []): number {
  const bytes = encoder.encode(text);
  const framer = new JsonFramer();
  for (const cut of [...cuts, bytes.length]) {
    const end = framer.scan(bytes, cut);
    if (end >= 0) return end;
  }
  return -1;
}

Deno.test("parseFirstJsonValue() builds objects as Maps in arrival order", () => {
  const parsed = parse('{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_port":8080}}');
  assert.ok(parsed);
  assert.deepEqual(
    parsed.value,
    new Map<string, unknown>([
      ["execute", "add_hostfwd"],
      ["arguments", new Map<string, unknown>([["proto", "tcp"], ["host_port", 8080]])],
    ]),
  );
});

Deno.test("parseFirstJsonValue() gives no name special meaning", () => {
  const parsed = parse('{"__proto__":{"execute":"x"},"constructor":1}');
  assert.ok(parsed && parsed.value instanceof Map);
  assert.deepEqual([...parsed.value.keys()], ["__proto__", "constructor"]);
});

Deno.test("parseFirstJsonValue() reports where the first value ends", () => {
  assert.equal(parse('{"a":[1,2,{"b":null}]} {"c":1}')?.end, 22);
  assert.equal(parse("  true false")?.end, 6);
  assert.equal(parse("-12.5e+3,")?.end, 8);
  assert.equal(parse("-12.5e+3,")?.value, -12500);
});

Deno.test("parseFirstJsonValue() follows RFC 8259's number grammar", () => {
  for (const good of ["0", "-0", "1.5", "1e5", "1E-5", "10", "123456789012"]) {
    assert.equal(parse(good)?.value, Number(good), good);
  }
  // A first value that stops early ("01" is 0 then "1") is still a value; these have none.
  for (const bad of ["-", "+1", ".5", "1.", "1e", "1e+", "--1", "NaN", "Infinity"]) {
    assert.equal(parse(bad), null, bad);
  }
  assert.equal(parse("01")?.end, 1);
});

Deno.test("parseFirstJsonValue() decodes every string escape", () => {
  assert.equal(
    parse('"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00"')?.value,
    '"\\/\b\f\n\r\t\u00e9\u{1f600}',
  );
  for (const bad of ['"\\x"', '"\\u12"', '"\\u12g4"', '"unterminated', '"tab\there"']) {
    assert.equal(parse(bad), null, bad);
  }
});

Deno.test("parseFirstJsonValue() rejects broken structure and repeated names", () => {
  for (
    const bad of [
      "{",
      "[",
      "{}}".slice(1),
      '{"a"}',
      '{"a":}',
      '{"a":1,}',
      "[1,]",
      "[1 2]",
      '{"a":1 "b":2}',
      '{"a":1,"a":1}',
      "tru",
      "nul",
      "{1:2}",
    ]
  ) {
    assert.equal(parse(bad), null, bad);
  }
});

Deno.test("parseFirstJsonValue() limits nesting as parson does", () => {
  assert.ok(parse("[".repeat(MAX_NESTING) + "]".repeat(MAX_NESTING)));
  assert.equal(parse("[".repeat(MAX_NESTING + 1) + "]".repeat(MAX_NESTING + 1)), null);
});

Deno.test("JsonFramer finds the end of the first object wherever the bytes are split", () => {
  const text =
    ' \n{"execute":"add_hostfwd","arguments":{"proto":"tcp","x":"}]{[\\"\\\\"}}\n{"next":1}';
  const end = text.indexOf("}\n{") + 1;
  assert.equal(frame(text), end);
  for (let cut = 0; cut <= text.length; cut++) assert.equal(frame(text, [cut]), end, `cut ${cut}`);
  const oneByOne = Array.from({ length: text.length }, (_, i) => i);
  assert.equal(frame(text, oneByOne), end);
});

Deno.test("JsonFramer completes arrays, and never a value that is not an object or array", () => {
  assert.equal(frame("[1,[2],{}]x"), 10);
  for (const text of ["badjson", '"a string"', "123 ", "true", "\0\0\0", "}"]) {
    assert.equal(frame(text), -1, text);
  }
});

Deno.test("JsonFramer waits for the closing brace however deep", () => {
  assert.equal(frame('{"a":{"b":{"c":"}"}}'), -1);
  assert.equal(frame('{"a":{"b":{"c":"}"}}}'), 21);
});
