import assert from "node:assert/strict";
import { shimFiles } from "./files.ts";
import { interfaceIpv4, interfaceIpv6 } from "./interfaces.ts";
import { loadShim } from "./shim.ts";

/** Whether lo has ::1 (the tests run with --allow-read=. only: /proc is read through the shim). */
const loopbackHasIpv6 = (shimFiles(await loadShim()).read("/proc/net/if_inet6") ?? "")
  .split("\n")
  .some((line) => line.startsWith("00000000000000000000000000000001 ") && line.endsWith(" lo"));

Deno.test("interfaceIpv4() finds the loopback interface's 127.0.0.1", async () => {
  assert.equal(interfaceIpv4(await loadShim(), "lo"), "127.0.0.1");
});

Deno.test("interfaceIpv4() returns null for an interface that does not exist", async () => {
  assert.equal(interfaceIpv4(await loadShim(), "nosuchif0"), null);
});

Deno.test({
  name: "interfaceIpv6() finds the loopback interface's ::1",
  ignore: !loopbackHasIpv6,
  fn: async () => {
    assert.equal(interfaceIpv6(await loadShim(), "lo"), "::1");
  },
});

Deno.test("interfaceIpv6() returns null for an interface that does not exist", async () => {
  assert.equal(interfaceIpv6(await loadShim(), "nosuchif0"), null);
});
