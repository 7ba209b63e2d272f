/**
 * `--pcap=FILE`: every frame that crosses the tap, both directions, in a pcap file (src/wire/pcap.ts,
 * pcap-savefile(5)) that tcpdump and Wireshark read.
 *
 * Theory of Operation
 *
 * Four threads touch the tap: the tap reader reads every frame from the guest (and answers ARP,
 * ICMP echo, DHCP, NDP), and the TCP worker, the DNS worker and the main thread write their own
 * frames to the guest (tap_writer.ts). Each of them appends its frames to the capture file itself,
 * with no capture thread and no copy: one native writev(2) of record header + frame on an
 * O_APPEND fd (native/pcap.c), which also reads the clock.
 *
 * ```
 *  tap reader ─read─▶ frame ─┐                       ┌─ lock ─ write(tap) ─ append ─ unlock ─ TCP
 *                            └ lock ─ append ─ unlock │                                      DNS
 *                                       │             └─ ...                                  main
 *                                       ▼
 *                        FILE (O_APPEND, one writev per record)
 * ```
 *
 * Order. One lock (a futex-style mutex in a SharedArrayBuffer, every thread's `TapCapture` over
 * the same memory) is held across a writer's tap write and its append, and across the reader's
 * append. So:
 * - frames to the guest are in the file in exactly the order they were written to the tap, across
 *   all four writing threads;
 * - frames from the guest are in the order the tap reader read them (one thread reads);
 * - the file as a whole is in the order of the appends, and every timestamp is taken under the
 *   lock, so timestamps never go backwards in the file (unless the wall clock is set back). A
 *   frame from the guest is stamped when it is appended, just after it was read.
 * Without `--pcap` no `TapCapture` exists: the writers test one field per frame and nothing else.
 *
 * Errors. Opening the file (and writing its header) happens at start-up and fails the start. A
 * record that cannot be written later (disk full, EIO, a file system gone) stops the capture for
 * every thread (a flag beside the lock), logs one warning (the first thread to set the flag), and
 * the network goes on. A record cut short by a full disk is cut off again, so the file stays
 * readable to its last whole record.
 *
 * Offload. On a tap with virtio-net headers, frames are captured as they cross it without the
 * header: TCP super-frames of up to 64 KiB whole (the snap length, 262144, fits them), and TCP
 * checksums the kernel or the guest finishes are captured unfinished (`tcpdump -vv` calls them
 * incorrect, as it does on any host with checksum offload).
 *
 * Sandbox. The file is opened before the sandbox is entered and its fd is inherited
 * (src/sandbox/handoff.ts): the path is not visible inside.
 */
import { errnoText } from "../ffi/errno.ts";
import { cString, type Shim } from "../ffi/shim.ts";
import { log } from "../log.ts";
import {
  emitPcapFileHeader,
  LINKTYPE_ETHERNET,
  PCAP_FILE_HEADER_LEN,
  PCAP_SNAPLEN,
} from "../wire/pcap.ts";

/** The capture as every thread sees it (structured-cloneable, part of `Tap`). */
export interface CaptureShare {
  /** The file, open for appending. */
  fd: number;
  /** Where it is, for the warning. */
  path: string;
  /** `CAPTURE_STATE.BYTES` bytes: the lock and the stopped flag. */
  state: SharedArrayBuffer;
}

/** The shared state: Int32 slots. */
export const CAPTURE_STATE = {
  /** 0 free, 1 held, 2 held with waiters (Drepper, "Futexes Are Tricky", mutex 2). */
  LOCK: 0,
  /** 1 once a write failed: nobody appends any more. */
  STOPPED: 1,
  BYTES: 8,
} as const;

/** Compare-and-swap attempts (about one append's writev) before a thread sleeps on the lock. */
const SPINS = 1000;

/**
 * Creates (truncates) `path` and writes the file header: the share to put in `Tap`, or the
 * reason it failed (a start-up error). The fd is close-on-exec; the sandbox clears that.
 */
export function openCapture(shim: Shim, path: string): CaptureShare | { error: string } {
  const fd = shim.shim_pcap_open(cString(path));
  if (fd < 0) return { error: `pcap: cannot open ${path}: ${errnoText(shim, -fd)}` };
  const header = new Uint8Array(PCAP_FILE_HEADER_LEN);
  emitPcapFileHeader(header, 0, PCAP_SNAPLEN, LINKTYPE_ETHERNET);
  const n = shim.shim_write(fd, header, header.length);
  if (n !== header.length) {
    shim.shim_close(fd);
    const reason = n < 0 ? errnoText(shim, -n) : "short write";
    return { error: `pcap: cannot write to ${path}: ${reason}` };
  }
  return adoptCapture(fd, path);
}

/** The share of a capture file opened by the first image of the sandbox (handoff.ts). */
export function adoptCapture(fd: number, path: string): CaptureShare {
  return { fd, path, state: new SharedArrayBuffer(CAPTURE_STATE.BYTES) };
}

/**
 * One thread's handle on the capture. `lock`/`unlock` bracket a tap write and its `append`;
 * `appendLocked` is the reader's one call per frame.
 *
 * @example
 * ```ts ignore
 * const capture = new TapCapture(shim, tap.capture);
 * capture.lock();
 * const n = shim.shim_write(tap.fd, frame, frame.length);
 * if (n >= 0) capture.append(frame);
 * capture.unlock();
 * ```
 */
export class TapCapture {
  /** Records appended by this thread. */
  appended = 0;
  readonly #shim: Shim;
  readonly #share: CaptureShare;
  readonly #state: Int32Array;

  constructor(shim: Shim, share: CaptureShare) {
    this.#shim = shim;
    this.#share = share;
    this.#state = new Int32Array(share.state);
  }

  /** Whether the capture was stopped by a failed write (by any thread). */
  get stopped(): boolean {
    return Atomics.load(this.#state, CAPTURE_STATE.STOPPED) !== 0;
  }

  lock(): void {
    const s = this.#state;
    let c = Atomics.compareExchange(s, CAPTURE_STATE.LOCK, 0, 1);
    for (let spin = 0; c !== 0 && spin < SPINS; spin++) {
      c = Atomics.compareExchange(s, CAPTURE_STATE.LOCK, 0, 1);
    }
    if (c === 0) return;
    if (c !== 2) c = Atomics.exchange(s, CAPTURE_STATE.LOCK, 2);
    while (c !== 0) {
      Atomics.wait(s, CAPTURE_STATE.LOCK, 2);
      c = Atomics.exchange(s, CAPTURE_STATE.LOCK, 2);
    }
  }

  unlock(): void {
    const s = this.#state;
    if (Atomics.sub(s, CAPTURE_STATE.LOCK, 1) !== 1) {
      Atomics.store(s, CAPTURE_STATE.LOCK, 0);
      Atomics.notify(s, CAPTURE_STATE.LOCK, 1);
    }
  }

  /** Appends `frame` (an Ethernet frame without virtio-net header); the caller holds the lock. */
  append(frame: Uint8Array): void {
    if (Atomics.load(this.#state, CAPTURE_STATE.STOPPED) !== 0) return;
    const rc = this.#shim.shim_pcap_append(this.#share.fd, frame, frame.length, PCAP_SNAPLEN);
    if (rc === 0) {
      this.appended++;
      return;
    }
    if (Atomics.compareExchange(this.#state, CAPTURE_STATE.STOPPED, 0, 1) === 0) {
      log.warn(
        `pcap: cannot write to ${this.#share.path}: ${errnoText(this.#shim, -rc)}; capture stopped`,
      );
    }
  }

  /** Takes the lock, appends `frame`, releases it: for frames read from the tap. */
  appendLocked(frame: Uint8Array): void {
    if (Atomics.load(this.#state, CAPTURE_STATE.STOPPED) !== 0) return;
    this.lock();
    this.append(frame);
    this.unlock();
  }
}
