/**
 * A GNU `getopt_long` compatible command-line scanner: argument permutation, bundled short options,
 * `--opt=val` and `--opt val`, unique-prefix abbreviation of long options, and glibc's exact error
 * messages. Read glibc `posix/getopt.c` (`process_long_option`, `_getopt_internal_r`) before
 * changing a branch here; the comments quote the behaviour each branch reproduces.
 *
 * It is pure: it never throws, never prints and never reads the environment (`POSIXLY_CORRECT` is
 * the caller's business: pass a short option string starting with `+`).
 */

/** Whether a long option takes an argument: `no_argument`, `required_argument`, `optional_argument`. */
export type ArgumentKind = "none" | "required" | "optional";

/** One row of the long option table (glibc `struct option` with `flag == NULL`). */
export interface LongOption {
  /** The name without the leading `--`. */
  name: string;
  hasArg: ArgumentKind;
  /** What the scanner reports for this option; by convention the short option letter if it has one. */
  id: string;
}

/** One recognised option, in command-line order. */
export interface ParsedOption {
  /** The short option letter, or the `id` of the long option. */
  id: string;
  /** The argument, when the option took one. */
  value?: string;
}

/** Why scanning stopped; `message` is glibc's text, prefixed with the program name. */
export interface GetoptError {
  kind: "unrecognized" | "ambiguous" | "invalid" | "missingArgument" | "unexpectedArgument";
  message: string;
}

/**
 * The result of a scan. On an error, `options` holds the options recognised before it (in order),
 * so the caller can act on them first, exactly as a C loop over `getopt_long` would.
 */
export interface GetoptResult {
  options: ParsedOption[];
  /** Non-option arguments, in order: those met among the options, then everything after `--`. */
  positionals: string[];
  error?: GetoptError;
}

/** Settings of a scan. */
export interface GetoptSettings {
  /** Prefix of the error messages (glibc uses argv[0]); default "slirp4netns". */
  programName?: string;
}

interface ShortSpec {
  hasArg: ArgumentKind;
}

/** Parses a glibc short option string ("ce:r:m:a::6hv") into a table; a leading `+` means "stop at the first non-option". */
function parseShortOptions(
  shortOptions: string,
): { table: Map<string, ShortSpec>; stopAtFirstNonOption: boolean } {
  let text = shortOptions;
  let stopAtFirstNonOption = false;
  // glibc: a leading '+' selects REQUIRE_ORDER, '-' RETURN_IN_ORDER, then ':' silences messages.
  // Only '+' changes what this scanner reports; the others are accepted and ignored.
  while (text.length > 0 && (text[0] === "+" || text[0] === "-" || text[0] === ":")) {
    if (text[0] === "+") stopAtFirstNonOption = true;
    text = text.slice(1);
  }
  const table = new Map<string, ShortSpec>();
  const chars = Array.from(text);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === ":" || c === ";") continue;
    let hasArg: ArgumentKind = "none";
    if (chars[i + 1] === ":") {
      hasArg = chars[i + 2] === ":" ? "optional" : "required";
      i += hasArg === "optional" ? 2 : 1;
    }
    table.set(c, { hasArg });
  }
  return { table, stopAtFirstNonOption };
}

/**
 * Scans `argv` (without the program name) the way glibc's `getopt_long` does with the default
 * PERMUTE ordering.
 *
 * @example
 * ```ts
 * import { getoptLong } from "./getopt.ts";
 * const result = getoptLong(["-c6m9000", "1234", "--api=/x.sock", "tap0"], "ce:r:m:a:6hv", [
 *   { name: "configure", hasArg: "none", id: "c" },
 *   { name: "api-socket", hasArg: "required", id: "a" },
 * ]);
 * // result.options: c, 6, m=9000, a=/x.sock; result.positionals: ["1234", "tap0"]
 * ```
 */
export function getoptLong(
  argv: readonly string[],
  shortOptions: string,
  longOptions: readonly LongOption[],
  settings: GetoptSettings = {},
): GetoptResult {
  const program = settings.programName ?? "slirp4netns";
  const { table, stopAtFirstNonOption } = parseShortOptions(shortOptions);
  const options: ParsedOption[] = [];
  const positionals: string[] = [];
  const fail = (kind: GetoptError["kind"], text: string): GetoptResult => ({
    options,
    positionals,
    error: { kind, message: `${program}: ${text}` },
  });

  let index = 0;
  while (index < argv.length) {
    const arg = argv[index];
    if (arg === "--") {
      // "The special argument '--' forces an end of option-scanning."
      positionals.push(...argv.slice(index + 1));
      break;
    }
    if (arg.length < 2 || arg[0] !== "-") {
      // A non-option, including a lone "-". PERMUTE: set it aside and keep scanning.
      if (stopAtFirstNonOption) {
        positionals.push(...argv.slice(index));
        break;
      }
      positionals.push(arg);
      index++;
      continue;
    }
    index++;

    if (arg[1] === "-") {
      // process_long_option(): `body` is glibc's __nextchar, which keeps any "=value".
      const body = arg.slice(2);
      const equals = body.indexOf("=");
      const name = equals < 0 ? body : body.slice(0, equals);
      let found = longOptions.find((o) => o.name === name);
      if (found === undefined) {
        // "Didn't find an exact match, so look for abbreviations." A second prefix match is
        // ambiguous only if it differs from the first in has_arg or val.
        const matches = longOptions.filter((o) => o.name.startsWith(name));
        const first = matches[0];
        const differing = matches.filter((o) => o.hasArg !== first.hasArg || o.id !== first.id);
        if (differing.length > 0) {
          // glibc lists the first match and every match that differs from it, in table order.
          const list = [first, ...differing].map((o) => ` '--${o.name}'`).join("");
          return fail("ambiguous", `option '--${body}' is ambiguous; possibilities:${list}`);
        }
        found = first;
      }
      if (found === undefined) return fail("unrecognized", `unrecognized option '--${body}'`);
      if (equals >= 0) {
        if (found.hasArg === "none") {
          // glibc names the option in full here, not as abbreviated.
          return fail("unexpectedArgument", `option '--${found.name}' doesn't allow an argument`);
        }
        options.push({ id: found.id, value: body.slice(equals + 1) });
      } else if (found.hasArg === "required") {
        // The next element is taken whatever it looks like, even "--" or "-x".
        if (index >= argv.length) {
          return fail("missingArgument", `option '--${found.name}' requires an argument`);
        }
        options.push({ id: found.id, value: argv[index++] });
      } else {
        options.push({ id: found.id });
      }
      continue;
    }

    // A cluster of short options: "-c6m9000".
    const chars = Array.from(arg.slice(1));
    for (let i = 0; i < chars.length; i++) {
      const c = chars[i];
      const spec = table.get(c);
      if (spec === undefined) return fail("invalid", `invalid option -- '${c}'`);
      if (spec.hasArg === "none") {
        options.push({ id: c });
        continue;
      }
      const rest = chars.slice(i + 1).join("");
      if (rest.length > 0) {
        options.push({ id: c, value: rest });
      } else if (spec.hasArg === "optional") {
        // An optional argument must be attached ("-a::" takes "-afoo", never "-a foo").
        options.push({ id: c });
      } else if (index < argv.length) {
        options.push({ id: c, value: argv[index++] });
      } else {
        return fail("missingArgument", `option requires an argument -- '${c}'`);
      }
      break;
    }
  }
  return { options, positionals };
}
