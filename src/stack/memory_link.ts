/** An in-memory `GuestLink` for tests: it keeps a copy of every frame sent to the guest. */

import type { GuestLink } from "./guest_link.ts";

/**
 * Collects the frames sent to the guest.
 *
 * @example
 * ```ts
 * import { MemoryLink } from "./memory_link.ts";
 * const link = new MemoryLink();
 * link.sendFrame(new Uint8Array(60));
 * if (link.take().length !== 1) throw new Error("frame lost");
 * ```
 */
export class MemoryLink implements GuestLink {
  /** Copies of the frames sent so far, oldest first. */
  readonly frames: Uint8Array[] = [];

  sendFrame(frame: Uint8Array): void {
    this.frames.push(frame.slice());
  }

  /** Returns and forgets the frames sent so far. */
  take(): Uint8Array[] {
    return this.frames.splice(0, this.frames.length);
  }
}
