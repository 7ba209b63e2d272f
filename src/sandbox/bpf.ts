/**
 * Classic BPF as seccomp runs it: the few instructions a syscall filter needs, assembled with
 * labels into `struct sock_filter` bytes, and an evaluator of such a program over a
 * `struct seccomp_data` (for tests: what the kernel would decide for an arch, a call, arguments).
 * Read the kernel's Documentation/userspace-api/seccomp_filter.rst and `linux/filter.h`.
 */

/** `struct seccomp_data` offsets: the call number, the audit arch, then six 64-bit arguments. */
export const SECCOMP_DATA = {
  NR: 0,
  ARCH: 4,
  INSTRUCTION_POINTER: 8,
  /** The low 32 bits of argument `i` on a little-endian machine (x86_64 and aarch64 are). */
  argLow: (i: number) => 16 + 8 * i,
} as const;

/** Opcodes (`BPF_CLASS | BPF_SIZE | BPF_MODE` and `BPF_JMP | op | BPF_K`). */
const OP = {
  LD_W_ABS: 0x20,
  JEQ_K: 0x15,
  JGE_K: 0x35,
  RET_K: 0x06,
} as const;

/** One instruction before assembly: jump targets are labels. */
export type Instruction =
  | { op: "load"; offset: number }
  | { op: "jeq" | "jge"; k: number; then: string; else: string }
  | { op: "ret"; value: number }
  | { op: "label"; name: string };

/** Bytes of one `struct sock_filter`. */
export const INSTRUCTION_BYTES = 8;

/**
 * Assembles `program` into `struct sock_filter` bytes (u16 code, u8 jt, u8 jf, u32 k, in the
 * machine's little-endian order). A label marks the instruction after it; "next" means the
 * following instruction. Throws on an unknown label or a jump backwards or beyond 255.
 *
 * @example
 * ```ts
 * import { assemble, SECCOMP_DATA } from "./bpf.ts";
 * const bytes = assemble([
 *   { op: "load", offset: SECCOMP_DATA.NR },
 *   { op: "jeq", k: 59, then: "deny", else: "next" },
 *   { op: "ret", value: 0x7fff0000 },
 *   { op: "label", name: "deny" },
 *   { op: "ret", value: 0x80000000 },
 * ]);
 * bytes.length; // 32
 * ```
 */
export function assemble(program: readonly Instruction[]): Uint8Array {
  const labels = new Map<string, number>();
  let count = 0;
  for (const instruction of program) {
    if (instruction.op === "label") labels.set(instruction.name, count);
    else count++;
  }
  const bytes = new Uint8Array(count * INSTRUCTION_BYTES);
  const view = new DataView(bytes.buffer);
  let at = 0;
  const offsetTo = (label: string): number => {
    const target = label === "next" ? at + 1 : labels.get(label);
    if (target === undefined) throw new Error(`BPF: unknown label ${label}`);
    const offset = target - at - 1;
    if (offset < 0 || offset > 255) throw new Error(`BPF: jump to ${label} out of range`);
    return offset;
  };
  for (const instruction of program) {
    if (instruction.op === "label") continue;
    const base = at * INSTRUCTION_BYTES;
    let code: number, jt = 0, jf = 0, k: number;
    switch (instruction.op) {
      case "load":
        code = OP.LD_W_ABS;
        k = instruction.offset;
        break;
      case "jeq":
      case "jge":
        code = instruction.op === "jeq" ? OP.JEQ_K : OP.JGE_K;
        jt = offsetTo(instruction.then);
        jf = offsetTo(instruction.else);
        k = instruction.k;
        break;
      case "ret":
        code = OP.RET_K;
        k = instruction.value;
        break;
    }
    view.setUint16(base, code, true);
    view.setUint8(base + 2, jt);
    view.setUint8(base + 3, jf);
    view.setUint32(base + 4, k >>> 0, true);
    at++;
  }
  return bytes;
}

/** The fields of `struct seccomp_data` a filter may look at. */
export interface SeccompData {
  nr: number;
  arch: number;
  /** Up to six arguments; each a 64-bit value given as a bigint or a number. */
  args?: readonly (bigint | number)[];
}

/**
 * Runs an assembled filter over one call the way the kernel does and returns its action value
 * (e.g. 0x7fff0000 for allow). Only the instructions `assemble` emits are understood.
 */
export function evaluate(bytes: Uint8Array, data: SeccompData): number {
  const input = new DataView(new ArrayBuffer(64));
  input.setInt32(SECCOMP_DATA.NR, data.nr, true);
  input.setUint32(SECCOMP_DATA.ARCH, data.arch >>> 0, true);
  (data.args ?? []).forEach((arg, i) => input.setBigUint64(16 + 8 * i, BigInt(arg), true));
  const program = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let accumulator = 0;
  for (let pc = 0; pc * INSTRUCTION_BYTES < bytes.length; pc++) {
    const base = pc * INSTRUCTION_BYTES;
    const code = program.getUint16(base, true);
    const k = program.getUint32(base + 4, true);
    switch (code) {
      case OP.LD_W_ABS:
        accumulator = input.getUint32(k, true);
        break;
      case OP.JEQ_K:
      case OP.JGE_K: {
        const taken = code === OP.JEQ_K ? accumulator === k : accumulator >= k;
        pc += taken ? program.getUint8(base + 2) : program.getUint8(base + 3);
        break;
      }
      case OP.RET_K:
        return k;
      default:
        throw new Error(`BPF: opcode 0x${code.toString(16)} not understood`);
    }
  }
  throw new Error("BPF: the program ran off its end");
}
