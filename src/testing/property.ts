/**
 * Property testing (fast-check) for the parsers and builders: the pinned library, the run count,
 * and an independent Internet checksum to check ours against.
 *
 * `deno task test` runs each property `PROPERTY_RUNS` times (default 500, about a second for the whole
 * suite); `deno task fuzz` sets `FUZZ_RUNS` (and grants reading it) for a long run. A failure prints
 * the seed and the shrunk counterexample; replay it with `fc.assert(..., { seed, path })`.
 */
import fc from "npm:fast-check@4.11.0";

export { fc };

/** Runs per property: `FUZZ_RUNS` when the environment may be read and sets it, else 500. */
export const PROPERTY_RUNS: number = (() => {
  const granted = Deno.permissions.querySync({ name: "env", variable: "FUZZ_RUNS" });
  if (granted.state !== "granted") return 500;
  const runs = Number(Deno.env.get("FUZZ_RUNS"));
  return Number.isSafeInteger(runs) && runs > 0 ? runs : 500;
})();

/** fast-check parameters for one property. */
export const RUNS = { numRuns: PROPERTY_RUNS } as const;

/**
 * The Internet checksum of `bytes`, written from RFC 1071 §4.1's C example and nothing else of
 * ours: 16-bit big-endian words summed in a plain number, an odd last byte as the high byte of a
 * word, the carries folded at the end, the result complemented. Slow on purpose.
 */
export function rfc1071Checksum(bytes: Uint8Array, initialSum = 0): number {
  let sum = initialSum;
  let i = 0;
  for (; i + 1 < bytes.length; i += 2) sum += bytes[i] * 256 + bytes[i + 1];
  if (i < bytes.length) sum += bytes[i] * 256;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return ~sum & 0xffff;
}

/**
 * Calls `f` and returns normally if it did not throw, or if it threw an instance of one of
 * `allowed`; rethrows anything else (the property then fails with it).
 */
export function throwsOnly(
  f: () => unknown,
  ...allowed: (abstract new (...args: never[]) => Error)[]
): void {
  try {
    f();
  } catch (error) {
    if (allowed.some((type) => error instanceof type)) return;
    throw error;
  }
}
