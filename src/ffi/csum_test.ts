import assert from "node:assert/strict";
import { sumBytes } from "../wire/checksum.ts";
import { loadShim } from "./shim.ts";

Deno.test("shim_csum() sums exactly like sumBytes() at every offset, length and start value", async () => {
  const shim = await loadShim();
  const bytes = new Uint8Array(70_000);
  let seed = 1;
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  }
  for (const offset of [0, 1, 2, 3, 7, 13]) {
    for (const length of [0, 1, 2, 3, 4, 5, 31, 32, 33, 1499, 1500, 65535, 65536]) {
      for (const initial of [0, 1, 0x8000, 0xfffe, 0xffff]) {
        assert.equal(
          shim.shim_csum(bytes, offset, length, initial),
          sumBytes(bytes, offset, length, initial),
          `offset ${offset} length ${length} initial ${initial}`,
        );
      }
    }
  }
  bytes.fill(0xff, 0, 65536);
  assert.equal(shim.shim_csum(bytes, 0, 65536, 0xffff), sumBytes(bytes, 0, 65536, 0xffff));
});

Deno.test("shim_copy() copies into and out of SharedArrayBuffer memory", async () => {
  const shim = await loadShim();
  const shared = new Uint8Array(new SharedArrayBuffer(64));
  const source = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  assert.equal(shim.shim_copy(shared, 8, source, 4, 16), 16);
  assert.deepEqual(shared.subarray(8, 24), source.subarray(4, 20));
  assert.equal(shared[7], 0);
  assert.equal(shared[24], 0);
});
