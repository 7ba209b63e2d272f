import assert from "node:assert/strict";
import { C, Counters } from "../stack/counters.ts";
import { statsReturn } from "./stats.ts";

Deno.test("statsReturn() sorts counters into link, drops by reason and protocols, and joins the forwards", () => {
  const counters = new Counters();
  counters.bump(C["link.frames_from_guest"], 10);
  counters.bump(C["link.bytes_from_guest"], 1000);
  counters.bump(C["icmp.echo_request"], 4);
  counters.bump(C["ipv4.bad_checksum"], 2);
  counters.bump(C["tcp.ring_full"], 1);
  const stats = statsReturn({
    counters,
    tcp: {
      outbound: { ESTABLISHED: 2, TIME_WAIT: 1 },
      forwarded: { ESTABLISHED: 1 },
      forwards: { 1: { connections: 3, open: 1, bytes_from_guest: 5, bytes_to_guest: 7 } },
      flows: [],
    },
    nameservers: [{
      address: "127.0.0.53",
      forwarded: 4,
      answered: 3,
      timeouts: 1,
      errors: 0,
      rejected: 0,
    }],
    udpFlows: 2,
    icmpFlows: 1,
    forwards: [
      {
        id: 1,
        proto: "tcp",
        hostAddr: 0x7f000001,
        hostPort: 8080,
        guestAddr: 0x0a000264,
        guestPort: 80,
      },
      { id: 2, proto: "udp", hostAddr: 0, hostPort: 5353, guestAddr: 0x0a000264, guestPort: 53 },
    ],
    forwardUsage: new Map([
      [1, { proto: "tcp", connections: 3, openFlows: 0, bytesToGuest: 0, bytesFromGuest: 0 }],
      [2, { proto: "udp", connections: 2, openFlows: 1, bytesToGuest: 40, bytesFromGuest: 20 }],
    ]),
  });
  assert.deepEqual(stats.link, {
    frames_from_guest: 10,
    bytes_from_guest: 1000,
    frames_to_guest: 0,
    bytes_to_guest: 0,
  });
  assert.deepEqual(stats.drops, {
    total: 3,
    by_reason: { "ipv4.bad_checksum": 2, "tcp.ring_full": 1 },
  });
  assert.equal(stats.icmp.echo_request, 4);
  assert.equal(stats.arp.request, 0, "every counter of a protocol, zeros too");
  assert.deepEqual(stats.tcp, {
    outbound: { total: 3, by_state: { ESTABLISHED: 2, TIME_WAIT: 1 } },
    forwarded: { total: 1, by_state: { ESTABLISHED: 1 } },
  });
  assert.deepEqual(stats.udp, { flows: 2, forward_flows: 1 });
  assert.equal(stats.nameservers?.[0].failures, 1);
  assert.deepEqual(
    stats.forwards.map((f) => [f.id, f.connections, f.open, f.bytes_from_guest, f.bytes_to_guest]),
    [
      [1, 3, 1, 5, 7],
      [2, 2, 1, 20, 40],
    ],
  );
  assert.equal("connections" in stats, false);
});

Deno.test("statsReturn() shows a worker that did not answer as null, and lists flows when asked", () => {
  const stats = statsReturn({
    counters: new Counters(),
    tcp: null,
    nameservers: null,
    udpFlows: 0,
    icmpFlows: 0,
    forwards: [],
    forwardUsage: new Map(),
    flows: [],
  });
  assert.equal(stats.tcp, null);
  assert.equal(stats.nameservers, null);
  assert.deepEqual((stats as { connections?: unknown }).connections, []);
});
