import assert from "node:assert/strict";
import { C, COUNTER_NAMES, Counters } from "./counters.ts";

Deno.test("counter names are unique and follow layer.reason", () => {
  assert.equal(new Set(COUNTER_NAMES).size, COUNTER_NAMES.length);
  for (const name of COUNTER_NAMES) assert.match(name, /^[a-z0-9]+\.[a-z0-9_]+$/);
});

Deno.test("C maps every name to its index", () => {
  COUNTER_NAMES.forEach((name, index) => assert.equal(C[name], index));
});

Deno.test("bump() counts and snapshot() lists every counter by name", () => {
  const counters = new Counters();
  counters.bump(C["arp.reply"]);
  counters.bump(C["arp.reply"]);
  counters.bump(C["tx.frame"], 5);
  const snapshot = counters.snapshot();
  assert.equal(Object.keys(snapshot).length, COUNTER_NAMES.length);
  assert.equal(snapshot["arp.reply"], 2);
  assert.equal(snapshot["tx.frame"], 5);
  assert.equal(snapshot["frame.runt"], 0);
  assert.equal(counters.get("arp.reply"), 2);
  assert.deepEqual(counters.nonZero(), { "arp.reply": 2, "tx.frame": 5 });
});

Deno.test("Counters can live in a SharedArrayBuffer read by another view", () => {
  const shared = new SharedArrayBuffer(Counters.BYTE_LENGTH);
  const writer = new Counters(shared);
  const reader = new Counters(shared);
  writer.bump(C["frame.received"]);
  assert.equal(reader.get("frame.received"), 1);
});
