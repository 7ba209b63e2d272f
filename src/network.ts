/**
 * One running network: the tap-reader Worker feeding a frame ring, the stack consuming it on this
 * thread, and replies written to the tap synchronously from here.
 *
 *   tap fd ──read──▶ [tap-reader Worker] ──FrameRing──▶ Dispatcher (this thread) ──write──▶ tap fd
 */
import { setImmediate } from "node:timers";
import { type Addresses, type Config, deriveAddresses } from "./config.ts";
import { errnoText } from "./ffi/errno.ts";
import { loadShim, type Shim } from "./ffi/shim.ts";
import { log } from "./log.ts";
import { FrameRing } from "./ring/frame_ring.ts";
import { Counters } from "./stack/counters.ts";
import { Dispatcher } from "./stack/dispatcher.ts";
import type { Ipv4Forwarders } from "./stack/forwarders.ts";
import { type DatagramServices, startDatagramServices } from "./host/datagram_services.ts";
import type { GuestLink } from "./stack/guest_link.ts";
import type { TapReaderStart } from "./workers/tap_reader.ts";
import { WorkerThread } from "./host/worker_thread.ts";
import { TcpService } from "./host/tcp_service.ts";
import { ApiService, HostForwards } from "./api/mod.ts";
import { PortForwardSink } from "./host/port_forwards.ts";

/** Bytes of ring between the tap reader and the stack: room for 64 frames of 64 KiB. */
const RX_RING_BYTES = 4 * 1024 * 1024;
/** The largest frame a tap read can return (slirp4netns reads into 65536 bytes). */
const MAX_TAP_FRAME = 65536;
/** Frames handled before the event loop gets a turn (signals, timers, API clients). */
const FRAMES_PER_TURN = 256;

/** Writes frames to the guest: one write(2) per frame on the tap fd. */
class TapWriter implements GuestLink {
  writeErrors = 0;
  constructor(private readonly shim: Shim, private readonly tapFd: number) {}

  sendFrame(frame: Uint8Array): void {
    const n = this.shim.shim_write(this.tapFd, frame, frame.length);
    if (n < 0) {
      if (this.writeErrors++ === 0) log.warn(`write to the tap: ${errnoText(this.shim, -n)}`);
    }
  }
}

/** A running network. Create with {@link Network.start}. */
export class Network {
  readonly addresses: Addresses;
  readonly counters = new Counters();
  /** UDP and ICMP NAT, and the DNS-resolver Worker. */
  readonly datagrams: DatagramServices;
  /** The TCP connection-table Worker. */
  readonly tcp: TcpService;
  readonly #shim: Shim;
  readonly #tapFd: number;
  readonly #stopFd: number;
  readonly #ring: FrameRing;
  readonly #reader: WorkerThread;
  readonly #consumer: Promise<void>;
  readonly #dispatcher: Dispatcher;
  #api: ApiService | null = null;
  #forwardSink: PortForwardSink | null = null;
  #stopping: Promise<void> | undefined;

  private constructor(shim: Shim, config: Config, tapFd: number, stopFd: number) {
    this.#shim = shim;
    this.#tapFd = tapFd;
    this.#stopFd = stopFd;
    this.addresses = deriveAddresses(config.network, config.prefix);
    this.#ring = FrameRing.create(RX_RING_BYTES);
    const link = new TapWriter(shim, tapFd);
    const forwarders: Ipv4Forwarders = {};
    const dispatcher = new Dispatcher(this.addresses, config.mtu, link, this.counters, forwarders);
    this.#dispatcher = dispatcher;
    this.datagrams = startDatagramServices({
      shim,
      config,
      addresses: this.addresses,
      tx: dispatcher.tx,
      counters: this.counters,
      tapFd,
    });
    Object.assign(forwarders, this.datagrams.forwarders);
    this.tcp = TcpService.start({ shim, config, tapFd, counters: this.counters });
    forwarders.tcp = this.tcp.tcp;

    const start: TapReaderStart = {
      ring: this.#ring.buffer,
      tapFd,
      stopFd,
      maxFrame: MAX_TAP_FRAME,
    };
    this.#reader = WorkerThread.start(
      "tap reader",
      new URL("./workers/tap_reader.ts", import.meta.url),
      start,
    );
    this.#consumer = this.#consume(dispatcher);
  }

  /** Starts the stack on an open tap fd. The network owns the fd from now on. */
  static async start(config: Config, tapFd: number): Promise<Network> {
    const shim = await loadShim();
    const nonblocking = shim.shim_set_nonblocking(tapFd, 1);
    if (nonblocking < 0) {
      throw new Error(`Cannot make the tap fd non-blocking: ${errnoText(shim, -nonblocking)}`);
    }
    const stopFd = shim.shim_eventfd();
    if (stopFd < 0) throw new Error(`Cannot create an eventfd: ${errnoText(shim, -stopFd)}`);
    return new Network(shim, config, tapFd, stopFd);
  }

  /**
   * Opens the API socket at `path` (`--api-socket`) with port forwards into this network. Throws
   * `ApiSocketError` (slirp4netns's message) when the socket cannot be created. Closed by `stop`.
   */
  openApi(path: string): ApiService {
    if (this.#api !== null) throw new Error("The API socket is already open");
    const shim = this.#shim;
    const dispatcher = this.#dispatcher;
    const nat = this.datagrams.nat;
    const sink = new PortForwardSink({
      shim,
      neighbors: dispatcher.neighbors,
      requestMac: (ip) => dispatcher.requestMac(ip),
      tcp: this.tcp,
      udpNat: nat.udpNat,
      frame: dispatcher.tx.frame,
      counters: this.counters,
    });
    const listeners = new HostForwards(shim, nat.reactor, sink, {
      gateway: this.addresses.gateway,
      dhcpStart: this.addresses.dhcpStart,
    });
    let api: ApiService;
    try {
      api = ApiService.start(shim, nat.reactor, {
        path,
        recommendedGuest: this.addresses.guest,
        listeners,
      });
    } catch (error) {
      sink.close();
      throw error;
    }
    nat.udpNat.forwardFlow = (guestAddr, guestPort, dstAddr, dstPort, now) =>
      listeners.flowForGuestReply(guestAddr, guestPort, dstAddr, dstPort, now);
    this.#api = api;
    this.#forwardSink = sink;
    return api;
  }

  async #consume(dispatcher: Dispatcher): Promise<void> {
    const ring = this.#ring;
    while (!ring.closed) {
      const handled = ring.drain(
        (frame) => dispatcher.handleFrame(frame, performance.now()),
        FRAMES_PER_TURN,
      );
      if (handled === FRAMES_PER_TURN) {
        // Not setTimeout(0): chained timers are clamped to 4 ms after five levels (HTML timers,
        // which Deno follows), so a busy ring got 256 frames per ~2-4 ms. setImmediate yields in
        // ~12 µs and still lets timers, signals and async FFI completions run.
        await new Promise((resolve) => setImmediate(resolve));
      } else {
        await ring.waitForDataAsync(1000);
      }
    }
  }

  /** Stops the reader, closes the fds. Safe to call more than once. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    // The API first: its socket is unlinked and no forward accepts any more.
    this.#api?.close();
    this.#forwardSink?.close();
    this.datagrams.nat.udpNat.forwardFlow = null;
    this.#shim.shim_write(this.#stopFd, new BigUint64Array([1n]), 8);
    this.#ring.close();
    await this.#reader.stop();
    await this.#consumer;
    await this.datagrams.stop();
    await this.tcp.stop();
    this.#shim.shim_close(this.#stopFd);
    this.#shim.shim_close(this.#tapFd);
  }
}
