/**
 * ICMP echo to hosts other than 10.0.2.2/10.0.2.3 (issue 4; reference §4.6): sent through
 * unprivileged ping sockets, the guest's identifier and sequence kept in the replies, fragmented
 * pings reassembled and the replies fragmented; where the host forbids ping sockets
 * (net.ipv4.ping_group_range), one warning and no reply, never a forged one. The command runs in a
 * private host-side namespace whose ping_group_range the test sets, with a test host behind a veth.
 */
import assert from "node:assert/strict";
import { ALL_GROUPS, HostSide } from "../helpers/hostside.ts";
import { matrix, type Variant } from "../helpers/matrix.ts";
import { createNetns } from "../helpers/netns.ts";

async function privateResolvConf(v: Variant): Promise<string> {
  const path = `${await v.tempDir()}/resolv.conf`;
  await Deno.writeTextFile(path, "nameserver 127.0.0.53\n");
  await Deno.chmod(path, 0o644);
  return path;
}

/** The "N received" of ping's summary. */
function received(output: string): number {
  const match = output.match(/(\d+) received/);
  return match ? Number(match[1]) : -1;
}

matrix(
  "ping to a test host through ping sockets; ping -s 4000 (fragmented) to it and to 10.0.2.2",
  async (v) => {
    const side = await HostSide.create(v, { pingGroupRange: ALL_GROUPS });
    await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24");
    const guest = await createNetns(v);
    const proc = await side.startConfigured(v, guest, await privateResolvConf(v));

    const plain = await guest.run([
      "ping",
      "-n",
      "-c",
      "3",
      "-i",
      "0.2",
      "-W",
      "2",
      "198.51.100.2",
    ]);
    assert.equal(received(plain.stdout), 3, plain.stdout + plain.stderr);
    // ping only counts replies with its own identifier and a sequence it sent.
    for (const seq of [1, 2, 3]) assert.match(plain.stdout, new RegExp(`icmp_seq=${seq} `));
    assert.doesNotMatch(plain.stdout, /DUP!/);

    for (const target of ["198.51.100.2", "10.0.2.2"]) {
      const big = await guest.run([
        "ping",
        "-n",
        "-c",
        "2",
        "-i",
        "0.2",
        "-s",
        "4000",
        "-W",
        "2",
        target,
      ]);
      assert.equal(received(big.stdout), 2, `${target}: ${big.stdout}${big.stderr}`);
      assert.match(big.stdout, /4008 bytes from/);
    }
    assert.doesNotMatch(proc.stderr, /ping_group_range/);
  },
);

matrix(
  "where ping sockets are forbidden: no reply, one warning, the gateway still answers",
  async (v) => {
    const side = await HostSide.create(v, { pingGroupRange: "1 0" });
    await side.addTestHost(v, "198.51.100.1/24", "198.51.100.2/24");
    const guest = await createNetns(v);
    const proc = await side.startConfigured(v, guest, await privateResolvConf(v));
    const result = await guest.run([
      "ping",
      "-n",
      "-c",
      "3",
      "-i",
      "0.2",
      "-W",
      "1",
      "198.51.100.2",
    ]);
    assert.equal(received(result.stdout), 0, result.stdout);
    await proc.waitOutput("stderr", /ping_group_range/, 5000);
    const warnings = proc.stderr.split("\n").filter((line) => line.includes("ping_group_range"));
    assert.equal(warnings.length, 1, proc.stderr);
    await guest.waitForPing("10.0.2.2", { proc });
  },
);
