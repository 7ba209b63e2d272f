import assert from "node:assert/strict";
import { type Config, DEFAULTS } from "../config.ts";
import { loadShim } from "../ffi/shim.ts";
import { openTap, openTapAsync } from "./open_tap.ts";

const shim = await loadShim();

/** A path target whose namespace file does not exist: the shim fails before it forks. */
const MISSING: Config = {
  ...DEFAULTS,
  target: { kind: "path", netnsPath: `/nonexistent-${crypto.randomUUID()}`, tapName: "tap0" },
};

Deno.test("openTapAsync() reports a namespace that cannot be opened as openTap() does", async () => {
  const sync = openTap(shim, MISSING);
  assert.equal(sync.ok, false);
  assert.deepEqual(await openTapAsync(shim, MISSING), sync);
  assert.match(!sync.ok ? sync.lines[0] : "", /No such file or directory/);
});

Deno.test("openTapAsync() refuses a BESS target as openTap() does", async () => {
  const bess: Config = { ...DEFAULTS, target: { kind: "bess", socketPath: "/tmp/x.sock" } };
  assert.deepEqual(await openTapAsync(shim, bess), openTap(shim, bess));
});
