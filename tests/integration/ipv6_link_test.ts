/**
 * The IPv6 link with `-6` (issue 10): the guest's kernel configures itself from our router
 * advertisements (SLAAC in fd00::/64, default route via fe80::2, the link MTU), Neighbor
 * Discovery and echo for fd00::2, fd00::3 and fe80::2, fragments both ways; without `-6` none of
 * it. Only the namespace's own link is used: every address here is the stack's.
 */
import assert from "node:assert/strict";
import { matrix } from "../helpers/matrix.ts";
import { createNetns, type Netns } from "../helpers/netns.ts";
import type { Proc } from "../helpers/process.ts";
import { startConfigured } from "../helpers/slirp.ts";

/** The "N received" of ping's summary. */
function received(output: string): number {
  const match = output.match(/(\d+) received/);
  return match ? Number(match[1]) : -1;
}

/** Waits until the guest has a usable (not tentative) SLAAC address and the default route. */
async function waitForSlaac(ns: Netns, proc: Proc): Promise<void> {
  await ns.waitFor(
    "a SLAAC address in fd00::/64 and a default route via fe80::2",
    "ip -6 -o addr show dev tap0 scope global -tentative | grep -q 'inet6 fd00::' && " +
      "ip -6 route show default | grep -q 'via fe80::2 dev tap0'",
    { timeoutMs: 20_000, proc },
  );
}

async function ping(ns: Netns, args: string[]): Promise<string> {
  const result = await ns.run(["ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", ...args]);
  return result.stdout + result.stderr;
}

matrix(
  "-c -6: SLAAC address and default route from our RA; fd00::2, fd00::3, fe80::2 answer ping",
  async (v) => {
    const ns = await createNetns(v);
    const proc = await startConfigured(v, ns, { args: ["-6"] });
    await waitForSlaac(ns, proc);

    const addr = (await ns.shOk("ip -6 -o addr show dev tap0 scope global")).stdout;
    assert.match(addr, /inet6 fd00::[0-9a-f:]+\/64 scope global dynamic/, addr);
    // The prefix information option's lifetimes (valid 86400 s, preferred 14400 s).
    const lifetimes = addr.match(/valid_lft (\d+)sec preferred_lft (\d+)sec/);
    assert.ok(lifetimes, addr);
    assert.ok(Number(lifetimes[1]) > 86000 && Number(lifetimes[1]) <= 86400, addr);
    assert.ok(Number(lifetimes[2]) > 14000 && Number(lifetimes[2]) <= 14400, addr);
    const route = (await ns.shOk("ip -6 route show default")).stdout;
    assert.match(route, /default via fe80::2 dev tap0 proto ra/, route);
    assert.match(route, /hoplimit 64/, route);
    // The MTU option carries the link MTU.
    const mtu = (await ns.shOk("cat /proc/sys/net/ipv6/conf/tap0/mtu")).stdout.trim();
    assert.equal(mtu, "1500");

    for (const target of [["-6", "fd00::2"], ["fd00::3"], ["fe80::2%tap0"]]) {
      const out = await ping(ns, target);
      assert.equal(received(out), 2, `${target.join(" ")}: ${out}`);
      assert.match(out, /ttl=255/, out);
    }
    // 3000 bytes at MTU 1500: the request goes out in fragments, the reply comes in fragments.
    const big = await ping(ns, ["-6", "-s", "3000", "fd00::2"]);
    assert.equal(received(big), 2, big);
    assert.match(big, /3008 bytes from fd00::2/, big);
    // The guest learned our MACs through Neighbor Discovery.
    const neighbours = (await ns.shOk("ip -6 neigh show dev tap0")).stdout;
    assert.match(neighbours, /fd00::2 lladdr 52:55:0a:00:02:02 router/, neighbours);
    assert.match(neighbours, /fd00::3 lladdr 52:55:0a:00:02:03 (?!router)/, neighbours);
    assert.ok(proc.running, proc.describe());
  },
);

matrix(
  "-6 at MTU 65520: the RA's MTU option sets the IPv6 MTU, and big pings need no fragments",
  async (v) => {
    const ns = await createNetns(v);
    const proc = await startConfigured(v, ns, { args: ["-6", "--mtu=65520"] });
    await waitForSlaac(ns, proc);
    const mtu = (await ns.shOk("cat /proc/sys/net/ipv6/conf/tap0/mtu")).stdout.trim();
    assert.equal(mtu, "65520");
    const big = await ping(ns, ["-6", "-s", "30000", "-M", "do", "fd00::2"]);
    assert.equal(received(big), 2, big);
  },
);

matrix(
  "without -6: no router advertisement, no fd00::/64 address or route, fe80::2 unanswered",
  async (v) => {
    const ns = await createNetns(v);
    const proc = await startConfigured(v, ns);
    // Once the link-local address passed duplicate address detection, the kernel has sent its
    // router solicitation; the neighbour solicitation for fe80::2 then goes unanswered.
    await ns.waitFor(
      "the link-local address",
      "ip -6 -o addr show dev tap0 scope link -tentative | grep -q 'inet6 fe80::'",
      { timeoutMs: 20_000, proc },
    );
    const out = await ping(ns, ["fe80::2%tap0"]);
    assert.equal(received(out), 0, out);
    const state =
      (await ns.shOk("ip -6 -o addr show dev tap0 scope global; ip -6 route show default"))
        .stdout;
    assert.equal(state.trim(), "", state);
    assert.ok(proc.running, proc.describe());
  },
);
