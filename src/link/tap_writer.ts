/**
 * The `GuestLink` of the real tap device: one write(2) per frame. A tun/tap write is atomic per
 * frame, so every thread that sends to the guest (the tap reader, the main thread, the TCP and
 * DNS workers) owns a `TapWriter` of its own on the same fd, without locking.
 *
 * On a tap with virtio-net headers (src/wire/virtio_net.ts) every frame goes behind one, and TCP
 * frames may be offloaded: the guest's kernel finishes their checksum and cuts super-frames into
 * MSS-sized segments.
 *
 * Each writer counts the frames and bytes it wrote (`link.*_to_guest`) in its thread's table and,
 * with `--pcap`, appends them to the capture under its lock (capture.ts has the order this gives).
 */
import { errnoText } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import { log } from "../log.ts";
import { C, Counters } from "../stack/counters.ts";
import { type CaptureShare, TapCapture } from "./capture.ts";
import type { GuestLink, TcpOffloadLink } from "../stack/guest_link.ts";
import { ETHERNET_HEADER_LEN } from "../wire/ethernet.ts";
import { TCP } from "../wire/tcp.ts";
import { VnetGso } from "../wire/virtio_net.ts";

/** An open tap as every thread sees it (structured-cloneable, for Worker start messages). */
export interface Tap {
  fd: number;
  /** Whether each frame read or written carries a virtio-net header (src/wire/virtio_net.ts). */
  vnet: boolean;
  /** `--pcap`: the capture every thread appends to (capture.ts). */
  capture?: CaptureShare;
}

/** Writes plain frames to a tap without virtio-net headers. */
export class TapWriter implements GuestLink {
  /** Failed writes (e.g. ENOBUFS, or EIO once the namespace is gone). */
  writeErrors = 0;

  /**
   * @param who names the writing thread in the log line, e.g. "TCP"
   * @param counters the thread's table, for `link.frames_to_guest` and `link.bytes_to_guest`
   * @param capture `--pcap`, or null
   */
  constructor(
    protected readonly shim: Shim,
    protected readonly tapFd: number,
    protected readonly who: string,
    protected readonly counters: Counters = new Counters(),
    protected readonly capture: TapCapture | null = null,
  ) {}

  sendFrame(frame: Uint8Array): void {
    const capture = this.capture;
    if (capture === null) {
      this.written(this.shim.shim_write(this.tapFd, frame, frame.length), frame.length);
      return;
    }
    capture.lock();
    const n = this.shim.shim_write(this.tapFd, frame, frame.length);
    if (n >= 0) capture.append(frame);
    capture.unlock();
    this.written(n, frame.length);
  }

  /**
   * Counts a write of `length` frame bytes whose result was `n`, and logs the first that failed.
   */
  protected written(n: number, length: number): void {
    if (n >= 0) {
      this.counters.bump(C["link.frames_to_guest"]);
      this.counters.bump(C["link.bytes_to_guest"], length);
    } else if (this.writeErrors++ === 0) {
      log.warn(`${this.who}: write to the tap: ${errnoText(this.shim, -n)}`);
    }
  }
}

/** Writes frames behind virtio-net headers, offloading TCP checksums and segmentation. */
export class VnetTapWriter extends TapWriter implements TcpOffloadLink {
  override sendFrame(frame: Uint8Array): void {
    const capture = this.capture;
    if (capture === null) {
      const n = this.shim.shim_write_vnet(this.tapFd, frame, frame.length, 0, 0, 0, 0);
      this.written(n, frame.length);
      return;
    }
    capture.lock();
    const n = this.shim.shim_write_vnet(this.tapFd, frame, frame.length, 0, 0, 0, 0);
    if (n >= 0) capture.append(frame);
    capture.unlock();
    this.written(n, frame.length);
  }

  sendTcpFrame(frame: Uint8Array, tcpOffset: number, segmentSize: number): void {
    // The IP version nibble behind the Ethernet header says which kind of segmentation.
    const gso = segmentSize === 0
      ? VnetGso.NONE
      : frame[ETHERNET_HEADER_LEN] >>> 4 === 6
      ? VnetGso.TCPV6
      : VnetGso.TCPV4;
    const capture = this.capture;
    capture?.lock();
    const n = this.shim.shim_write_vnet(
      this.tapFd,
      frame,
      frame.length,
      tcpOffset,
      TCP.CHECKSUM,
      gso,
      segmentSize,
    );
    if (capture !== null) {
      if (n >= 0) capture.append(frame);
      capture.unlock();
    }
    this.written(n, frame.length);
  }
}

/**
 * The writer for `tap`; `who` names the writing thread in log lines, `counters` is its table.
 * With `tap.capture`, every frame written is captured too.
 */
export function tapWriter(shim: Shim, tap: Tap, who: string, counters?: Counters): TapWriter {
  const capture = tap.capture ? new TapCapture(shim, tap.capture) : null;
  return tap.vnet
    ? new VnetTapWriter(shim, tap.fd, who, counters, capture)
    : new TapWriter(shim, tap.fd, who, counters, capture);
}
