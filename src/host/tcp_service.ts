/**
 * The main-thread side of the TCP connection-table Worker (src/workers/tcp_table.ts): the `tcp`
 * forwarder of the dispatcher copies each segment frame into a FrameRing (FFI memcpy) and, once per drained
 * batch (a microtask queued by the batch's first frame runs after the dispatcher's synchronous
 * drain), signals the worker's eventfd if the worker sleeps; a busy worker finds the frames on
 * its next turn without a system call. The worker writes segments to the tap itself. Stopping is
 * cooperative: a stop eventfd, then `terminate()` as a fallback (it cannot interrupt a worker
 * blocked in epoll_wait).
 */

import type { Config } from "../config.ts";
import { errnoText } from "../ffi/errno.ts";
import type { Shim } from "../ffi/shim.ts";
import { LEVELS, log, logEnabled } from "../log.ts";
import { FrameRing } from "../ring/frame_ring.ts";
import { C, Counters } from "../stack/counters.ts";
import { TCP_CONTROL, type TcpTableEvent, type TcpTableStart } from "../workers/tcp_table.ts";

/**
 * Ring bytes for segments: 256 frames of 64 KiB, more than the windows of a few fast connections
 * hold in flight (a full ring drops the frame; the guest retransmits it).
 */
const SEGMENT_RING_BYTES = 16 << 20;
/** Largest segment frame: Ethernet header plus a 64 KiB datagram (reassembled, or MTU 65520). */
const MAX_SEGMENT_FRAME = 14 + 65535;
const STOP_TIMEOUT_MS = 2000;

/** What the service needs from the network being started. */
export interface TcpServiceOptions {
  shim: Shim;
  config: Pick<
    Config,
    "mtu" | "network" | "prefix" | "outboundAddr" | "disableHostLoopback" | "disableDns"
  >;
  /** The tap fd, shared with the worker for writing segments. */
  tapFd: number;
  /** The main thread's counters (for `tcp.ring_full`). */
  counters: Counters;
  /** resolv.conf to read (tests); default /etc/resolv.conf. */
  resolvConfPath?: string;
}

/**
 * The running TCP worker and its segment ring.
 *
 * @example
 * ```ts ignore
 * const tcp = TcpService.start({ shim, config, tapFd, counters });
 * forwarders.tcp = tcp.tcp;
 * await tcp.stop();
 * ```
 */
export class TcpService {
  /** The worker's counters (`tcp.*`, and `tx.*` of its segments), readable from this thread. */
  readonly counters: Counters;
  /** The `tcp` forwarder for the dispatcher. */
  readonly tcp: (frame: Uint8Array, now: number) => void;
  /** Resolves when the worker has started (or failed to). */
  readonly started: Promise<void>;
  readonly #shim: Shim;
  readonly #ring: FrameRing;
  readonly #signalFd: number;
  readonly #stopFd: number;
  readonly #worker: Worker;
  readonly #stopped: Promise<void>;
  #signalQueued = false;
  #stopping: Promise<void> | undefined;

  private constructor(options: TcpServiceOptions, signalFd: number, stopFd: number) {
    const { shim, config } = options;
    this.#shim = shim;
    this.#signalFd = signalFd;
    this.#stopFd = stopFd;
    this.#ring = FrameRing.create(SEGMENT_RING_BYTES, { maxFrame: MAX_SEGMENT_FRAME });
    const countersBuffer = new SharedArrayBuffer(Counters.BYTE_LENGTH);
    this.counters = new Counters(countersBuffer);
    const controlBuffer = new SharedArrayBuffer(TCP_CONTROL.LENGTH * 4);
    const control = new Int32Array(controlBuffer);
    const mainCounters = options.counters;
    const ring = this.#ring;
    const signal = () => {
      this.#signalQueued = false;
      // The ring's HEAD was stored (sequentially consistent) before this load: see the worker.
      if (Atomics.load(control, TCP_CONTROL.SLEEPING) !== 0) shim.shim_eventfd_signal(signalFd);
    };
    this.tcp = (frame) => {
      const length = frame.length;
      // reserve/commit with an FFI memcpy: TypedArray.set into a SharedArrayBuffer is slower.
      const slot = length <= MAX_SEGMENT_FRAME ? ring.reserve(length) : null;
      if (slot === null) {
        ring.countDrop();
        mainCounters.bump(C["tcp.ring_full"]);
        return;
      }
      shim.shim_copy(slot, 0, frame, 0, length);
      ring.commit(length);
      if (!this.#signalQueued) {
        this.#signalQueued = true;
        queueMicrotask(signal);
      }
    };

    this.#worker = new Worker(new URL("../workers/tcp_table.ts", import.meta.url).href, {
      type: "module",
    });
    let started!: () => void;
    this.started = new Promise((resolve) => started = resolve);
    this.#stopped = new Promise((resolve) => {
      this.#worker.onmessage = (event: MessageEvent<TcpTableEvent>) => {
        const message = event.data;
        if (message.kind === "started") started();
        if (message.kind === "error") log.error(`TCP worker: ${message.message}`);
        if (message.kind === "stopped") {
          started();
          resolve();
        }
      };
      this.#worker.onerror = (event) => {
        event.preventDefault();
        log.error(`TCP worker: ${event.message}`);
        started();
        resolve();
      };
    });
    const start: TcpTableStart = {
      ring: ring.buffer,
      control: controlBuffer,
      signalFd,
      stopFd,
      tapFd: options.tapFd,
      mtu: config.mtu,
      network: config.network,
      prefix: config.prefix,
      disableHostLoopback: config.disableHostLoopback,
      disableDns: config.disableDns,
      outboundAddr: config.outboundAddr,
      counters: countersBuffer,
      logLevel: LEVELS.filter(logEnabled).at(-1) ?? "error",
      resolvConfPath: options.resolvConfPath,
    };
    this.#worker.postMessage(start);
  }

  /**
   * Starts the worker; throws if its eventfds cannot be created. Raises the fd limit first: each
   * connection holds a host socket.
   */
  static start(options: TcpServiceOptions): TcpService {
    const shim = options.shim;
    const limit = shim.shim_raise_nofile();
    if (limit >= 0 && limit < 4096) {
      log.warn(`TCP: the open file limit is ${limit}: at most about that many connections`);
    }
    const signalFd = shim.shim_eventfd();
    if (signalFd < 0) throw new Error(`Cannot create an eventfd: ${errnoText(shim, -signalFd)}`);
    const stopFd = shim.shim_eventfd();
    if (stopFd < 0) {
      shim.shim_close(signalFd);
      throw new Error(`Cannot create an eventfd: ${errnoText(shim, -stopFd)}`);
    }
    return new TcpService(options, signalFd, stopFd);
  }

  /** Stops the worker (its connections are reset) and closes the eventfds (not the tap). */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#shim.shim_eventfd_signal(this.#stopFd);
    this.#ring.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#stopped,
      new Promise((resolve) => timer = setTimeout(resolve, STOP_TIMEOUT_MS)),
    ]);
    clearTimeout(timer);
    this.#worker.terminate();
    this.#shim.shim_close(this.#signalFd);
    this.#shim.shim_close(this.#stopFd);
  }
}
