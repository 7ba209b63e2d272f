/**
 * The host's nameservers, from resolv.conf (resolv.conf(5); glibc `res_init`): the ordered list a
 * DNS forwarder tries one after the other, the `options timeout:`/`attempts:` it honours, and change
 * detection the way libslirp does it (at most one stat(2) a second, re-parse only when dev, inode,
 * size or mtime changed). Used by the UDP resolver worker and by the TCP relay for 10.0.2.3:53.
 *
 * Parsing follows glibc: a keyword at the start of a line followed by a blank; the first word
 * after `nameserver` is the address (anything after it is ignored, so trailing comments work);
 * lines starting with `#` or `;` are comments. Differences, on purpose: every nameserver is kept
 * (up to {@link MAX_NAMESERVERS}; glibc uses three, slirp4netns only the first), and IPv6
 * nameservers with a numeric `%scope` are kept (a named scope needs if_nametoindex and is dropped).
 * No usable nameserver (or no file) means 127.0.0.1, as glibc and later libslirp do.
 */

import { parseIpv4, parseIpv6Groups } from "../wire/address.ts";

/** Where the host's resolver configuration lives. */
export const RESOLV_CONF_PATH = "/etc/resolv.conf";
/** The DNS port (RFC 1035 §4.2). */
export const DNS_PORT = 53;
/** Nameservers kept from one file; further lines are ignored. */
export const MAX_NAMESERVERS = 8;
/** Time to wait for one upstream before trying the next, unless `options timeout:` says. */
export const DEFAULT_TIMEOUT_MS = 2000;
/** Rounds over the whole list, unless `options attempts:` says (glibc RES_DFLRETRY). */
export const DEFAULT_ATTEMPTS = 2;
/** glibc's caps on `timeout:` (RES_MAXRETRANS, seconds) and `attempts:` (RES_MAXRETRY). */
const MAX_TIMEOUT_S = 30;
const MAX_ATTEMPTS = 5;
/** How often the file is looked at (libslirp: TIMEOUT_DEFAULT, 1000 ms). */
export const RECHECK_INTERVAL_MS = 1000;

/** One upstream nameserver. */
export interface Nameserver {
  family: 4 | 6;
  /** The address as written (without the scope). */
  text: string;
  /** IPv4: the address as a 32-bit number; 0 for IPv6. */
  ipv4: number;
  /** IPv6: the eight 16-bit groups; empty for IPv4. */
  ipv6: readonly number[];
  /** IPv6 numeric scope id (`fe80::1%2`), else 0. */
  scopeId: number;
}

/** What a resolv.conf says, as far as forwarding is concerned. */
export interface ResolvConf {
  /** In file order; never empty (127.0.0.1 when the file names none). */
  nameservers: readonly Nameserver[];
  /** Per-upstream timeout in milliseconds (`options timeout:N`, seconds, 1..30). */
  timeoutMs: number;
  /** Rounds over the list (`options attempts:N`, 1..5). */
  attempts: number;
  /** `options rotate`: start each query at the next nameserver (round robin). */
  rotate: boolean;
  /** True when no usable nameserver was found and 127.0.0.1 stands in. */
  defaulted: boolean;
}

/** The fallback nameserver: the local machine (glibc's default). */
export const LOCALHOST_NAMESERVER: Nameserver = Object.freeze({
  family: 4,
  text: "127.0.0.1",
  ipv4: 0x7f000001,
  ipv6: Object.freeze([]) as readonly number[],
  scopeId: 0,
});

/**
 * Parses one nameserver address as resolv.conf allows it: dotted IPv4, or IPv6 with an optional
 * numeric `%scope`. Returns null for anything else.
 *
 * @example
 * ```ts
 * import { parseNameserver } from "./resolv_conf.ts";
 * parseNameserver("127.0.0.53")?.ipv4; // 0x7f000035
 * parseNameserver("fe80::1%3")?.scopeId; // 3
 * parseNameserver("dns.example"); // null
 * ```
 */
export function parseNameserver(word: string): Nameserver | null {
  const ipv4 = parseIpv4(word);
  if (ipv4 !== null) return { family: 4, text: word, ipv4, ipv6: [], scopeId: 0 };
  const percent = word.indexOf("%");
  const address = percent < 0 ? word : word.slice(0, percent);
  let scopeId = 0;
  if (percent >= 0) {
    const scope = word.slice(percent + 1);
    if (!/^[0-9]{1,10}$/.test(scope) || Number(scope) > 0xffffffff) return null;
    scopeId = Number(scope);
  }
  const ipv6 = parseIpv6Groups(address);
  if (ipv6 === null) return null;
  return { family: 6, text: address, ipv4: 0, ipv6, scopeId };
}

function clampedOption(value: string, max: number): number | null {
  if (!/^[0-9]+$/.test(value)) return null;
  return Math.min(Math.max(Number(value), 1), max);
}

/**
 * Parses resolv.conf text. Never throws: unusable lines are skipped.
 *
 * @example
 * ```ts
 * import { parseResolvConf } from "./resolv_conf.ts";
 * const conf = parseResolvConf("nameserver 127.0.0.53\nnameserver ::1\noptions timeout:1\n");
 * conf.nameservers.map((n) => n.text); // ["127.0.0.53", "::1"]
 * conf.timeoutMs; // 1000
 * ```
 */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: Nameserver[] = [];
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  let attempts = DEFAULT_ATTEMPTS;
  let rotate = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.startsWith(";")) continue;
    const words = line.split(/[ \t\r\f\v]+/);
    const keyword = words[0];
    // glibc: the keyword must be followed by a blank ("nameserver1.2.3.4" is not a line).
    if (words.length < 2) continue;
    if (keyword === "nameserver") {
      if (nameservers.length >= MAX_NAMESERVERS) continue;
      const nameserver = parseNameserver(words[1]);
      if (nameserver !== null) nameservers.push(nameserver);
    } else if (keyword === "options") {
      for (const word of words.slice(1)) {
        if (word.startsWith("timeout:")) {
          const value = clampedOption(word.slice(8), MAX_TIMEOUT_S);
          if (value !== null) timeoutMs = value * 1000;
        } else if (word.startsWith("attempts:")) {
          const value = clampedOption(word.slice(9), MAX_ATTEMPTS);
          if (value !== null) attempts = value;
        } else if (word === "rotate") {
          rotate = true;
        }
      }
    }
  }
  const defaulted = nameservers.length === 0;
  return {
    nameservers: defaulted ? [LOCALHOST_NAMESERVER] : nameservers,
    timeoutMs,
    attempts,
    rotate,
    defaulted,
  };
}

/** The file system as the watcher needs it; `null` means the file cannot be read. */
export interface ResolvConfFiles {
  /** A value that changes whenever the file does: dev, inode, size and mtime, joined. */
  stamp(path: string): string | null;
  /** The file's text. */
  read(path: string): string | null;
}

/**
 * Keeps the parsed resolv.conf current: {@link ResolvConfWatcher.current} looks at the file at most
 * once per {@link RECHECK_INTERVAL_MS} and re-parses it only when its stamp changed. The clock is
 * injected (`now` in milliseconds, monotonic).
 *
 * @example
 * ```ts
 * import { ResolvConfWatcher } from "./resolv_conf.ts";
 * let text = "nameserver 127.0.0.1\n";
 * const watcher = new ResolvConfWatcher({ stamp: () => text, read: () => text });
 * watcher.current(0).nameservers[0].text; // "127.0.0.1"
 * text = "nameserver 127.0.0.2\n";
 * watcher.current(500).nameservers[0].text; // still "127.0.0.1": checked less than 1 s ago
 * watcher.current(1000).nameservers[0].text; // "127.0.0.2"
 * ```
 */
export class ResolvConfWatcher {
  readonly #files: ResolvConfFiles;
  readonly #path: string;
  #checkedAt = -Infinity;
  #stamp: string | null | undefined = undefined;
  #conf: ResolvConf = parseResolvConf("");
  #generation = 0;

  constructor(files: ResolvConfFiles, path: string = RESOLV_CONF_PATH) {
    this.#files = files;
    this.#path = path;
  }

  /** The configuration as of `now` (re-read when due and changed). */
  current(now: number): ResolvConf {
    if (now - this.#checkedAt >= RECHECK_INTERVAL_MS || now < this.#checkedAt) {
      this.#checkedAt = now;
      const stamp = this.#files.stamp(this.#path);
      if (stamp !== this.#stamp) {
        this.#stamp = stamp;
        const text = stamp === null ? null : this.#files.read(this.#path);
        this.#conf = parseResolvConf(text ?? "");
        this.#generation++;
      }
    }
    return this.#conf;
  }

  /** Increases every time the configuration was (re-)parsed: lets callers reset per-list state. */
  get generation(): number {
    return this.#generation;
  }
}
