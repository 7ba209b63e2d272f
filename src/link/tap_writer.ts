/**
 * The `GuestLink` of the real tap device: one write(2) per frame. A tun/tap write is atomic per
 * frame, so every thread that sends to the guest (the tap reader, the main thread, the TCP and
 * DNS workers) owns a `TapWriter` of its own on the same fd, without locking.
 */
import { errnoText } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import { log } from "../log.ts";
import type { GuestLink } from "../stack/guest_link.ts";

/** Writes frames to the guest; the first failed write is logged, all are counted. */
export class TapWriter implements GuestLink {
  /** Failed writes (e.g. ENOBUFS, or EIO once the namespace is gone). */
  writeErrors = 0;

  /** @param who names the writing thread in the log line, e.g. "TCP" */
  constructor(
    private readonly shim: Shim,
    private readonly tapFd: number,
    private readonly who: string,
  ) {}

  sendFrame(frame: Uint8Array): void {
    const n = this.shim.shim_write(this.tapFd, frame, frame.length);
    if (n < 0 && this.writeErrors++ === 0) {
      log.warn(`${this.who}: write to the tap: ${errnoText(this.shim, -n)}`);
    }
  }
}
