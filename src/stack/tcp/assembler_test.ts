import assert from "node:assert/strict";
import { Assembler, MAX_RANGES } from "./assembler.ts";

Deno.test("Assembler merges overlapping and touching ranges", () => {
  const a = new Assembler();
  assert.ok(a.add(100, 200));
  assert.ok(a.add(300, 400));
  assert.ok(a.add(200, 300));
  assert.equal(a.count, 1);
  assert.equal(a.advance(100), 400);
  assert.equal(a.count, 0);
});

Deno.test("Assembler refuses a hole beyond its limit and advances over what it holds", () => {
  const a = new Assembler();
  for (let i = 1; i <= MAX_RANGES; i++) assert.ok(a.add(i * 100, i * 100 + 10));
  assert.ok(!a.add((MAX_RANGES + 5) * 100, (MAX_RANGES + 5) * 100 + 10));
  assert.ok(a.add(105, 150), "merging with a held range needs no new hole");
  assert.equal(a.advance(50), 50);
  assert.equal(a.advance(100), 150);
  assert.equal(a.count, MAX_RANGES - 1);
});

Deno.test("Assembler works across sequence number wrap-around", () => {
  const a = new Assembler();
  assert.ok(a.add(0xfffffff0, 0x10));
  assert.ok(a.covers(0xfffffff8, 0x8));
  assert.equal(a.advance(0xffffffe0), 0xffffffe0);
  assert.equal(a.advance(0xfffffff0), 0x10);
});
