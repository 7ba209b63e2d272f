/**
 * Start and stop (reference §1.2 `-r`/`-e`, §1.5, §3.2 exit-fd pitfall): the ready byte comes only
 * when the network works; any event on the exit fd (hang-up, or an fd that is not open) ends the
 * process with status 0; extra positional arguments only warn; SIGTERM and SIGINT end ours cleanly
 * with status 0 (the original dies by the signal: adapted when it is the command under test).
 */
import assert from "node:assert/strict";
import { isUpstream } from "../helpers/command.ts";
import { matrix } from "../helpers/matrix.ts";
import { createNetns } from "../helpers/netns.ts";
import { sleep, waitFor } from "../helpers/process.ts";
import { startConfigured, startFor } from "../helpers/slirp.ts";

matrix(
  "--ready-fd gets exactly '1', once the tap is configured and the gateway answers",
  async (v) => {
    const ns = await createNetns(v);
    const readyFile = `${await v.tempDir()}/ready`;
    const proc = startFor(v, ns, {
      args: ["-c", "-r", "10"],
      fds: { 10: { kind: "write-file", path: readyFile } },
    });
    const content = await waitFor("the ready byte", async () => {
      const text = await Deno.readTextFile(readyFile).catch(() => ""); // Not created yet.
      return text.length > 0 ? text : null;
    }, {
      timeoutMs: 20_000,
      intervalMs: 10,
      failIf: () => proc.running ? null : `the command exited: ${proc.describe()}`,
    });
    // Straight after the byte: no waiting for the network here.
    const now = await ns.sh(
      "ip -o -4 addr show dev tap0 | grep -q 'inet 10.0.2.100/24 ' && ping -n -c 1 -W 2 10.0.2.2",
    );
    assert.ok(
      now.success,
      `not usable when ready was signalled:\n${now.stdout}${now.stderr}\n${await ns.snapshot()}`,
    );
    assert.equal(content, "1");
    await sleep(300);
    assert.equal(
      await Deno.readTextFile(readyFile),
      "1",
      "the ready fd was written more than once",
    );
    assert.ok(proc.running, proc.describe());
  },
);

matrix("--exit-fd: closing the write end of the pipe ends the process with status 0", async (v) => {
  const ns = await createNetns(v);
  const proc = await startConfigured(v, ns, { args: ["-e", "10"], fds: { 10: { kind: "pipe" } } });
  await proc.closePipe();
  const status = await proc.waitExit(5000);
  assert.ok(status, `still running 5 s after the exit fd was closed: ${proc.describe()}`);
  assert.equal(status.code, 0, proc.describe());
});

matrix("--exit-fd naming an fd that is not open ends the process with status 0", async (v) => {
  const ns = await createNetns(v);
  const proc = startFor(v, ns, { args: ["-e", "10"], fds: { 10: { kind: "closed" } } });
  const status = await proc.waitExit(20_000);
  assert.ok(status, `still running with a closed exit fd: ${proc.describe()}`);
  assert.equal(status.code, 0, proc.describe());
});

matrix("upstream's exit-fd script: `-e 10 PID tap11 10/dev/fd/63` warns and exits 0", async (v) => {
  // `10<(...)` in upstream's script is a word, not a redirection: bash passes "10/dev/fd/63" as a
  // third positional argument and fd 10 is never opened.
  const ns = await createNetns(v);
  const proc = startFor(v, ns, {
    args: ["-e", "10"],
    tap: "tap11",
    extra: ["10/dev/fd/63"],
    fds: { 10: { kind: "closed" } },
  });
  const status = await proc.waitExit(20_000);
  assert.ok(status, `still running: ${proc.describe()}`);
  assert.equal(status.code, 0, proc.describe());
  assert.match(proc.stdout, /^WARNING: too many arguments$/m, proc.describe());
});

matrix("an extra positional argument only warns: the network still works", async (v) => {
  const ns = await createNetns(v);
  const proc = await startConfigured(v, ns, { extra: ["surplus"] });
  await proc.waitOutput("stdout", /^WARNING: too many arguments$/m, 10_000);
  assert.ok(proc.running, proc.describe());
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  matrix(`${signal} ends the process with status 0 within a few seconds`, async (v) => {
    const ns = await createNetns(v);
    const proc = await startConfigured(v, ns);
    proc.kill(signal);
    const status = await proc.waitExit(5000);
    assert.ok(status, `still running 5 s after ${signal}: ${proc.describe()}`);
    if (isUpstream()) {
      // The original installs no handler: it dies by the signal (reference §1.5).
      assert.equal(status.signal, signal, proc.describe());
    } else {
      assert.equal(status.code, 0, proc.describe());
    }
  });
}
