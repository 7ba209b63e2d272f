/**
 * IPv6 address text forms for `--outbound-addr6`: a strict `inet_pton(AF_INET6)` and glibc's
 * `inet_ntop(AF_INET6)` (RFC 4291 §2.2 input, RFC 5952 §4 output). Belongs in `src/wire/address.ts`
 * once someone owning that file wants it; kept here so the CLI does not edit other layers.
 */
import { parseIpv4 } from "../wire/address.ts";

const GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Parses the groups of one side of "::"; the last group of the address may be dotted IPv4. */
function parseGroups(text: string, mayEndInIpv4: boolean): number[] | null {
  if (text === "") return [];
  const parts = text.split(":");
  const words: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (mayEndInIpv4 && i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIpv4(part);
      if (v4 === null) return null;
      words.push(v4 >>> 16, v4 & 0xffff);
    } else if (GROUP.test(part)) {
      words.push(parseInt(part, 16));
    } else {
      return null;
    }
  }
  return words;
}

/**
 * Parses IPv6 text as glibc's `inet_pton(AF_INET6)` does: hex groups of 1..4 digits, one `::`
 * standing for at least one zero group, an optional dotted IPv4 tail, no zone id. Returns the eight
 * 16-bit groups, or null.
 *
 * @example
 * ```ts
 * import { parseIpv6 } from "./ipv6_text.ts";
 * parseIpv6("fd00::2"); // [0xfd00, 0, 0, 0, 0, 0, 0, 2]
 * parseIpv6("fe80::1%eth0"); // null
 * ```
 */
export function parseIpv6(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  if (halves.length === 1) {
    const words = parseGroups(text, true);
    return words !== null && words.length === 8 ? words : null;
  }
  const head = parseGroups(halves[0], false);
  const tail = parseGroups(halves[1], true);
  if (head === null || tail === null) return null;
  const zeros = 8 - head.length - tail.length;
  if (zeros < 1) return null; // "::" would stand for no group at all
  return [...head, ...new Array<number>(zeros).fill(0), ...tail];
}

/**
 * Formats eight 16-bit groups as glibc's `inet_ntop(AF_INET6)` does: lower-case hex, the first
 * longest run of two or more zero groups as `::`, IPv4-compatible and IPv4-mapped addresses with a
 * dotted tail.
 *
 * @example
 * ```ts
 * import { formatIpv6 } from "./ipv6_text.ts";
 * formatIpv6([0xfd00, 0, 0, 0, 0, 0, 0, 2]); // "fd00::2"
 * formatIpv6([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0202]); // "::ffff:10.0.2.2"
 * ```
 */
export function formatIpv6(words: readonly number[]): string {
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ":";
      continue;
    }
    if (i !== 0) out += ":";
    // glibc: "Is this address an encapsulated IPv4?"
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += `${words[6] >>> 8}.${words[6] & 0xff}.${words[7] >>> 8}.${words[7] & 0xff}`;
      return out;
    }
    out += words[i].toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ":";
  return out;
}
