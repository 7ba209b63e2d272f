/**
 * A whole transfer through a link that loses, reorders and duplicates segments in both
 * directions, with a minimal guest TCP (go-back-N sender, in-order receiver) and a fake clock:
 * the bytes arrive intact both ways, then both sides close. Seeded; a failure names its seed.
 */
import assert from "node:assert/strict";
import {
  FIN,
  GUEST_ADDR,
  GUEST_ISN,
  GUEST_PORT,
  Harness,
  pattern,
  PEER_ADDR,
  PEER_PORT,
} from "./_test_link.ts";
import { HostEvent } from "./host_sockets.ts";
import { seqAdd } from "./seq.ts";

/** mulberry32: small, seedable, good enough for shuffling test traffic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Drops, duplicates and swaps items as they pass. */
function impair<T>(items: T[], random: () => number, loss: number): T[] {
  const out: T[] = [];
  for (const item of items) {
    const r = random();
    if (r < loss) continue;
    out.push(item);
    if (r > 1 - loss / 2) out.push(item);
  }
  for (let i = 0; i + 1 < out.length; i++) {
    if (random() < loss) [out[i], out[i + 1]] = [out[i + 1], out[i]];
  }
  return out;
}

function transfer(seed: number, loss: number): void {
  const random = prng(seed);
  const h = new Harness({ sendQueueLimit: 32 << 10, recvQueueLimit: 32 << 10, initialQueue: 4096 });
  const socket = h.establish({ mss: 1000, wscale: 2 }, { window: 4000 });
  const iss1 = seqAdd(h.iss, 1);
  const up = pattern(200_000, seed);
  const down = pattern(200_000, seed + 1);
  socket.queue(down);
  socket.eof = true;
  socket.sendRoom = 0;

  // The guest: sender state (go-back-N after 300 ms without progress) and receiver state.
  let upUna = 0;
  let upNxt = 0;
  let upFinSent = false;
  let lastProgress = h.now;
  let relayWindowEdge = 16_000; // bytes past upUna the relay accepts (from its ACKs)
  const received: number[] = [];
  let downFin = false;

  const guestSegments: Parameters<Harness["frame"]>[0][] = [];
  for (let step = 0; step < 200_000; step++) {
    if (received.length === down.length && downFin && upUna === up.length + 1) break;
    // The guest sends what the relay's window allows.
    const ack = seqAdd(iss1, received.length + (downFin ? 1 : 0));
    while (upNxt < up.length && upNxt < upUna + relayWindowEdge) {
      const n = Math.min(1000, up.length - upNxt, upUna + relayWindowEdge - upNxt);
      guestSegments.push({
        seq: GUEST_ISN + 1 + upNxt,
        ack,
        window: 4000,
        payload: up.subarray(upNxt, upNxt + n),
      });
      upNxt += n;
    }
    if (upNxt === up.length && !upFinSent) {
      guestSegments.push({ seq: GUEST_ISN + 1 + upNxt, ack, window: 4000, flags: FIN | 0x10 });
      upFinSent = true;
    }
    guestSegments.push({ seq: GUEST_ISN + 1 + upNxt + (upFinSent ? 1 : 0), ack, window: 4000 });
    const frames = impair(guestSegments.splice(0), random, loss).map((s) => h.frame(s));
    for (const frame of frames) h.relay.handleFrame(frame, h.now);
    h.relay.flush(h.now);
    // The host reads some of what it got and has data (level-triggered: tell the relay).
    socket.sendRoom += 3000;
    h.relay.hostEvent(socket.token, HostEvent.READABLE | HostEvent.WRITABLE, h.now);
    h.relay.flush(h.now);
    // The guest takes what arrives in order, acknowledges cumulatively.
    for (const f of impair(h.takeAll(), random, loss)) {
      if (!("seq" in f)) continue;
      if (f.flags & 0x04) {
        throw new Error(
          `seed ${seed}: the relay reset the connection at step ${step}: ${
            JSON.stringify(h.counters.nonZero())
          }`,
        );
      }
      if (f.seq === seqAdd(iss1, received.length)) {
        received.push(...f.payload);
        if ((f.flags & FIN) && received.length === down.length) downFin = true;
      }
      const acked = (f.ack - (GUEST_ISN + 1)) | 0;
      if (acked > upUna) {
        upUna = acked;
        lastProgress = h.now;
      }
      relayWindowEdge = f.window * 4 - (upUna - (acked > upUna ? acked : upUna));
      if (relayWindowEdge < 0) relayWindowEdge = 0;
    }
    if (h.now - lastProgress > 300 && upUna < up.length + 1) {
      upNxt = Math.min(upUna, up.length);
      upFinSent = upUna > up.length;
      lastProgress = h.now;
    }
    h.advance(10);
  }
  assert.equal(received.length, down.length, `seed ${seed}: host→guest incomplete`);
  assert.deepEqual(Uint8Array.from(received), down, `seed ${seed}: host→guest corrupted`);
  assert.deepEqual(Uint8Array.from(socket.received), up, `seed ${seed}: guest→host corrupted`);
  assert.ok(socket.shutWrite, `seed ${seed}: the guest's FIN did not reach the host`);
  assert.ok(downFin, `seed ${seed}: the host's FIN did not reach the guest`);
  assert.equal(socket.closed, "close", `seed ${seed}: the host socket is still open`);
  // The guest's last ACK (of our FIN) may have been lost: it keeps acknowledging, the entry goes.
  for (let i = 0; i < 100 && h.relay.find(GUEST_ADDR, GUEST_PORT, PEER_ADDR, PEER_PORT); i++) {
    h.takeAll();
    h.send({ seq: GUEST_ISN + 2 + up.length, ack: seqAdd(iss1, down.length + 1), window: 4000 });
    h.advance(100);
  }
  assert.equal(h.relay.find(GUEST_ADDR, GUEST_PORT, PEER_ADDR, PEER_PORT), null, `seed ${seed}`);
}

Deno.test("a transfer through a clean link completes both ways and closes", () => {
  transfer(1, 0);
});

Deno.test("a transfer with 5% loss, duplication and reordering both ways arrives intact", () => {
  for (let seed = 2; seed < 8; seed++) transfer(seed, 0.05);
});

Deno.test("a transfer with 20% loss both ways still arrives intact", () => {
  for (let seed = 100; seed < 104; seed++) transfer(seed, 0.2);
});
