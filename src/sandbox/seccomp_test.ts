import assert from "node:assert/strict";
import { assemble, evaluate } from "./bpf.ts";
import {
  AUDIT_ARCH,
  BLOCKED_CALLS,
  blockedCallsLine,
  SECCOMP_RET,
  type SeccompArch,
  seccompFilter,
  SYSCALL_NUMBERS,
} from "./seccomp.ts";

const ARCHES: SeccompArch[] = ["x86_64", "aarch64"];
const EPERM = SECCOMP_RET.ERRNO | 1;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_ARM = 0x40000028;
/** Calls the runtime makes all the time (read, write, futex, clone3, openat, ...). */
const EVERYDAY: Record<SeccompArch, number[]> = {
  x86_64: [0, 1, 202, 435, 257, 232, 281, 41, 44, 45, 3, 9, 10, 11, 12, 13, 14, 60, 231, 318],
  aarch64: [63, 64, 98, 435, 56, 22, 20, 198, 206, 207, 57, 222, 226, 215, 214, 134, 135, 93, 94],
};

Deno.test("the stdout line lists slirp4netns's blocked calls in its order, then ours", () => {
  const upstream = "execve lookup_dcookie pidfd_getfd ptrace process_vm_readv process_vm_writev " +
    "delete_module finit_module init_module chroot fsconfig fsmount fsopen fspick mount " +
    "move_mount open_tree pivot_root umount umount2 open_by_handle_at execveat pidfd_open " +
    "pidfd_send_signal prctl setns unshare kexec_file_load kexec_load reboot name_to_handle_at";
  const line = blockedCallsLine();
  assert.ok(
    line.startsWith(`seccomp: The following syscalls are blocked: ${upstream} `),
    line,
  );
});

Deno.test("every blocked call but umount has a number on both architectures, all distinct", () => {
  for (const arch of ARCHES) {
    const numbers = BLOCKED_CALLS.map((c) => SYSCALL_NUMBERS[arch][c.name]);
    const missing = BLOCKED_CALLS.filter((_, i) => numbers[i] === undefined).map((c) => c.name);
    assert.deepEqual(missing, ["umount"], arch);
    const known = numbers.filter((n) => n !== undefined);
    assert.equal(new Set(known).size, known.length, `${arch}: a number appears twice`);
  }
});

for (const arch of ARCHES) {
  const native = AUDIT_ARCH[arch];
  const numbers = SYSCALL_NUMBERS[arch];

  Deno.test(`seccompFilter(${arch}) applies each call's action and allows everyday calls`, () => {
    const filter = seccompFilter(arch);
    for (const call of BLOCKED_CALLS) {
      const nr = numbers[call.name];
      if (nr === undefined || call.allowedOptions) continue;
      const expected = call.action === "kill" ? SECCOMP_RET.KILL_PROCESS : EPERM;
      assert.equal(evaluate(filter, { arch: native, nr }), expected, `${arch} ${call.name}`);
    }
    for (const nr of EVERYDAY[arch]) {
      assert.equal(evaluate(filter, { arch: native, nr }), SECCOMP_RET.ALLOW, `${arch} #${nr}`);
    }
  });

  Deno.test(`seccompFilter(${arch}) allows prctl only for thread names`, () => {
    const filter = seccompFilter(arch);
    const prctl = numbers.prctl;
    for (const option of [15, 16]) {
      assert.equal(
        evaluate(filter, { arch: native, nr: prctl, args: [option] }),
        SECCOMP_RET.ALLOW,
      );
    }
    // PR_SET_VMA (V8 names its memory), PR_SET_DUMPABLE, PR_CAP_AMBIENT, PR_SET_SECCOMP
    for (const option of [0x53564d41, 4, 47, 22, 0]) {
      assert.equal(evaluate(filter, { arch: native, nr: prctl, args: [option] }), EPERM);
    }
    // Only the low 32 bits are the option (it is an int): the kernel reads 15 here too.
    assert.equal(
      evaluate(filter, { arch: native, nr: prctl, args: [(1n << 32n) | 15n] }),
      SECCOMP_RET.ALLOW,
    );
  });

  Deno.test(`seccompFilter(${arch}) kills any call of another ABI`, () => {
    const filter = seccompFilter(arch);
    for (const other of [AUDIT_ARCH_I386, AUDIT_ARCH_ARM, AUDIT_ARCH.x86_64, AUDIT_ARCH.aarch64]) {
      if (other === native) continue;
      for (const nr of [0, 1, 3, 11]) {
        assert.equal(evaluate(filter, { arch: other, nr }), SECCOMP_RET.KILL_PROCESS);
      }
    }
  });

  Deno.test(`seccompFilter(${arch}) uses the given kill action`, () => {
    const filter = seccompFilter(arch, { kill: SECCOMP_RET.KILL_THREAD });
    assert.equal(evaluate(filter, { arch: native, nr: numbers.execve }), SECCOMP_RET.KILL_THREAD);
  });
}

Deno.test("seccompFilter(x86_64) kills x32 calls, whose numbers carry bit 30", () => {
  const filter = seccompFilter("x86_64");
  for (const nr of [0x40000000, 0x40000000 + 59, 0x40000000 + 520, 0x7fffffff]) {
    assert.equal(evaluate(filter, { arch: AUDIT_ARCH.x86_64, nr }), SECCOMP_RET.KILL_PROCESS);
  }
  // A negative number (-1, as strace's injected calls) is not x32: seen as 0xffffffff >= bit.
  assert.equal(evaluate(filter, { arch: AUDIT_ARCH.x86_64, nr: -1 }), SECCOMP_RET.KILL_PROCESS);
});

Deno.test("seccompFilter() checks several calls' options, each against its own list", () => {
  const calls = [
    { name: "prctl", action: "eperm" as const, allowedOptions: [15] },
    { name: "keyctl", action: "kill" as const, allowedOptions: [7] },
    { name: "execve", action: "kill" as const },
  ];
  const filter = seccompFilter("x86_64", { calls });
  const run = (nr: number, option: number) =>
    evaluate(filter, { arch: AUDIT_ARCH.x86_64, nr, args: [option] });
  assert.equal(run(157, 15), SECCOMP_RET.ALLOW);
  assert.equal(run(157, 7), EPERM);
  assert.equal(run(250, 7), SECCOMP_RET.ALLOW);
  assert.equal(run(250, 15), SECCOMP_RET.KILL_PROCESS);
  assert.equal(run(59, 0), SECCOMP_RET.KILL_PROCESS);
  assert.equal(run(0, 0), SECCOMP_RET.ALLOW);
});

Deno.test("assemble() refuses unknown labels and backward jumps", () => {
  assert.throws(() => assemble([{ op: "jeq", k: 1, then: "nowhere", else: "next" }]), /unknown/);
  assert.throws(
    () =>
      assemble([
        { op: "label", name: "top" },
        { op: "jeq", k: 1, then: "top", else: "next" },
        { op: "ret", value: 0 },
      ]),
    /out of range/,
  );
});

Deno.test("assemble() lays out struct sock_filter little-endian", () => {
  const bytes = assemble([
    { op: "load", offset: 4 },
    { op: "jeq", k: 0xc000003e, then: "next", else: "out" },
    { op: "ret", value: 0x7fff0000 },
    { op: "label", name: "out" },
    { op: "ret", value: 0x80000000 },
  ]);
  assert.deepEqual(
    [...bytes],
    [
      0x20,
      0,
      0,
      0,
      4,
      0,
      0,
      0,
      0x15,
      0,
      0,
      1,
      0x3e,
      0,
      0,
      0xc0,
      0x06,
      0,
      0,
      0,
      0,
      0,
      0xff,
      0x7f,
      0x06,
      0,
      0,
      0,
      0,
      0,
      0,
      0x80,
    ],
  );
});
