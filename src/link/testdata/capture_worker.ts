/// <reference lib="deno.worker" />
/**
 * For capture_test.ts: appends `count` records under the capture lock, each 64 bytes: the
 * thread's id, then a big-endian sequence number.
 */
import { loadShim } from "../../ffi/shim.ts";
import { type CaptureShare, TapCapture } from "../capture.ts";

interface Job {
  share: CaptureShare;
  id: number;
  count: number;
  /** An Int32 bumped with a plain read and write inside the lock, around the append. */
  tally: SharedArrayBuffer;
}

self.onmessage = async (event: MessageEvent<Job>) => {
  const { share, id, count } = event.data;
  const tally = new Int32Array(event.data.tally);
  const capture = new TapCapture(await loadShim(), share);
  const frame = new Uint8Array(64);
  const view = new DataView(frame.buffer);
  frame[0] = id;
  for (let seq = 0; seq < count; seq++) {
    view.setUint32(1, seq);
    capture.lock();
    const before = tally[0];
    capture.append(frame);
    tally[0] = before + 1;
    capture.unlock();
  }
  self.postMessage("done");
};
