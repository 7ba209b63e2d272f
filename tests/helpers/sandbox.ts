/**
 * Checks of `--enable-sandbox` and `--enable-seccomp` seen from outside the process: every
 * thread's credentials, filter and root directory (/proc/PID/task/TID), the root mount, and the
 * ready byte.
 */
import assert from "node:assert/strict";
import { type Proc, runOk, waitFor } from "./process.ts";

/** What every thread's /proc/PID/task/TID/status must say. */
export const SANDBOXED_STATUS = {
  CapInh: "0000000000000400",
  CapPrm: "0000000000000400",
  CapEff: "0000000000000400",
  CapBnd: "0000000000000400",
  NoNewPrivs: "1",
  Seccomp: "2",
};
/** What the sandbox's root may hold (the loader's /lib* exist only where the host has them). */
export const ALLOWED_IN_ROOT = new Set([
  "dev",
  "etc",
  "run",
  "usr",
  "lib",
  "lib32",
  "lib64",
  "libx32",
  "proc",
  "slirp4netns",
]);

export interface ThreadReport {
  tid: string;
  status: Record<string, string>;
  root: string[];
}

/** Every thread's credentials, filter state and root directory listing, read from outside. */
export async function threads(pid: number): Promise<ThreadReport[]> {
  const script = `
    for t in /proc/$0/task/*; do
      s=$(grep -E '^(CapInh|CapPrm|CapEff|CapBnd|NoNewPrivs|Seccomp):' "$t/status" 2>/dev/null |
        tr -d ' \\t' | tr '\\n' ';')
      r=$(ls -A "$t/root" 2>/dev/null | tr '\\n' ',')
      # A thread that ended since the listing has no status: skipped, not a failure.
      if [ -n "$s" ]; then echo "\${t##*/}|$s|$r"; fi
    done`;
  const result = await runOk(["sh", "-c", script, String(pid)]);
  return result.stdout.trim().split("\n").filter((line) => line !== "").map((line) => {
    const [tid, status, root] = line.split("|");
    const fields = Object.fromEntries(
      status.split(";").filter((f) => f !== "").map((f) => f.split(":") as [string, string]),
    );
    return { tid, status: fields, root: root.split(",").filter((e) => e !== "") };
  });
}

/** Asserts that every thread is sandboxed (and filtered); returns the thread ids. */
export async function assertAllSandboxed(pid: number, proc: Proc): Promise<Set<string>> {
  const report = await threads(pid);
  assert.ok(report.length > 1, `only ${report.length} thread(s) seen: ${proc.describe()}`);
  for (const thread of report) {
    assert.deepEqual(thread.status, SANDBOXED_STATUS, `thread ${thread.tid}`);
    for (const entry of ["etc", "run", "slirp4netns"]) {
      assert.ok(thread.root.includes(entry), `thread ${thread.tid} root: ${thread.root}`);
    }
    const foreign = thread.root.filter((entry) => !ALLOWED_IN_ROOT.has(entry));
    assert.deepEqual(foreign, [], `thread ${thread.tid}: unexpected in its root`);
  }
  const mounts = await runOk(["cat", `/proc/${pid}/mountinfo`]);
  const root = mounts.stdout.split("\n").find((line) => line.split(" ")[4] === "/");
  assert.ok(root !== undefined && / ro[, ]/.test(root), `the root mount: ${root}`);
  assert.match(root!, / - tmpfs /, `the root mount: ${root}`);
  return new Set(report.map((t) => t.tid));
}

/** Waits for the ready byte in `file`; fails at once if the command exits. */
export function waitReady(file: string, proc: Proc, timeoutMs = 30_000): Promise<string> {
  return waitFor("the ready byte", async () => {
    const text = await Deno.readTextFile(file).catch(() => "");
    return text.length > 0 ? text : null;
  }, {
    timeoutMs,
    intervalMs: 10,
    failIf: () => proc.running ? null : `the command exited: ${proc.describe()}`,
  });
}

/** Like assertAllSandboxed, for a run without --enable-seccomp. */
export async function assertSandboxedNoSeccomp(pid: number): Promise<void> {
  for (const thread of await threads(pid)) {
    assert.deepEqual(thread.status, { ...SANDBOXED_STATUS, Seccomp: "0" }, `thread ${thread.tid}`);
    assert.deepEqual(
      thread.root.filter((e) => !ALLOWED_IN_ROOT.has(e)),
      [],
      `thread ${thread.tid}`,
    );
  }
}
