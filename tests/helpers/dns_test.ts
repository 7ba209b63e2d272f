/** Self-test of the DNS helpers: a private resolv.conf reaches the test's own dnsmasq only. */
import assert from "node:assert/strict";
import { digUnder, startDnsServer } from "./dns.ts";
import { matrix } from "./matrix.ts";
import { isRoot } from "./users.ts";

matrix(
  "dns helper: a private resolv.conf points at the test's dnsmasq, the host's is untouched",
  async (v) => {
    const before = await Deno.readTextFile("/etc/resolv.conf");
    const dns = await startDnsServer(v, { "probe.test": "198.51.100.7" });
    assert.equal(await digUnder(dns.resolvConf, "probe.test"), "198.51.100.7");
    assert.match(dns.proc.stderr, /query\[A\] probe\.test from 127\.0\.0\.1/);
    assert.equal(await Deno.readTextFile("/etc/resolv.conf"), before);
  },
  { only: "root", ignore: isRoot() ? false : "needs root (port 53, mount namespace)" },
);
