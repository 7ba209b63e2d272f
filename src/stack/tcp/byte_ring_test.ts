import assert from "node:assert/strict";
import { ByteBudget, ByteRing } from "./byte_ring.ts";

function fill(n: number, from: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
}

Deno.test("ByteRing keeps bytes in order through thousands of wrap-arounds", () => {
  const ring = new ByteRing(1 << 12, 1 << 12);
  let written = 0;
  let read = 0;
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 20_000; i++) {
    const room = ring.reserve(ring.limit) - ring.length;
    const n = Math.floor(random() * Math.min(room + 1, 700));
    ring.write(ring.length, fill(n, written), 0, n);
    ring.setLength(ring.length + n);
    written += n;
    const m = Math.floor(random() * (ring.length + 1));
    const out = new Uint8Array(m);
    ring.copyOut(0, out, 0, m);
    assert.deepEqual(out, fill(m, read));
    ring.consume(m);
    read += m;
  }
});

Deno.test("ByteRing grows by doubling up to its limit, keeping out-of-order bytes", () => {
  const ring = new ByteRing(1 << 16, 1024);
  assert.equal(ring.capacity, 0);
  assert.equal(ring.reserve(10), 10);
  assert.equal(ring.capacity, 1024);
  ring.write(0, fill(100, 0), 0, 100);
  ring.setLength(100);
  ring.write(3000, fill(10, 42), 0, 10); // beyond the first allocation: needs a reserve
  assert.equal(ring.reserve(3010), 3010);
  ring.write(3000, fill(10, 42), 0, 10);
  assert.equal(ring.capacity, 4096);
  assert.equal(ring.extent, 3010);
  assert.equal(ring.reserve(1 << 20), 1 << 16, "capped at the limit");
  const out = new Uint8Array(10);
  ring.copyOut(3000, out, 0, 10);
  assert.deepEqual(out, fill(10, 42));
});

Deno.test("ByteRing growth draws on the shared budget and gives it back", () => {
  const budget = new ByteBudget(8192);
  const a = new ByteRing(1 << 16, 4096, budget);
  const b = new ByteRing(1 << 16, 4096, budget);
  a.reserve(1);
  b.reserve(1);
  assert.equal(budget.used, 8192);
  assert.equal(a.reserve(8192), 4096, "no budget left to grow");
  a.release();
  assert.equal(b.reserve(8192), 8192);
  assert.equal(budget.used, 8192);
  b.consume(0);
  assert.ok(b.trim());
  assert.equal(budget.used, 0);
});
