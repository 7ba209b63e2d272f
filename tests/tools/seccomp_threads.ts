/**
 * Installs the `--enable-seccomp` filter (src/sandbox/seccomp.ts) in a Deno process, then does
 * what the test asks, to show the filter holds on threads the runtime starts afterwards:
 *
 *   load            32 `nonblocking` FFI calls at once (the blocking pool grows) and a new Worker;
 *                   prints `threads-before N`, then `loaded` while they are alive
 *   prctl           prints what prctl(PR_SET_NAME) and prctl(PR_SET_DUMPABLE) return (errno)
 *   exec            execve(/bin/true): the process must die by SIGSYS
 *   worker-unshare  a new Worker calls unshare(0): the whole process must die by SIGSYS
 *
 * Run: deno run --allow-ffi --allow-read=<repo> tests/tools/seccomp_threads.ts MODE
 */
import { loadShim } from "../../src/ffi/shim.ts";
import { PollSet } from "../../src/ffi/poll.ts";
import { installSeccomp } from "../../src/sandbox/seccomp.ts";

const LIBC = {
  prctl: { parameters: ["i32", "usize", "usize", "usize", "usize"], result: "i32" },
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

const shim = await loadShim();
const libc = Deno.dlopen("libc.so.6", LIBC);
const errno = () => new Deno.UnsafePointerView(libc.symbols.__errno_location()!).getInt32();

function threads(): number {
  const buf = new Uint8Array(8192);
  const n = shim.shim_read_file(new TextEncoder().encode("/proc/self/status\0"), buf, buf.length);
  const text = new TextDecoder().decode(buf.subarray(0, Math.max(0, n)));
  return Number(text.match(/^Threads:\s+(\d+)/m)?.[1] ?? -1);
}

const failure = installSeccomp(shim);
if (failure !== null) {
  console.error(failure);
  Deno.exit(2);
}
console.log("installed");
const mode = Deno.args[0];

if (mode === "load") {
  console.log(`threads-before ${threads()}`);
  const fd = shim.shim_eventfd();
  const polls = Array.from({ length: 32 }, () => {
    const set = new PollSet([{ fd, events: 1 }]);
    return shim.shim_poll_async(set.bytes, 1, 3000);
  });
  const worker = new Worker(
    URL.createObjectURL(
      new Blob(["self.postMessage(Array.from({ length: 1000 }, (_, i) => i * i).length);"], {
        type: "text/javascript",
      }),
    ),
    { type: "module" },
  );
  await new Promise((resolve) => worker.onmessage = resolve);
  console.log(`loaded ${threads()}`);
  shim.shim_eventfd_signal(fd);
  await Promise.all(polls);
  worker.terminate();
  // Stay alive while the test reads every thread's status.
  await new Promise((resolve) => setTimeout(resolve, 5000));
} else if (mode === "prctl") {
  const name = new TextEncoder().encode("renamed\0");
  const named = libc.symbols.prctl(
    15,
    BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(name))),
    0n,
    0n,
    0n,
  );
  console.log(`PR_SET_NAME ${named}`);
  const dumpable = libc.symbols.prctl(4, 0n, 0n, 0n, 0n);
  console.log(`PR_SET_DUMPABLE ${dumpable} errno ${errno()}`);
} else if (mode === "exec") {
  const path = new TextEncoder().encode("/bin/true\0");
  const argv = new BigUint64Array([
    BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(path))),
    0n,
  ]);
  libc.symbols.execve(path, new Uint8Array(argv.buffer), new Uint8Array(8));
  console.log(`execve returned, errno ${errno()}`);
} else if (mode === "worker-unshare") {
  const code = `
    const libc = Deno.dlopen("libc.so.6", { unshare: { parameters: ["i32"], result: "i32" } });
    self.postMessage(libc.symbols.unshare(0));`;
  const worker = new Worker(
    URL.createObjectURL(new Blob([code], { type: "text/javascript" })),
    { type: "module" },
  );
  const result = await new Promise((resolve) => worker.onmessage = (e) => resolve(e.data));
  console.log(`unshare returned ${result}`);
} else {
  console.error(`unknown mode ${mode}`);
  Deno.exit(2);
}
