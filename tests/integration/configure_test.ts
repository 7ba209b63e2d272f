/**
 * `--configure` and what shapes it (reference §1.2): lo and the tap up, N+100 on the tap, the
 * default route via N+2, done in the same step that creates the tap (upstream's test helper
 * `wait_for_network_device` returns as soon as the tap exists); `--cidr`, `--macaddress`, `--mtu`;
 * the tap fd hand-over lines on stderr.
 */
import assert from "node:assert/strict";
import { matrix } from "../helpers/matrix.ts";
import { createNetns } from "../helpers/netns.ts";
import { startConfigured, startFor } from "../helpers/slirp.ts";

/** How long after the tap appears its configuration may still be missing. */
const CONFIGURE_GRACE_MS = 300;

matrix(
  "--configure: lo and tap up, 10.0.2.100/24, default route via 10.0.2.2, right away",
  async (v) => {
    const ns = await createNetns(v);
    const proc = startFor(v, ns, { args: ["-c"] });
    await ns.waitForLink("tap0", { proc });
    await ns.waitFor(
      "tap0 configured as soon as it exists",
      "ip -o -4 addr show dev tap0 | grep -q 'inet 10.0.2.100/24 ' && " +
        "ip route show default | grep -q 'default via 10.0.2.2 dev tap0'",
      { timeoutMs: CONFIGURE_GRACE_MS, proc },
    );
    const tap = (await ns.shOk("ip -o link show dev tap0")).stdout;
    assert.match(tap, /<[^>]*\bUP\b[^>]*>/, tap);
    assert.match(tap, / mtu 1500 /, tap);
    const lo = (await ns.shOk("ip -o link show dev lo")).stdout;
    assert.match(lo, /<[^>]*\bUP\b[^>]*>/, lo);
    await ns.waitForPing("10.0.2.2", { proc });
    await ns.waitForPing("10.0.2.3", { proc });
  },
);

matrix("the tap fd hand-over prints 'sent tapfd=N for tap0' and 'received tapfd=N'", async (v) => {
  const ns = await createNetns(v);
  const proc = startFor(v, ns, { args: ["-c"] });
  await ns.waitForLink("tap0", { proc });
  await proc.waitOutput("stderr", /^sent tapfd=\d+ for tap0$/m, 10_000);
  await proc.waitOutput("stderr", /^received tapfd=\d+$/m, 10_000);
});

matrix("--cidr 10.0.135.128/25 gives the guest 10.0.135.228 and the gateway .130", async (v) => {
  const ns = await createNetns(v);
  const proc = startFor(v, ns, { args: ["-c", "--cidr", "10.0.135.128/25"], tap: "tap11" });
  await ns.waitForLink("tap11", { proc });
  await ns.waitFor(
    "tap11 configured from the CIDR",
    "ip -o -4 addr show dev tap11 | grep -q 'inet 10.0.135.228/25 ' && " +
      "ip route show default | grep -q 'default via 10.0.135.130 dev tap11'",
    { timeoutMs: CONFIGURE_GRACE_MS, proc },
  );
  await ns.waitForPing("10.0.135.130", { proc });
  await ns.waitForPing("10.0.135.131", { proc });
});

matrix("--macaddress 0e:d4:18:d9:38:fb sets the tap's MAC", async (v) => {
  const ns = await createNetns(v);
  const proc = await startConfigured(v, ns, { args: ["--macaddress", "0e:d4:18:d9:38:fb"] });
  const link = (await ns.shOk("ip -o link show dev tap0")).stdout;
  assert.match(link, /link\/ether 0e:d4:18:d9:38:fb /, link);
  assert.ok(proc.running, proc.describe());
});

matrix("--mtu=65520 sets the tap MTU; 10.0.2.2 and 10.0.2.3 answer 60000-byte pings", async (v) => {
  const ns = await createNetns(v);
  const proc = await startConfigured(v, ns, { args: ["--mtu=65520"] });
  const link = (await ns.shOk("ip -o link show dev tap0")).stdout;
  assert.match(link, / mtu 65520 /, link);
  for (const address of ["10.0.2.2", "10.0.2.3"]) {
    await ns.waitForPing(address, { proc });
    await ns.waitForPing(address, { proc, size: 60_000 });
  }
});

matrix("the default MTU is 1500; 10.0.2.2 and 10.0.2.3 answer full-size pings", async (v) => {
  const ns = await createNetns(v);
  const proc = await startConfigured(v, ns);
  const link = (await ns.shOk("ip -o link show dev tap0")).stdout;
  assert.match(link, / mtu 1500 /, link);
  for (const address of ["10.0.2.2", "10.0.2.3"]) {
    await ns.waitForPing(address, { proc });
    await ns.waitForPing(address, { proc, size: 1472 });
  }
});

matrix("an MTU below 68 is refused with exit 1, with or without -c", async (v) => {
  // slirp4netns fails later (the kernel or libslirp refuses it); ours refuses it while parsing.
  const ns = await createNetns(v);
  for (const args of [["-c", "--mtu=67"], ["--mtu=67"]]) {
    const proc = startFor(v, ns, { args });
    const status = await proc.waitExit(20_000);
    assert.ok(status, `still running with ${args.join(" ")}: ${proc.describe()}`);
    assert.equal(status.code, 1, proc.describe());
  }
});
