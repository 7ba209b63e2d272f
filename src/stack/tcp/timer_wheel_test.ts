import assert from "node:assert/strict";
import { newTimerLinks, type TimerEntry, TimerWheel } from "./timer_wheel.ts";

type Named = TimerEntry & { name: string };
const entry = (name: string): Named => ({ ...newTimerLinks(), name });

function fired(wheel: TimerWheel, now: number): string[] {
  const names: string[] = [];
  wheel.advance(now, (e) => names.push((e as Named).name));
  return names.sort();
}

Deno.test("TimerWheel fires an entry within one tick after its deadline, never before", () => {
  const wheel = new TimerWheel(1000, 10, 64);
  const a = entry("a");
  wheel.arm(a, 1055);
  assert.deepEqual(fired(wheel, 1050), []);
  assert.deepEqual(fired(wheel, 1059), []);
  assert.deepEqual(fired(wheel, 1060), ["a"]);
  assert.equal(wheel.size, 0);
  assert.deepEqual(fired(wheel, 2000), []);
});

Deno.test("TimerWheel re-arms and cancels without firing the old deadline", () => {
  const wheel = new TimerWheel(0, 10, 64);
  const a = entry("a");
  const b = entry("b");
  wheel.arm(a, 100);
  wheel.arm(b, 100);
  wheel.arm(a, 300);
  wheel.cancel(b);
  assert.deepEqual(fired(wheel, 200), []);
  assert.deepEqual(fired(wheel, 300), ["a"]);
});

Deno.test("TimerWheel keeps deadlines beyond one rotation for their round", () => {
  const wheel = new TimerWheel(0, 10, 8); // 80 ms per rotation
  const far = entry("far");
  wheel.arm(far, 1000);
  for (let t = 10; t < 1000; t += 10) assert.deepEqual(fired(wheel, t), [], `at ${t}`);
  assert.deepEqual(fired(wheel, 1000), ["far"]);
});

Deno.test("TimerWheel fires everything due after a long sleep, and past deadlines next", () => {
  const wheel = new TimerWheel(0, 10, 8);
  const entries = [entry("a"), entry("b"), entry("c")];
  wheel.arm(entries[0], 15);
  wheel.arm(entries[1], 500);
  wheel.arm(entries[2], 5000);
  assert.deepEqual(fired(wheel, 3000), ["a", "b"]);
  const late = entry("late");
  wheel.arm(late, 100); // already in the past
  assert.deepEqual(fired(wheel, 3010), ["late"]);
  assert.deepEqual(fired(wheel, 5000), ["c"]);
});

Deno.test("TimerWheel.nextWake() is never after the earliest deadline's tick", () => {
  const wheel = new TimerWheel(0, 10, 64);
  assert.equal(wheel.nextWake(0), Infinity);
  const a = entry("a");
  wheel.arm(a, 123);
  const wake = wheel.nextWake(0);
  assert.ok(wake >= 123 && wake <= 130, `wake ${wake}`);
  assert.deepEqual(fired(wheel, wake), ["a"]);
});

Deno.test("TimerWheel lets a fired entry re-arm itself from the callback", () => {
  const wheel = new TimerWheel(0, 10, 64);
  const a = entry("a");
  wheel.arm(a, 10);
  let count = 0;
  for (let t = 10; t <= 100; t += 10) {
    wheel.advance(t, (e) => {
      count++;
      wheel.arm(e, t + 10);
    });
  }
  assert.equal(count, 10);
});
