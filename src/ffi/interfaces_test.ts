import assert from "node:assert/strict";
import { interfaceIpv4 } from "./interfaces.ts";
import { loadShim } from "./shim.ts";

Deno.test("interfaceIpv4() finds the loopback interface's 127.0.0.1", async () => {
  assert.equal(interfaceIpv4(await loadShim(), "lo"), "127.0.0.1");
});

Deno.test("interfaceIpv4() returns null for an interface that does not exist", async () => {
  assert.equal(interfaceIpv4(await loadShim(), "nosuchif0"), null);
});
