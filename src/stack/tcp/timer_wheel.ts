/**
 * A hashed timing wheel (Varghese & Lauck, "Hashed and Hierarchical Timing Wheels", 1987): one
 * timer per entry, O(1) to arm, re-arm and cancel, with intrusive links so that arming allocates
 * nothing. Deadlines are rounded up to the tick; an entry whose deadline lies more than one
 * rotation ahead stays in its slot and is skipped until its round comes. The clock is injected:
 * `advance(now)` fires what is due.
 */

/** The fields an entry carries for the wheel; initialise with {@link newTimerLinks} values. */
export interface TimerEntry {
  /** Deadline in ms (same clock as `now`), or Infinity when not armed. */
  timerDeadline: number;
  /** Slot index while armed, -1 otherwise. */
  timerSlot: number;
  timerPrev: TimerEntry | null;
  timerNext: TimerEntry | null;
}

/**
 * Initial values of the timer fields of an entry.
 *
 * @example
 * ```ts
 * import { newTimerLinks, type TimerEntry } from "./timer_wheel.ts";
 * const entry: TimerEntry = { ...newTimerLinks() };
 * ```
 */
export function newTimerLinks(): TimerEntry {
  return { timerDeadline: Infinity, timerSlot: -1, timerPrev: null, timerNext: null };
}

/**
 * The wheel. `tickMs` is the resolution; `slots` (a power of two) times `tickMs` is one rotation.
 *
 * @example
 * ```ts
 * import { newTimerLinks, TimerWheel } from "./timer_wheel.ts";
 * const wheel = new TimerWheel(0, 10, 256);
 * const entry = { ...newTimerLinks(), name: "rto" };
 * wheel.arm(entry, 250);
 * const fired: string[] = [];
 * wheel.advance(300, (e) => fired.push((e as typeof entry).name));
 * // fired is ["rto"]
 * ```
 */
export class TimerWheel {
  readonly tickMs: number;
  readonly #heads: (TimerEntry | null)[];
  readonly #mask: number;
  /** The last tick whose slot has been processed. */
  #tick: number;
  #armed = 0;
  readonly #due: TimerEntry[] = [];

  /** `now` is the clock at creation: deadlines before it fire on the first `advance`. */
  constructor(now: number, tickMs = 10, slots = 512) {
    if (!(slots > 0) || (slots & (slots - 1)) !== 0) {
      throw new RangeError(`Cannot create a timer wheel: ${slots} slots is not a power of two`);
    }
    this.tickMs = tickMs;
    this.#heads = new Array(slots).fill(null);
    this.#mask = slots - 1;
    this.#tick = Math.floor(now / tickMs) - 1;
  }

  /** Number of armed entries. */
  get size(): number {
    return this.#armed;
  }

  /** Arms (or re-arms) `entry` to fire at `deadline`; Infinity cancels. */
  arm(entry: TimerEntry, deadline: number): void {
    if (entry.timerSlot >= 0) {
      if (entry.timerDeadline === deadline) return;
      this.#unlink(entry);
    }
    entry.timerDeadline = deadline;
    if (deadline === Infinity) return;
    // Never into a slot already processed: a deadline in the past fires on the next advance.
    const tick = Math.max(Math.ceil(deadline / this.tickMs), this.#tick + 1);
    const slot = tick & this.#mask;
    const head = this.#heads[slot];
    entry.timerSlot = slot;
    entry.timerPrev = null;
    entry.timerNext = head;
    if (head !== null) head.timerPrev = entry;
    this.#heads[slot] = entry;
    this.#armed++;
  }

  /** Disarms `entry` if armed. */
  cancel(entry: TimerEntry): void {
    if (entry.timerSlot >= 0) this.#unlink(entry);
    entry.timerDeadline = Infinity;
  }

  /**
   * Fires, in no particular order within a tick, every entry whose deadline is at or before `now`.
   * An entry is disarmed before `fire` is called, so `fire` may re-arm it.
   */
  advance(now: number, fire: (entry: TimerEntry) => void): void {
    const last = Math.floor(now / this.tickMs);
    if (last <= this.#tick) return;
    // A long sleep visits each slot once at most.
    const first = Math.max(this.#tick + 1, last - this.#mask);
    this.#tick = last;
    const due = this.#due;
    for (let tick = first; tick <= last; tick++) {
      if (this.#armed === 0) break;
      // Collect first, fire after: a callback may disarm or re-arm any entry.
      let entry = this.#heads[tick & this.#mask];
      while (entry !== null) {
        const next = entry.timerNext;
        if (entry.timerDeadline <= now) {
          this.#unlink(entry);
          entry.timerDeadline = Infinity;
          due.push(entry);
        }
        entry = next;
      }
    }
    for (let i = 0; i < due.length; i++) {
      // Re-armed by an earlier callback of this batch: its new deadline decides.
      if (due[i].timerSlot < 0) fire(due[i]);
    }
    due.length = 0;
  }

  /**
   * When `advance` should next be called: the end of the first non-empty slot ahead (a slot is
   * processed once its whole tick has passed), or Infinity when nothing is armed. An entry due in
   * a later rotation makes this early (at most one wake-up per rotation).
   */
  nextWake(now: number): number {
    if (this.#armed === 0) return Infinity;
    const from = Math.max(this.#tick + 1, Math.floor(now / this.tickMs));
    for (let i = 0; i <= this.#mask; i++) {
      if (this.#heads[(from + i) & this.#mask] !== null) return (from + i) * this.tickMs;
    }
    return now;
  }

  #unlink(entry: TimerEntry): void {
    const prev = entry.timerPrev;
    const next = entry.timerNext;
    if (prev !== null) prev.timerNext = next;
    else this.#heads[entry.timerSlot] = next;
    if (next !== null) next.timerPrev = prev;
    entry.timerPrev = null;
    entry.timerNext = null;
    entry.timerSlot = -1;
    this.#armed--;
  }
}
