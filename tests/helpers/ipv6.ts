/**
 * What the IPv6 integration tests share: the command started with `-c -6` until the guest has its
 * SLAAC address, a private resolv.conf, and the documentation addresses (RFC 3849) of the test
 * host behind a veth.
 */
import type { HostSide } from "./hostside.ts";
import type { Variant } from "./matrix.ts";
import type { Netns } from "./netns.ts";
import type { Proc } from "./process.ts";

/** The test host's IPv6 network (`HostSide.addTestHost`'s `ipv6`). */
export const TEST_NET6 = { hostAddress: "2001:db8:1::1/64", address: "2001:db8:1::2/64" };
/** The test host's address. */
export const TEST_HOST6 = "2001:db8:1::2";

/** A resolv.conf of the test's own (default: a nameserver the test may start at 127.0.0.53). */
export async function privateResolvConf(
  v: Variant,
  text = "nameserver 127.0.0.53\n",
): Promise<string> {
  const path = `${await v.tempDir()}/resolv.conf`;
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, 0o644);
  return path;
}

/**
 * Starts the command with `-c -6` (and `args`) on the host side and waits until the guest has a
 * usable (not tentative) SLAAC address in fd00::/64 and fd00::2 answers a ping.
 */
export async function startIpv6(
  v: Variant,
  side: HostSide,
  guest: Netns,
  resolvConf: string,
  args: string[] = [],
): Promise<Proc> {
  const proc = await side.startConfigured(v, guest, resolvConf, ["-6", ...args]);
  await guest.waitFor(
    "a SLAAC address in fd00::/64",
    "ip -6 addr show dev tap0 scope global | grep -v tentative | grep -q 'inet6 fd00::'",
    { timeoutMs: 20_000, proc },
  );
  await guest.waitForPing("fd00::2", { proc });
  return proc;
}

/** The guest's global IPv6 address on tap0 (its SLAAC address in fd00::/64). */
export async function guestAddress6(guest: Netns): Promise<string> {
  const shown =
    (await guest.run(["ip", "-6", "-o", "addr", "show", "dev", "tap0", "scope", "global"]))
      .stdout;
  const match = shown.match(/inet6 (fd00:[0-9a-f:]+)\/64/);
  if (!match) throw new Error(`no fd00::/64 address on tap0: ${shown}`);
  return match[1];
}
