import assert from "node:assert/strict";
import { gunzip, locateLauncher } from "./locate.ts";

const PT_INTERP = 3;
const ET_DYN = 3;

/** ELF64 little-endian header facts: type, machine, and the program header types. */
function elfFacts(bytes: Uint8Array): { type: number; machine: number; segments: number[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], "not ELF");
  assert.equal(bytes[4], 2, "not ELF64");
  const phoff = Number(view.getBigUint64(0x20, true));
  const phentsize = view.getUint16(0x36, true);
  const phnum = view.getUint16(0x38, true);
  const segments = Array.from(
    { length: phnum },
    (_, i) => view.getUint32(phoff + i * phentsize, true),
  );
  return { type: view.getUint16(0x10, true), machine: view.getUint16(0x12, true), segments };
}

for (
  const [arch, machine, load] of [
    ["x86_64", 62, () => import("../../native/prebuilt/launcher_x86_64.ts")],
    ["aarch64", 183, () => import("../../native/prebuilt/launcher_aarch64.ts")],
  ] as const
) {
  Deno.test(`the shipped ${arch} launcher is a static PIE: no loader, so it runs from a memfd anywhere`, async () => {
    const bytes = await gunzip(Uint8Array.fromBase64((await load()).LAUNCHER_GZIP_BASE64));
    const facts = elfFacts(bytes);
    assert.equal(facts.machine, machine);
    assert.equal(facts.type, ET_DYN, "position independent (randomized)");
    assert.ok(!facts.segments.includes(PT_INTERP), "has an interpreter: not static");
  });
}

Deno.test("locateLauncher() finds the local build in a checkout, else the shipped bytes", async () => {
  const location = await locateLauncher();
  if (location.kind === "file") {
    assert.match(location.path, /\/native\/build\/slirp4netns-sandbox$/);
  } else {
    assert.equal(elfFacts(location.bytes).segments.includes(PT_INTERP), false);
  }
});
