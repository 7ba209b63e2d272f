/**
 * Which namespace and which tap (reference §1.1, §4.1): `--netns-type=path` with `--userns-path`,
 * or from inside the user namespace as Podman runs it (upstream's nspath test); attaching to a
 * persistent tap that RootlessKit made with `ip tuntap add`; and the errors of the child that
 * joins the namespace: a PID that does not exist, a namespace the user may not join.
 */
import assert from "node:assert/strict";
import { matrix } from "../helpers/matrix.ts";
import { createNamedNetns, createNetns } from "../helpers/netns.ts";
import { describeResult, run } from "../helpers/process.ts";
import { NO_SUCH_PID, startFor } from "../helpers/slirp.ts";
import { buildTool } from "../helpers/tools.ts";
import { isRoot } from "../helpers/users.ts";

matrix(
  "--userns-path=/proc/PID/ns/user --netns-type=path /proc/PID/ns/net creates the tap",
  async (v) => {
    const ns = await createNetns(v);
    const proc = v.start([
      `--userns-path=${ns.userPath}`,
      "--netns-type=path",
      ns.netPath,
      "tap11",
    ]);
    await ns.waitForLink("tap11", { proc });
    assert.ok(proc.running, proc.describe());
  },
);

matrix("--netns-type=path from inside the target's user namespace creates the tap", async (v) => {
  // Podman runs slirp4netns already inside the user namespace. Upstream enters it only when it
  // differs from the caller's (nsenter_flags), so as root this is a plain --netns-type=path run.
  const ns = await createNetns(v);
  const command = v.commandArgv(["--netns-type=path", ns.netPath, "tap11"]);
  const argv = ns.ownUserns ? ns.enterArgv(command, { net: false, user: true }) : command;
  const proc = v.spawn(argv, { name: "command under test" });
  await ns.waitForLink("tap11", { proc });
  assert.ok(proc.running, proc.describe());
});

matrix("attaches to a persistent tap made with `ip tuntap add` (no -c)", async (v) => {
  const ns = await createNetns(v);
  await ns.shOk("ip tuntap add tap0 mode tap && ip link set lo up");
  const proc = startFor(v, ns);
  await ns.shOk("ip addr add 10.0.2.100/24 dev tap0 && ip link set tap0 up");
  await ns.waitForPing("10.0.2.2", { proc, timeoutMs: 20_000 });
  assert.ok(proc.running, proc.describe());
});

matrix("--netns-type=tapfd uses an inherited open tap fd (slirp4netns 1.3)", async (v) => {
  const ns = await createNetns(v);
  const tapExec = await buildTool("tap_exec");
  // The tap is opened in the namespace with its owner's privileges; the command then runs as the
  // variant's user with the fd inherited at 3.
  const command = [tapExec, "tap0", "3", ...v.commandArgv(["--netns-type=tapfd", "3"])];
  const proc = v.spawn(ns.enterArgv(command, { net: true, user: ns.ownUserns }), {
    name: "command under test",
  });
  await ns.waitForLink("tap0", { proc });
  await ns.shOk("ip link set lo up && ip addr add 10.0.2.100/24 dev tap0 && ip link set tap0 up");
  await ns.waitForPing("10.0.2.2", { proc, timeoutMs: 20_000 });
  assert.ok(proc.running, proc.describe());
});

matrix("a PID that does not exist: exit 1 naming /proc/PID/ns/net", async (v) => {
  const result = await v.runCommand(["-c", NO_SUCH_PID, "tap0"]);
  const why = describeResult(result);
  assert.equal(result.code, 1, why);
  assert.ok(result.stderr.includes(`/proc/${NO_SUCH_PID}/ns/net`), why);
  assert.ok(result.stderr.includes("No such file or directory"), why);
});

const needsRoot = isRoot() ? false : "needs root to make a root-owned namespace";

matrix(
  "a root-owned namespace path: setns fails with 'Operation not permitted', exit 1",
  async (v) => {
    const path = await createNamedNetns(v);
    const result = await v.runCommand(["-c", "--netns-type=path", path, "tap0"]);
    const why = describeResult(result);
    assert.equal(result.code, 1, why);
    assert.match(result.stderr, /setns.*Operation not permitted/, why);
    const name = path.split("/").pop()!;
    const link = await run(["ip", "netns", "exec", name, "ip", "link", "show", "dev", "tap0"]);
    assert.equal(
      link.success,
      false,
      `a tap appeared in the root-owned namespace:\n${link.stdout}`,
    );
  },
  { only: "rootless", ignore: needsRoot },
);

matrix("the PID of a root-owned namespace: exit 1 with a permission error", async (v) => {
  const ns = await createNetns(v, { owner: "root" });
  const result = await v.runCommand(["-c", String(ns.pid), "tap0"]);
  const why = describeResult(result);
  assert.equal(result.code, 1, why);
  assert.match(result.stderr, /Permission denied|Operation not permitted/, why);
  const link = await ns.sh("ip link show dev tap0");
  assert.equal(link.success, false, `a tap appeared in the root-owned namespace:\n${link.stdout}`);
}, { only: "rootless", ignore: needsRoot });
