/**
 * `--enable-seccomp`: a deny-list filter on every thread of the process (reference §4.4), built
 * for what this runtime really calls. slirp4netns blocks its list with KILL; a single-threaded C
 * program never calls any of it. Deno does call one of them: every thread it starts (V8 platform
 * workers, the blocking pool, one per Worker) names itself with prctl(PR_SET_NAME), and V8 asks
 * prctl(PR_SET_VMA) to name memory, so prctl is allowed for thread names and answers EPERM for
 * every other option. Calls a runtime may probe and fall back from answer EPERM; calls whose only
 * use here would be an escape (exec, ptrace, mounts, namespaces, modules, reboot) kill the process.
 *
 * The filter checks the audit arch first: the other ABIs of the machine (i386 and x32 on x86_64,
 * arm32 on aarch64) kill the process, so a call cannot slip past under another number.
 * Read Documentation/userspace-api/seccomp_filter.rst before changing the program shape.
 */
import { errnoText } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import { assemble, type Instruction, SECCOMP_DATA } from "./bpf.ts";

/** Return values of a seccomp filter (`SECCOMP_RET_*`). */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  ERRNO: 0x00050000,
  ALLOW: 0x7fff0000,
} as const;

const EPERM = 1;
const PR_SET_NAME = 15;
const PR_GET_NAME = 16;

/** The architectures this project ships for. */
export type SeccompArch = "x86_64" | "aarch64";

/** `AUDIT_ARCH_*` of each architecture (linux/audit.h). */
export const AUDIT_ARCH: Record<SeccompArch, number> = {
  x86_64: 0xc000003e,
  aarch64: 0xc00000b7,
};

/** x32 calls on x86_64 carry this bit in their number (`__X32_SYSCALL_BIT`). */
const X32_SYSCALL_BIT = 0x40000000;

/** What a blocked call does: the process is killed, or the call fails with EPERM. */
export type BlockAction = "kill" | "eperm";

/** One blocked call. */
export interface BlockedCall {
  name: string;
  action: BlockAction;
  /** prctl only: the options (first argument) that are still allowed. */
  allowedOptions?: readonly number[];
}

/**
 * The blocked calls: slirp4netns's list in its order (reference §4.4, printed the same way), then
 * ours. Every action is chosen from what Deno 2.9 was seen to call (strace of a loaded network).
 */
export const BLOCKED_CALLS: readonly BlockedCall[] = [
  { name: "execve", action: "kill" },
  // Gone from recent kernels; ENOSYS there anyway.
  { name: "lookup_dcookie", action: "eperm" },
  { name: "pidfd_getfd", action: "kill" },
  { name: "ptrace", action: "kill" },
  { name: "process_vm_readv", action: "kill" },
  { name: "process_vm_writev", action: "kill" },
  { name: "delete_module", action: "kill" },
  { name: "finit_module", action: "kill" },
  { name: "init_module", action: "kill" },
  { name: "chroot", action: "kill" },
  { name: "fsconfig", action: "kill" },
  { name: "fsmount", action: "kill" },
  { name: "fsopen", action: "kill" },
  { name: "fspick", action: "kill" },
  { name: "mount", action: "kill" },
  { name: "move_mount", action: "kill" },
  { name: "open_tree", action: "kill" },
  { name: "pivot_root", action: "kill" },
  // Neither x86_64 nor aarch64 has a plain umount: listed as upstream lists it, nothing to block.
  { name: "umount", action: "kill" },
  { name: "umount2", action: "kill" },
  { name: "open_by_handle_at", action: "kill" },
  { name: "execveat", action: "kill" },
  // A runtime may use pidfds for child processes; refused, not fatal.
  { name: "pidfd_open", action: "eperm" },
  { name: "pidfd_send_signal", action: "eperm" },
  // Thread names are set by every new thread; anything else (PR_SET_VMA names, ...) is refused.
  { name: "prctl", action: "eperm", allowedOptions: [PR_SET_NAME, PR_GET_NAME] },
  { name: "setns", action: "kill" },
  { name: "unshare", action: "kill" },
  { name: "kexec_file_load", action: "kill" },
  { name: "kexec_load", action: "kill" },
  { name: "reboot", action: "kill" },
  // Libraries probe it for mount ids; refused, not fatal.
  { name: "name_to_handle_at", action: "eperm" },
  // Ours: more of the mount API, and kernel interfaces the runtime never uses but may probe.
  { name: "mount_setattr", action: "kill" },
  { name: "bpf", action: "eperm" },
  { name: "perf_event_open", action: "eperm" },
  { name: "userfaultfd", action: "eperm" },
  { name: "add_key", action: "eperm" },
  { name: "request_key", action: "eperm" },
  { name: "keyctl", action: "eperm" },
  { name: "io_uring_setup", action: "eperm" },
];

/**
 * Call numbers of the blocked calls on each architecture (arch/x86/entry/syscalls/syscall_64.tbl
 * and include/uapi/asm-generic/unistd.h, which aarch64 uses). A name missing here does not exist
 * on that architecture.
 */
export const SYSCALL_NUMBERS: Record<SeccompArch, Readonly<Record<string, number>>> = {
  x86_64: {
    execve: 59,
    lookup_dcookie: 212,
    pidfd_getfd: 438,
    ptrace: 101,
    process_vm_readv: 310,
    process_vm_writev: 311,
    delete_module: 176,
    finit_module: 313,
    init_module: 175,
    chroot: 161,
    fsconfig: 431,
    fsmount: 432,
    fsopen: 430,
    fspick: 433,
    mount: 165,
    move_mount: 429,
    open_tree: 428,
    pivot_root: 155,
    umount2: 166,
    open_by_handle_at: 304,
    execveat: 322,
    pidfd_open: 434,
    pidfd_send_signal: 424,
    prctl: 157,
    setns: 308,
    unshare: 272,
    kexec_file_load: 320,
    kexec_load: 246,
    reboot: 169,
    name_to_handle_at: 303,
    mount_setattr: 442,
    bpf: 321,
    perf_event_open: 298,
    userfaultfd: 323,
    add_key: 248,
    request_key: 249,
    keyctl: 250,
    io_uring_setup: 425,
  },
  aarch64: {
    execve: 221,
    lookup_dcookie: 18,
    pidfd_getfd: 438,
    ptrace: 117,
    process_vm_readv: 270,
    process_vm_writev: 271,
    delete_module: 106,
    finit_module: 273,
    init_module: 105,
    chroot: 51,
    fsconfig: 431,
    fsmount: 432,
    fsopen: 430,
    fspick: 433,
    mount: 40,
    move_mount: 429,
    open_tree: 428,
    pivot_root: 41,
    umount2: 39,
    open_by_handle_at: 265,
    execveat: 281,
    pidfd_open: 434,
    pidfd_send_signal: 424,
    prctl: 167,
    setns: 268,
    unshare: 97,
    kexec_file_load: 294,
    kexec_load: 104,
    reboot: 142,
    name_to_handle_at: 264,
    mount_setattr: 442,
    bpf: 280,
    perf_event_open: 241,
    userfaultfd: 282,
    add_key: 217,
    request_key: 218,
    keyctl: 219,
    io_uring_setup: 425,
  },
};

/** The stdout line slirp4netns prints once the filter is in place. */
export function blockedCallsLine(calls: readonly BlockedCall[] = BLOCKED_CALLS): string {
  return `seccomp: The following syscalls are blocked: ${calls.map((c) => c.name).join(" ")}`;
}

/**
 * The filter program for `arch`: wrong audit arch (and x32) → kill; each blocked call → its
 * action; prctl with an allowed option → allow; everything else → allow. `kill` is the action
 * value used for "kill" (KILL_PROCESS, or KILL_THREAD on kernels before 4.14).
 *
 * @example
 * ```ts
 * import { evaluate } from "./bpf.ts";
 * import { AUDIT_ARCH, seccompFilter, SECCOMP_RET } from "./seccomp.ts";
 * const filter = seccompFilter("x86_64");
 * evaluate(filter, { arch: AUDIT_ARCH.x86_64, nr: 59 }) === SECCOMP_RET.KILL_PROCESS; // execve
 * evaluate(filter, { arch: AUDIT_ARCH.x86_64, nr: 0 }) === SECCOMP_RET.ALLOW; // read
 * ```
 */
export function seccompFilter(
  arch: SeccompArch,
  options: { kill?: number; calls?: readonly BlockedCall[] } = {},
): Uint8Array {
  const kill = options.kill ?? SECCOMP_RET.KILL_PROCESS;
  const numbers = SYSCALL_NUMBERS[arch];
  const program: Instruction[] = [
    { op: "load", offset: SECCOMP_DATA.ARCH },
    { op: "jeq", k: AUDIT_ARCH[arch], then: "native", else: "kill" },
    { op: "label", name: "native" },
    { op: "load", offset: SECCOMP_DATA.NR },
  ];
  if (arch === "x86_64") {
    program.push({ op: "jge", k: X32_SYSCALL_BIT, then: "kill", else: "next" });
  }
  const withOptions: { nr: number; call: BlockedCall }[] = [];
  for (const call of options.calls ?? BLOCKED_CALLS) {
    const nr = numbers[call.name];
    if (nr === undefined) continue;
    if (call.allowedOptions !== undefined) {
      withOptions.push({ nr, call });
      continue;
    }
    program.push({ op: "jeq", k: nr, then: call.action, else: "next" });
  }
  // Calls whose first argument is checked come last: loading it replaces the call number.
  withOptions.forEach(({ nr, call }, i) => {
    const after = i === withOptions.length - 1 ? "allow" : `options${i + 1}`;
    program.push({ op: "jeq", k: nr, then: `check${i}`, else: after });
    program.push({ op: "label", name: `check${i}` });
    program.push({ op: "load", offset: SECCOMP_DATA.argLow(0) });
    for (const option of call.allowedOptions!) {
      program.push({ op: "jeq", k: option, then: "allow", else: "next" });
    }
    program.push({ op: "ret", value: actionValue(call.action, kill) });
    if (after !== "allow") {
      program.push({ op: "label", name: after });
      program.push({ op: "load", offset: SECCOMP_DATA.NR });
    }
  });
  program.push(
    { op: "label", name: "allow" },
    { op: "ret", value: SECCOMP_RET.ALLOW },
    { op: "label", name: "kill" },
    { op: "ret", value: kill },
    { op: "label", name: "eperm" },
    { op: "ret", value: SECCOMP_RET.ERRNO | EPERM },
  );
  return assemble(program);
}

function actionValue(action: BlockAction, kill: number): number {
  return action === "kill" ? kill : SECCOMP_RET.ERRNO | EPERM;
}

/** The architecture of this process, if the filter knows it. */
export function currentArch(): SeccompArch | null {
  const arch = Deno.build.arch as string;
  return arch === "x86_64" || arch === "aarch64" ? arch : null;
}

/**
 * Installs the filter on every thread of this process (threads started later inherit it).
 * Returns null, or the reason it could not (the caller prints it and exits 1).
 */
export function installSeccomp(shim: Shim): string | null {
  const arch = currentArch();
  if (arch === null) return `seccomp: not supported on ${Deno.build.arch}`;
  const killProcess = shim.shim_seccomp_action_available(SECCOMP_RET.KILL_PROCESS) === 0;
  const filter = seccompFilter(arch, {
    kill: killProcess ? SECCOMP_RET.KILL_PROCESS : SECCOMP_RET.KILL_THREAD,
  });
  const rc = shim.shim_seccomp_install(filter, filter.length / 8);
  if (rc === 0) return null;
  if (rc > 0) return `seccomp: thread ${rc} could not be given the filter`;
  return `seccomp: seccomp_load(): ${errnoText(shim, -rc)}`;
}
