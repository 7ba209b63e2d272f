/**
 * The DHCP server (reference §1.2 defaults, upstream's dhcp test): without -c, a client on the tap
 * gets an address from the pool N+15..N+30, router N+2, DNS N+3, a /24 mask and a 24 h lease.
 */
import assert from "node:assert/strict";
import { matrix } from "../helpers/matrix.ts";
import { createNetns } from "../helpers/netns.ts";
import { startFor } from "../helpers/slirp.ts";

/** A udhcpc script that prints the lease it is given, and configures nothing. */
const LEASE_SCRIPT = `#!/bin/sh
case "$1" in
  bound|renew)
    echo "lease: ip=$ip router=$router dns=$dns subnet=$subnet lease=$lease serverid=$serverid" ;;
esac
exit 0
`;

matrix(
  "DHCP (udhcpc, no -c): 10.0.2.15-30, router 10.0.2.2, dns 10.0.2.3, /24, 86400 s",
  async (v) => {
    const ns = await createNetns(v);
    const script = `${await v.tempDir()}/lease.sh`;
    await Deno.writeTextFile(script, LEASE_SCRIPT);
    await Deno.chmod(script, 0o755);
    const proc = startFor(v, ns);
    await ns.waitForLink("tap0", { proc });
    const result = await ns.shOk(
      'ip link set lo up && ip link set tap0 up && timeout 10 udhcpc -q -f -n -i tap0 -s "$1"',
      [script],
      { timeoutMs: 20_000 },
    );
    const line = result.stdout.match(/^lease: (.*)$/m);
    assert.ok(line, `no lease:\n${result.stdout}${result.stderr}\n${proc.describe()}`);
    const lease = Object.fromEntries(line[1].split(" ").map((pair) => pair.split("=", 2)));
    const why = `${line[0]}\n${result.stderr}`;
    const match = lease.ip?.match(/^10\.0\.2\.(\d+)$/);
    assert.ok(
      match && Number(match[1]) >= 15 && Number(match[1]) <= 30,
      `address outside the pool: ${why}`,
    );
    assert.equal(lease.router, "10.0.2.2", why);
    assert.equal(lease.dns, "10.0.2.3", why);
    assert.equal(lease.subnet, "255.255.255.0", why);
    assert.equal(lease.lease, "86400", why);
    assert.ok(proc.running, proc.describe());
  },
);
