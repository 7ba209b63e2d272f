/**
 * The tap-reader Worker: owns the read side of the tap fd and moves every frame the guest sends
 * into a SharedArrayBuffer ring, reading straight into ring memory. It sleeps in poll() on the
 * tap and a stop eventfd; when the ring is full it waits for the consumer (back-pressure: the
 * kernel's tap queue then holds further frames) instead of dropping.
 *
 * Messages: in, one {@link TapReaderStart}; out, {@link TapReaderEvent}s.
 */
/// <reference lib="deno.worker" />
import { EAGAIN, EINTR, errnoText } from "../ffi/errno.ts";
import { POLLERR, POLLIN, POLLNVAL, PollSet } from "../ffi/poll.ts";
import { loadShim } from "../ffi/shim.ts";
import type { WorkerEvent } from "../host/worker_thread.ts";
import { FrameRing } from "../ring/frame_ring.ts";

/** The start message. */
export interface TapReaderStart {
  ring: SharedArrayBuffer;
  tapFd: number;
  /** An eventfd; readable means stop. */
  stopFd: number;
  /** Largest frame read from the tap. */
  maxFrame: number;
}

/** What the reader reports. */
export type TapReaderEvent = WorkerEvent;

const FULL_RING_WAIT_MS = 50;

async function run(start: TapReaderStart): Promise<void> {
  const shim = await loadShim();
  const ring = FrameRing.attach(start.ring);
  const polled = new PollSet([
    { fd: start.tapFd, events: POLLIN },
    { fd: start.stopFd, events: POLLIN },
  ]);
  self.postMessage({ kind: "started" } satisfies TapReaderEvent);

  while (!ring.closed) {
    const ready = shim.shim_poll(polled.bytes, polled.count, -1);
    if (ready === -EINTR) continue;
    if (ready < 0) {
      self.postMessage({ kind: "error", message: `poll: ${errnoText(shim, -ready)}` });
      break;
    }
    if (polled.revents(1) !== 0) break;
    if (polled.revents(0) & (POLLERR | POLLNVAL)) {
      self.postMessage({ kind: "error", message: "the tap device reported an error" });
      break;
    }
    // Drain the tap until it is empty, each frame read straight into ring memory.
    for (;;) {
      const slot = ring.reserve(start.maxFrame);
      if (slot === null) {
        if (ring.closed) break;
        ring.waitForSpace(FULL_RING_WAIT_MS);
        continue;
      }
      const n = shim.shim_read(start.tapFd, slot, start.maxFrame);
      if (n > 0) {
        ring.commit(n);
      } else if (n === -EAGAIN || n === 0) {
        break;
      } else if (n !== -EINTR) {
        // slirp4netns logs a failed tap read and carries on.
        self.postMessage({ kind: "error", message: `read: ${errnoText(shim, -n)}` });
        break;
      }
    }
  }
  self.postMessage({ kind: "stopped" } satisfies TapReaderEvent);
  self.close();
}

self.onmessage = (event: MessageEvent<TapReaderStart>) => {
  run(event.data).catch((error) => {
    self.postMessage({ kind: "error", message: String(error) } satisfies TapReaderEvent);
    self.postMessage({ kind: "stopped" } satisfies TapReaderEvent);
  });
};
