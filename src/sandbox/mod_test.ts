import assert from "node:assert/strict";
import { loadShim } from "../ffi/shim.ts";
import { checkSandbox } from "./mod.ts";

Deno.test("checkSandbox() refuses a process that is not sandboxed (the continuation's last check)", async () => {
  const shim = await loadShim();
  const state = new Uint32Array(11);
  assert.equal(shim.shim_sandbox_state(new Uint8Array(state.buffer)), 0);
  const reason = checkSandbox(shim);
  // The test runner has no no_new_privs, or more capabilities, or a writable root.
  assert.notEqual(reason, null);
  assert.match(reason!, /^sandbox: not in effect after the re-exec: /);
});
