/**
 * The capture against real files: the header at open, the records a tap writer and the reader
 * append (read back with the pcap parser), the lock across Workers, and a write error that stops
 * the capture with one warning while the tap writes go on.
 */
import assert from "node:assert/strict";
import { unixDatagramPair } from "../ffi/_test_utils.ts";
import { cString, loadShim, type Shim } from "../ffi/shim.ts";
import { setLogLevel } from "../log.ts";
import { Counters } from "../stack/counters.ts";
import { parsePcap, PCAP_SNAPLEN } from "../wire/pcap.ts";
import { adoptCapture, CAPTURE_STATE, openCapture, TapCapture } from "./capture.ts";
import { tapWriter, VnetTapWriter } from "./tap_writer.ts";

const frame = (n: number, length = 60) => Uint8Array.from({ length }, (_, i) => (i + n) & 0xff);

/**
 * A fresh path under /tmp, and the shim's reads of it: unit tests may read only the repository
 * through Deno, and the capture writes through the shim anyway.
 */
function tempFile(): string {
  return `/tmp/capture-test-${crypto.randomUUID()}.pcap`;
}

function readFile(shim: Shim, path: string): Uint8Array {
  const buffer = new Uint8Array(1 << 20);
  const n = shim.shim_read_file(cString(path), buffer, buffer.length);
  assert.ok(n >= 0, `read ${path}: ${n}`);
  shim.shim_unlink(cString(path));
  return buffer.subarray(0, n);
}

Deno.test("openCapture() creates the file with an Ethernet header; a bad path is an error", async () => {
  const shim = await loadShim();
  const path = tempFile();
  const capture = openCapture(shim, path);
  assert.ok(!("error" in capture));
  shim.shim_close(capture.fd);
  const parsed = parsePcap(readFile(shim, path));
  assert.ok(parsed.ok);
  assert.equal(parsed.header.linktype, 1);
  assert.equal(parsed.header.snaplen, PCAP_SNAPLEN);
  assert.equal(parsed.records.length, 0);
  assert.deepEqual(openCapture(shim, "/nonexistent-dir/x.pcap"), {
    error: "pcap: cannot open /nonexistent-dir/x.pcap: No such file or directory",
  });
  assert.deepEqual(openCapture(shim, "/dev/full"), {
    error: "pcap: cannot write to /dev/full: No space left on device",
  });
});

Deno.test("a capturing tap writer appends what it wrote, in order, with the link counters", async () => {
  const shim = await loadShim();
  const path = tempFile();
  const share = openCapture(shim, path);
  assert.ok(!("error" in share));
  using pair = unixDatagramPair(shim);
  const counters = new Counters();
  for (const vnet of [false, true]) {
    const writer = tapWriter(shim, { fd: pair.writer, vnet, capture: share }, "test", counters);
    writer.sendFrame(frame(1));
    if (writer instanceof VnetTapWriter) writer.sendTcpFrame(frame(2, 3000), 34, 1460);
  }
  // The reader's side: frames from the guest.
  const reader = new TapCapture(shim, share);
  reader.appendLocked(frame(3, 100));
  shim.shim_close(share.fd);
  const parsed = parsePcap(readFile(shim, path));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.records.map((r) => r.data), [
    frame(1),
    frame(1),
    frame(2, 3000),
    frame(3, 100),
  ]);
  for (let i = 1; i < parsed.records.length; i++) {
    const a = parsed.records[i - 1];
    const b = parsed.records[i];
    assert.ok(b.seconds * 1e6 + b.microseconds >= a.seconds * 1e6 + a.microseconds);
  }
  const now = Date.now() / 1000;
  assert.ok(Math.abs(parsed.records[0].seconds - now) < 60, "wall-clock timestamps");
  assert.equal(counters.get("link.frames_to_guest"), 3);
  assert.equal(counters.get("link.bytes_to_guest"), 60 + 60 + 3000);
});

Deno.test("a capture write error: one warning, the capture stops for every writer, the tap goes on", async () => {
  const shim = await loadShim();
  using pair = unixDatagramPair(shim);
  // A share whose fd is not open: every append fails with EBADF.
  const share = adoptCapture(987654, "/gone.pcap");
  const warnings: string[] = [];
  const write = Deno.stderr.writeSync;
  Deno.stderr.writeSync = (bytes: Uint8Array) => {
    warnings.push(new TextDecoder().decode(bytes));
    return bytes.length;
  };
  try {
    setLogLevel("warn");
    const a = tapWriter(shim, { fd: pair.writer, vnet: false, capture: share }, "a");
    const b = tapWriter(shim, { fd: pair.writer, vnet: false, capture: share }, "b");
    a.sendFrame(frame(1));
    b.sendFrame(frame(2));
    a.sendFrame(frame(3));
  } finally {
    Deno.stderr.writeSync = write;
    setLogLevel("info");
  }
  assert.deepEqual(pair.read(), frame(1));
  assert.deepEqual(pair.read(), frame(2));
  assert.deepEqual(pair.read(), frame(3));
  const pcapLines = warnings.filter((line) => line.includes("pcap:"));
  assert.equal(pcapLines.length, 1, warnings.join("\n"));
  assert.match(pcapLines[0], /cannot write to \/gone\.pcap: Bad file descriptor; capture stopped/);
  assert.equal(new TapCapture(shim, share).stopped, true);
  assert.equal(Atomics.load(new Int32Array(share.state), CAPTURE_STATE.LOCK), 0, "lock released");
});

Deno.test("the capture lock excludes the other threads, keeps whole records from four, and is free after", async () => {
  const shim = await loadShim();
  const path = tempFile();
  const share = openCapture(shim, path);
  assert.ok(!("error" in share));
  const perThread = 2000;
  // Bumped without atomics inside the lock, around the append: exact only under mutual exclusion.
  const tally = new SharedArrayBuffer(4);
  const workers = [1, 2, 3, 4].map((id) => {
    const worker = new Worker(new URL("./testdata/capture_worker.ts", import.meta.url), {
      type: "module",
    });
    const done = new Promise<void>((resolve, reject) => {
      worker.onmessage = () => resolve();
      worker.onerror = (e) => reject(e);
    });
    worker.postMessage({ share, id, count: perThread, tally });
    return { worker, done };
  });
  await Promise.all(workers.map((w) => w.done));
  workers.forEach((w) => w.worker.terminate());
  shim.shim_close(share.fd);
  const parsed = parsePcap(readFile(shim, path));
  assert.ok(parsed.ok);
  assert.equal(parsed.records.length, 4 * perThread);
  assert.equal(new Int32Array(tally)[0], 4 * perThread, "no two threads inside the lock at once");
  // Each thread's records are in its own order (their sequence numbers increase).
  const last = new Map<number, number>();
  for (const record of parsed.records) {
    const id = record.data[0];
    const seq = new DataView(record.data.buffer, record.data.byteOffset).getUint32(1);
    assert.equal(seq, (last.get(id) ?? -1) + 1, `thread ${id}`);
    last.set(id, seq);
  }
  assert.equal(Atomics.load(new Int32Array(share.state), CAPTURE_STATE.LOCK), 0);
});
