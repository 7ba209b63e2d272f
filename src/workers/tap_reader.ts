/**
 * The tap-reader Worker: owns the read side of the tap fd and runs the dispatcher on every frame
 * the guest sends, in the thread that read it. ARP, ICMP echo to the emulated hosts and DHCP are
 * answered here, written straight back to the tap (no thread hop: this is what ping to 10.0.2.2
 * measures), and with `-6` Neighbor Discovery, ICMPv6 echo and router advertisements. TCP segments go into the TCP worker's ring and DNS queries into the DNS worker's,
 * each woken once per batch; UDP and ICMP for the NAT go into a ring to the main thread, together
 * with the guest MACs learned here (NEIGHBOR_RECORD, NEIGHBOR6_RECORD), which the main thread
 * needs for port forwards.
 *
 * ```
 *  tap ─read─▶ Dispatcher ─┬─ ARP / ICMP echo / DHCP ─write─▶ tap
 *                          ├─ TCP ──────▶ ring ▶ TCP worker
 *                          ├─ DNS ──────▶ ring ▶ DNS worker
 *                          └─ UDP, ICMP, neighbors ─▶ ring ▶ main thread (NAT)
 * ```
 *
 * It sleeps in poll() on the tap and a stop eventfd, with a timeout up to the dispatcher's next
 * deadline (the next router advertisement; none without `-6`). As poll() returns, before the read,
 * a sleeping TCP or DNS worker that asked for early wakes is woken (src/host/ring_feed.ts). A full ring drops the frame (counted): the
 * guest retransmits TCP, and UDP may be lost anyway. On a tap with virtio-net headers, the header's
 * offload bits go with the frame (src/wire/virtio_net.ts): TCP super-frames above the MTU, and
 * partial checksums the TCP worker must not verify.
 *
 * Messages: in, one {@link TapReaderStart}; out, WorkerEvents (lifecycle.ts).
 */
import { deriveAddresses } from "../config.ts";
import { EAGAIN, EINTR, errnoText } from "../ffi/errno.ts";
import { POLLERR, POLLHUP, POLLIN, POLLNVAL, PollSet } from "../ffi/poll.ts";
import { bytesQueued, loadShim } from "../ffi/shim.ts";
import { RingFeed, type RingFeedChannel } from "../host/ring_feed.ts";
import { TapCapture } from "../link/capture.ts";
import { type Tap, tapWriter } from "../link/tap_writer.ts";
import { report, serveWorker } from "./lifecycle.ts";
import { type LogLevel, setLogLevel } from "../log.ts";
import { C, Counters } from "../stack/counters.ts";
import { Dispatcher } from "../stack/dispatcher.ts";
import type { Forwarders } from "../stack/forwarders.ts";
import { writeIpv6 } from "../wire/address.ts";
import { writeU32 } from "../wire/view.ts";
import { RxOffload, rxOffload, VNET_HDR_LEN } from "../wire/virtio_net.ts";
import { NEIGHBOR6_RECORD, NEIGHBOR_RECORD, SEGMENT_RECORD } from "./records.ts";

/** The start message. */
export interface TapReaderStart {
  tap: Tap;
  /** An eventfd; readable means stop. */
  stopFd: number;
  /** Largest frame read from the tap (without the virtio-net header). */
  maxFrame: number;
  mtu: number;
  network: number;
  prefix: number;
  /** IPv6 is on (`-6`). */
  ipv6: boolean;
  /** Counter table (Counters.BYTE_LENGTH bytes) this worker bumps; the main thread reads it. */
  counters: SharedArrayBuffer;
  logLevel: LogLevel;
  /** The TCP worker's segment input. */
  tcp: RingFeedChannel;
  /** The DNS worker's query input; null with `--disable-dns` (queries then go to the NAT). */
  dns: RingFeedChannel | null;
  /** A FrameRing to the main thread: UDP and ICMP frames for the NAT, and NEIGHBOR_RECORDs. */
  datagrams: SharedArrayBuffer;
}

/** Frames handled before the workers fed in this batch are woken. */
const FRAMES_PER_BATCH = 64;
/** Longest single poll() with a timer pending (poll takes an int of milliseconds). */
const MAX_POLL_MS = 1 << 30;

async function run(start: TapReaderStart): Promise<void> {
  setLogLevel(start.logLevel);
  const shim = await loadShim();
  const counters = new Counters(start.counters);
  const tcp = new RingFeed(
    shim,
    start.tcp.ring,
    () => counters.bump(C["tcp.ring_full"]),
    start.tcp,
  );
  const dns = start.dns &&
    new RingFeed(shim, start.dns.ring, () => counters.bump(C["dns.ring_full"]), start.dns);
  const datagrams = new RingFeed(
    shim,
    start.datagrams,
    () => counters.bump(C["nat.ring_full"]),
  );
  // Each frame is read straight into a slot of the TCP ring (`slot`, the offset of a
  // SEGMENT_RECORD, records.ts) while it has room: a TCP segment is then published where it lies,
  // without the 64 KiB copy a push makes; any other frame leaves the slot for the next read.
  const segmentBytes = tcp.bytes;
  let slot = -1;
  const forwarders: Forwarders = {
    // A SEGMENT_RECORD (records.ts): the tag byte says whether the checksum is partial.
    tcp: (frame, _now, checksumPartial) => {
      const tag = checksumPartial ? 1 : 0;
      if (
        slot >= 0 && frame.buffer === segmentBytes.buffer &&
        frame.byteOffset === segmentBytes.byteOffset + slot + SEGMENT_RECORD.FRAME
      ) {
        segmentBytes[slot + SEGMENT_RECORD.CHECKSUM_PARTIAL] = tag;
        tcp.commit(SEGMENT_RECORD.FRAME + frame.length);
      } else {
        // Not the frame read (a reassembled datagram): copied.
        tcp.push(frame, tag, SEGMENT_RECORD.FRAME);
      }
      slot = -1;
    },
    udp: (frame) => datagrams.push(frame),
    icmp: (frame) => datagrams.push(frame),
  };
  if (dns) forwarders.dns = (frame) => dns.push(frame);
  const addresses = deriveAddresses(start.network, start.prefix, start.ipv6);
  const tap = start.tap;
  const link = tapWriter(shim, tap, "tap reader", counters);
  const dispatcher = new Dispatcher(addresses, start.mtu, link, counters, forwarders);
  const record = new Uint8Array(NEIGHBOR_RECORD.LENGTH);
  const record6 = new Uint8Array(NEIGHBOR6_RECORD.LENGTH);
  dispatcher.neighbors.onLearn = (ip) => {
    if (typeof ip === "bigint") {
      writeIpv6(record6, NEIGHBOR6_RECORD.IP, ip);
      dispatcher.neighbors.copyMac(ip, record6, NEIGHBOR6_RECORD.MAC);
      datagrams.push(record6);
    } else {
      writeU32(record, NEIGHBOR_RECORD.IP, ip);
      dispatcher.neighbors.copyMac(ip, record, NEIGHBOR_RECORD.MAC);
      datagrams.push(record);
    }
  };

  const polled = new PollSet([
    { fd: tap.fd, events: POLLIN },
    { fd: start.stopFd, events: POLLIN },
  ]);
  const header = tap.vnet ? VNET_HDR_LEN : 0;
  const capture = tap.capture ? new TapCapture(shim, tap.capture) : null;
  const buffer = new Uint8Array(header + start.maxFrame);
  const readLength = header + start.maxFrame;
  report({ kind: "started" });
  dispatcher.start(performance.now());

  for (;;) {
    // Timers (router advertisements) without busy waiting: sleep at most until the next one.
    let timeout = -1;
    let deadline = dispatcher.nextDeadline;
    if (deadline !== Infinity) {
      const now = performance.now();
      if (deadline <= now) {
        dispatcher.tick(now);
        deadline = dispatcher.nextDeadline;
      }
      if (deadline !== Infinity) {
        timeout = Math.min(MAX_POLL_MS, Math.max(0, Math.ceil(deadline - now)));
      }
    }
    const ready = shim.shim_poll(polled.bytes, polled.count, timeout);
    if (ready === -EINTR) continue;
    if (ready < 0) {
      report({ kind: "error", message: `poll: ${errnoText(shim, -ready)}` });
      break;
    }
    if (ready === 0) continue;
    if (polled.revents(1) !== 0) break;
    if (polled.revents(0) & (POLLERR | POLLNVAL)) {
      report({ kind: "error", message: "the tap device reported an error" });
      break;
    }
    // Before the read: a worker that sleeps waiting for small requests starts waking up now.
    tcp.wakeEarly();
    dns?.wakeEarly();
    const now = performance.now();
    for (let frames = 0; frames < FRAMES_PER_BATCH;) {
      if (slot < 0) slot = tcp.reserveAt(SEGMENT_RECORD.FRAME + start.maxFrame);
      // Into the slot, the virtio-net header just before the frame's place; else the buffer.
      const bytes = slot >= 0 ? segmentBytes : buffer;
      const at = slot >= 0 ? slot + SEGMENT_RECORD.FRAME - header : 0;
      const n = shim.shim_read_at(tap.fd, bytes, at, readLength);
      if (n > header) {
        const offload = header ? rxOffload(bytes, at) : RxOffload.NONE;
        const frame = bytes.subarray(at + header, at + n);
        counters.bump(C["link.frames_from_guest"]);
        counters.bump(C["link.bytes_from_guest"], n - header);
        // Before the dispatcher, so that a reply it writes comes after this frame in the file.
        capture?.appendLocked(frame);
        dispatcher.handleFrame(frame, now, offload);
        frames++;
      } else if (n === 0 && polled.revents(0) & POLLHUP) {
        // A socket link (BESS) whose client hung up: 0 is an empty packet or the end, which it
        // is once no bytes are left queued, so every frame the client sent is read first. (A tap
        // never reads 0; an empty seqpacket without the hang-up is skipped below.)
        if (bytesQueued(tap.fd) > 0) continue;
        report({ kind: "hangup" });
        return;
      } else if (n === -EAGAIN || n === 0) {
        break;
      } else if (n !== -EINTR) {
        // slirp4netns logs a failed tap read and carries on.
        report({ kind: "error", message: `read: ${errnoText(shim, -n)}` });
        break;
      }
    }
    tcp.flush();
    dns?.flush();
  }
}

serveWorker(run);
