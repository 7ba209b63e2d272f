import assert from "node:assert/strict";
import { IPV6_ADDRESSES } from "../config.ts";
import { IPV6_LOOPBACK, parseIpv6 } from "../wire/address.ts";
import { ipv6HostDestination, isHostIpv6Peer } from "./ipv6_destination.ts";

const ip6 = (text: string) => parseIpv6(text)!;

Deno.test("ipv6HostDestination(): the whole fd00::/64 is the host's ::1, or refused", () => {
  for (const text of ["fd00::2", "fd00::3", "fd00::1234", "fd00::ffff:ffff:ffff:ffff"]) {
    assert.equal(ipv6HostDestination(ip6(text), IPV6_ADDRESSES, false), IPV6_LOOPBACK, text);
    assert.equal(ipv6HostDestination(ip6(text), IPV6_ADDRESSES, true), "refused", text);
  }
});

Deno.test("ipv6HostDestination(): special and link-local destinations lead nowhere", () => {
  for (const text of ["::", "::1", "::ffff:10.0.2.2", "ff02::1", "fe80::2", "fe80::1"]) {
    assert.equal(ipv6HostDestination(ip6(text), IPV6_ADDRESSES, false), "invalid", text);
  }
});

Deno.test("ipv6HostDestination(): any other address is itself, even next to the prefix", () => {
  for (const text of ["2001:db8::2", "fd00:0:0:1::2", "fc00::1"]) {
    assert.equal(ipv6HostDestination(ip6(text), IPV6_ADDRESSES, true), ip6(text), text);
  }
});

Deno.test("isHostIpv6Peer(): a host sender is shown as itself unless the guest could not tell or answer it", () => {
  for (const text of ["2001:db8::2", "fd00:0:0:1::2"]) {
    assert.equal(isHostIpv6Peer(ip6(text), IPV6_ADDRESSES), true, text);
  }
  for (const text of ["fd00::2", "fd00::77", "fe80::1", "::1", "::", "ff02::1", "::ffff:1.2.3.4"]) {
    assert.equal(isHostIpv6Peer(ip6(text), IPV6_ADDRESSES), false, text);
  }
});
