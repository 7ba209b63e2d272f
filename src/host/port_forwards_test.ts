/**
 * PortForwardSink without a kernel: a fake shim (only resets are used), a fake TCP service whose
 * ring can be full, a fake UDP NAT, the real neighbour table and an injected clock. Its retry
 * timer is driven through `neighbors.onLearn` (learning any waited-for address runs it), except
 * in the one test that waits for the real interval.
 */
import assert from "node:assert/strict";
import type { ForwardClient, UdpForwardFlow } from "../api/host_listener.ts";
import { deriveAddresses } from "../config.ts";
import type { Shim } from "../ffi/shim.ts";
import type { IpAddress } from "../wire/address.ts";
import { Counters } from "../stack/counters.ts";
import { GuestNeighbors } from "../stack/neighbors.ts";
import type { UdpNat } from "../stack/udp_nat.ts";
import {
  ARP_RETRY_MS,
  MAX_WAITING,
  PortForwardSink,
  RESOLVE_TIMEOUT_MS,
  RETRY_MS,
} from "./port_forwards.ts";
import type { TcpService } from "./tcp_service.ts";

const ADDRESSES = deriveAddresses(0x0a000200, 24, true);
const GUEST6 = (0xfd00n << 112n) | 0x5054n;
const GUEST_A = 0x0a00020f; // 10.0.2.15
const GUEST_B = 0x0a000210; // 10.0.2.16
const MAC_A = new Uint8Array([0x02, 0, 0, 0, 0, 0x0a]);
const MAC_B = new Uint8Array([0x02, 0, 0, 0, 0, 0x0b]);
const GUEST_C = 0x0a000211; // 10.0.2.17
const MAC_C = new Uint8Array([0x02, 0, 0, 0, 0, 0x0c]);
const LOOPBACK_CLIENT: ForwardClient = {
  address: 0x7f000001,
  port: 40000,
  addressForGuest: ADDRESSES.gateway,
};

interface Opened {
  fd: number;
  peerAddr: IpAddress;
  peerPort: number;
  guestAddr: IpAddress;
  guestPort: number;
  mac: number[];
}

/** The sink over fakes; `ringFull` makes the TCP service refuse hand-overs. */
class Fixture {
  now = 5_000;
  ringFull = false;
  readonly opened: Opened[] = [];
  readonly resets: number[] = [];
  readonly arpRequests: IpAddress[] = [];
  readonly udpSent: unknown[][] = [];
  readonly counters = new Counters();
  readonly neighbors = new GuestNeighbors(ADDRESSES);
  readonly frame = new Uint8Array(2048);
  readonly sink: PortForwardSink;

  constructor() {
    const shim = { shim_close_reset: (fd: number) => this.resets.push(fd) };
    const tcp = {
      openToGuest: (
        fd: number,
        peerAddr: IpAddress,
        peerPort: number,
        guestAddr: IpAddress,
        guestPort: number,
        mac: Uint8Array,
        macOffset: number,
      ) => {
        if (this.ringFull) return false;
        const bytes = [...mac.subarray(macOffset, macOffset + 6)];
        this.opened.push({ fd, peerAddr, peerPort, guestAddr, guestPort, mac: bytes });
        return true;
      },
    };
    const udpNat = { sendToGuest: (...args: unknown[]) => this.udpSent.push(args) };
    this.sink = new PortForwardSink({
      shim: shim as unknown as Shim,
      neighbors: this.neighbors,
      requestMac: (ip) => this.arpRequests.push(ip),
      tcp: tcp as unknown as TcpService,
      udpNat: udpNat as unknown as UdpNat,
      frame: this.frame,
      counters: this.counters,
      now: () => this.now,
    });
  }

  accept(fd: number, guestAddr: IpAddress = GUEST_A, guestPort = 8080): void {
    this.sink.acceptedTcp(fd, LOOPBACK_CLIENT, guestAddr, guestPort);
  }
}

Deno.test("PortForwardSink: an IPv6 guest's MAC is asked for (a neighbor solicitation) and the client waits", () => {
  const f = new Fixture();
  try {
    const client: ForwardClient = {
      address: 1n,
      port: 40000,
      addressForGuest: ADDRESSES.ipv6!.gateway,
    };
    f.sink.acceptedTcp(7, client, GUEST6, 8080);
    assert.deepEqual(f.arpRequests, [GUEST6]);
    assert.equal(f.sink.waiting, 1);
    f.neighbors.learn(GUEST6, MAC_A, 0);
    assert.deepEqual(f.opened, [{
      fd: 7,
      peerAddr: ADDRESSES.ipv6!.gateway,
      peerPort: 40000,
      guestAddr: GUEST6,
      guestPort: 8080,
      mac: [...MAC_A],
    }]);
    assert.equal(f.neighbors.globalIpv6, GUEST6);
  } finally {
    f.sink.close();
  }
});

Deno.test("PortForwardSink hands a TCP client over at once when the guest's MAC is known", () => {
  const f = new Fixture();
  f.neighbors.learn(GUEST_A, MAC_A, 0);
  f.accept(7);
  assert.deepEqual(f.opened, [{
    fd: 7,
    peerAddr: ADDRESSES.gateway,
    peerPort: 40000,
    guestAddr: GUEST_A,
    guestPort: 8080,
    mac: [...MAC_A],
  }]);
  assert.equal(f.sink.waiting, 0);
  assert.deepEqual(f.arpRequests, []);
  assert.deepEqual(f.resets, []);
  f.sink.close();
});

Deno.test("PortForwardSink asks for an unknown MAC once, and clients go in order once learned", () => {
  const f = new Fixture();
  try {
    f.accept(7);
    f.now += ARP_RETRY_MS - 1;
    f.accept(8);
    assert.equal(f.sink.waiting, 2);
    assert.deepEqual(f.arpRequests, [GUEST_A], "asked again within ARP_RETRY_MS");
    assert.equal(f.opened.length, 0);
    f.neighbors.learn(GUEST_A, MAC_A, 0);
    assert.deepEqual(f.opened.map((o) => [o.fd, o.mac]), [[7, [...MAC_A]], [8, [...MAC_A]]]);
    assert.equal(f.sink.waiting, 0);
    assert.deepEqual(f.resets, []);
  } finally {
    f.sink.close();
  }
});

Deno.test("PortForwardSink re-asks every ARP_RETRY_MS and resets a client after RESOLVE_TIMEOUT_MS", () => {
  const f = new Fixture();
  try {
    const start = f.now;
    f.accept(7, GUEST_A);
    f.accept(8, GUEST_B);
    f.accept(9, GUEST_C);
    assert.deepEqual(f.arpRequests, [GUEST_A, GUEST_B, GUEST_C]);
    // Learning C runs the retry pass: A and B are asked for again; 9 waits behind them, in order.
    f.now += ARP_RETRY_MS;
    f.neighbors.learn(GUEST_C, MAC_C, 0);
    assert.deepEqual(f.arpRequests, [GUEST_A, GUEST_B, GUEST_C, GUEST_A, GUEST_B]);
    assert.equal(f.opened.length, 0);
    // B is learned at the deadline: A, still unknown, is reset; B and the one behind it go.
    f.now = start + RESOLVE_TIMEOUT_MS;
    f.neighbors.learn(GUEST_B, MAC_B, 0);
    assert.deepEqual(f.resets, [7]);
    assert.deepEqual(f.opened.map((o) => o.fd), [8, 9]);
    assert.equal(f.sink.waiting, 0);
  } finally {
    f.sink.close();
  }
});

Deno.test("PortForwardSink keeps clients waiting in order while the TCP ring is full", async () => {
  const f = new Fixture();
  try {
    f.neighbors.learn(GUEST_A, MAC_A, 0);
    f.ringFull = true;
    f.accept(7);
    assert.equal(f.sink.waiting, 1);
    f.ringFull = false;
    // A later client must not overtake the one that waits.
    f.accept(8);
    assert.deepEqual(f.opened.map((o) => o.fd), []);
    assert.deepEqual(f.arpRequests, [], "the MAC is known: nothing to ask");
    // The retry timer (every RETRY_MS) hands both over.
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS * 5));
    assert.deepEqual(f.opened.map((o) => o.fd), [7, 8]);
    assert.equal(f.sink.waiting, 0);
    assert.deepEqual(f.resets, []);
  } finally {
    f.sink.close();
  }
});

Deno.test("PortForwardSink resets clients beyond MAX_WAITING at once", () => {
  const f = new Fixture();
  try {
    for (let fd = 0; fd < MAX_WAITING; fd++) f.accept(fd);
    assert.equal(f.sink.waiting, MAX_WAITING);
    assert.deepEqual(f.resets, []);
    f.accept(MAX_WAITING);
    assert.deepEqual(f.resets, [MAX_WAITING]);
    assert.equal(f.sink.waiting, MAX_WAITING);
  } finally {
    f.sink.close();
  }
});

Deno.test("PortForwardSink.close() resets every waiting client and is idempotent", () => {
  const f = new Fixture();
  f.accept(7);
  f.accept(8, GUEST_B);
  f.sink.close();
  assert.deepEqual(f.resets, [7, 8]);
  assert.equal(f.sink.waiting, 0);
  assert.equal(f.neighbors.onLearn, null);
  f.sink.close();
  assert.deepEqual(f.resets, [7, 8]);
  // Learning the address later hands nothing over.
  f.neighbors.learn(GUEST_A, MAC_A, 0);
  assert.equal(f.opened.length, 0);
});

Deno.test("PortForwardSink sends a forwarded datagram from the client's guest-visible address", () => {
  const f = new Fixture();
  const flow: UdpForwardFlow = {
    forwardId: 1,
    client: LOOPBACK_CLIENT,
    guestAddr: GUEST_A,
    guestPort: 5353,
    createdAt: 0,
    bytesToGuest: 0,
    bytesFromGuest: 0,
    sendToClient: () => 0,
  };
  assert.equal(f.sink.udpBuffer, f.frame);
  // Unknown MAC: dropped, counted, asked for (once per ARP_RETRY_MS).
  f.sink.udpDatagram(flow, 12, f.now);
  f.sink.udpDatagram(flow, 12, f.now);
  assert.equal(f.udpSent.length, 0);
  assert.equal(f.counters.get("udp.forward_no_mac"), 2);
  assert.deepEqual(f.arpRequests, [GUEST_A]);
  f.neighbors.learn(GUEST_A, MAC_A, 0);
  f.sink.udpDatagram(flow, 12, f.now);
  assert.equal(f.udpSent.length, 1);
  const [mac, macOffset, src, srcPort, dst, dstPort, length] = f.udpSent[0];
  assert.deepEqual([...(mac as Uint8Array).subarray(0, 6)], [...MAC_A]);
  assert.deepEqual([macOffset, src, srcPort, dst, dstPort, length], [
    0,
    ADDRESSES.gateway,
    40000,
    GUEST_A,
    5353,
    12,
  ]);
  assert.equal(f.counters.get("udp.forward_to_guest"), 1);
  f.sink.close();
});
