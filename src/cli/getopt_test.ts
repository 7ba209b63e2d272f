// Expected results were checked against glibc 2.36's getopt_long with the same tables.
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { getoptLong, type GetoptResult, type LongOption } from "./getopt.ts";

const SHORT = "ce:r:m:a:6hvo::";
const LONG: LongOption[] = [
  { name: "configure", hasArg: "none", id: "c" },
  { name: "exit-fd", hasArg: "required", id: "e" },
  { name: "mtu", hasArg: "required", id: "m" },
  { name: "cidr", hasArg: "required", id: "cidr" },
  { name: "disable-host-loopback", hasArg: "none", id: "disable-host-loopback" },
  { name: "api-socket", hasArg: "required", id: "a" },
  { name: "enable-sandbox", hasArg: "none", id: "enable-sandbox" },
  { name: "enable-seccomp", hasArg: "none", id: "enable-seccomp" },
  { name: "outbound-addr", hasArg: "required", id: "outbound-addr" },
  { name: "outbound-addr6", hasArg: "required", id: "outbound-addr6" },
  { name: "disable-dns", hasArg: "none", id: "disable-dns" },
  { name: "opt", hasArg: "optional", id: "opt" },
  // Same has_arg and id as "help": abbreviations matching both are not ambiguous.
  { name: "help", hasArg: "none", id: "h" },
  { name: "helpme", hasArg: "none", id: "h" },
];

const scan = (...argv: string[]): GetoptResult => getoptLong(argv, SHORT, LONG);
const errorOf = (...argv: string[]): string | undefined => scan(...argv).error?.message;

Deno.test("getoptLong() permutes options and positionals, keeping both orders", () => {
  deepStrictEqual(scan("-c", "1234", "--api-socket", "/a.sock", "tap11", "-6"), {
    options: [{ id: "c" }, { id: "a", value: "/a.sock" }, { id: "6" }],
    positionals: ["1234", "tap11"],
  });
  deepStrictEqual(scan("-c", "1234", "--cidr", "10.0.135.128/25", "tap11"), {
    options: [{ id: "c" }, { id: "cidr", value: "10.0.135.128/25" }],
    positionals: ["1234", "tap11"],
  });
});

Deno.test("getoptLong() takes --opt=val and --opt val", () => {
  deepStrictEqual(scan("--mtu=9000", "--mtu", "65520").options, [
    { id: "m", value: "9000" },
    { id: "m", value: "65520" },
  ]);
  deepStrictEqual(scan("--mtu=").options, [{ id: "m", value: "" }]);
  deepStrictEqual(scan("--mtu=9000=1").options, [{ id: "m", value: "9000=1" }]);
});

Deno.test("getoptLong() takes a required argument whatever it looks like", () => {
  deepStrictEqual(scan("--mtu", "--cidr").options, [{ id: "m", value: "--cidr" }]);
  deepStrictEqual(scan("-m", "-5").options, [{ id: "m", value: "-5" }]);
  deepStrictEqual(scan("--mtu", "--", "x"), {
    options: [{ id: "m", value: "--" }],
    positionals: ["x"],
  });
});

Deno.test("getoptLong() splits bundled short options and attached arguments", () => {
  deepStrictEqual(scan("-c6m9000").options, [{ id: "c" }, { id: "6" }, { id: "m", value: "9000" }]);
  deepStrictEqual(scan("-m9000").options, [{ id: "m", value: "9000" }]);
  deepStrictEqual(scan("-m", "9000").options, [{ id: "m", value: "9000" }]);
  deepStrictEqual(scan("-cm", "5", "p").options, [{ id: "c" }, { id: "m", value: "5" }]);
  deepStrictEqual(scan("-cm", "5", "p").positionals, ["p"]);
  deepStrictEqual(scan("-hc").options, [{ id: "h" }, { id: "c" }]);
});

Deno.test("getoptLong() takes optional arguments only when attached", () => {
  deepStrictEqual(scan("-ofoo").options, [{ id: "o", value: "foo" }]);
  deepStrictEqual(scan("-o", "foo"), { options: [{ id: "o" }], positionals: ["foo"] });
  deepStrictEqual(scan("--opt=foo").options, [{ id: "opt", value: "foo" }]);
  deepStrictEqual(scan("--opt", "foo"), { options: [{ id: "opt" }], positionals: ["foo"] });
});

Deno.test("getoptLong() accepts unique prefixes of long options", () => {
  deepStrictEqual(scan("--api=/x.sock").options, [{ id: "a", value: "/x.sock" }]);
  deepStrictEqual(scan("--disable-host").options, [{ id: "disable-host-loopback" }]);
  deepStrictEqual(scan("--conf").options, [{ id: "c" }]);
  deepStrictEqual(scan("--ci", "x").options, [{ id: "cidr", value: "x" }]);
  deepStrictEqual(scan("--ex=3").options, [{ id: "e", value: "3" }]);
});

Deno.test("getoptLong() prefers an exact match over longer options it prefixes", () => {
  deepStrictEqual(scan("--outbound-addr", "x").options, [{ id: "outbound-addr", value: "x" }]);
  deepStrictEqual(scan("--outbound-addr6=y").options, [{ id: "outbound-addr6", value: "y" }]);
  deepStrictEqual(scan("--help").options, [{ id: "h" }]);
});

Deno.test("getoptLong() does not call prefixes of equivalent options ambiguous", () => {
  deepStrictEqual(scan("--hel").options, [{ id: "h" }]);
});

Deno.test("getoptLong() reports an ambiguous prefix with glibc's message", () => {
  strictEqual(
    errorOf("--enable-s"),
    "slirp4netns: option '--enable-s' is ambiguous; possibilities: '--enable-sandbox' '--enable-seccomp'",
  );
  strictEqual(
    errorOf("--outbound", "x"),
    "slirp4netns: option '--outbound' is ambiguous; possibilities: '--outbound-addr' '--outbound-addr6'",
  );
  strictEqual(
    errorOf("--d"),
    "slirp4netns: option '--d' is ambiguous; possibilities: '--disable-host-loopback' '--disable-dns'",
  );
  // The "=value" part is echoed, as glibc prints its whole __nextchar.
  strictEqual(
    errorOf("--enable-s=1"),
    "slirp4netns: option '--enable-s=1' is ambiguous; possibilities: '--enable-sandbox' '--enable-seccomp'",
  );
  strictEqual(scan("--enable-s").error?.kind, "ambiguous");
});

Deno.test("getoptLong() reports unknown options", () => {
  strictEqual(errorOf("--bogus"), "slirp4netns: unrecognized option '--bogus'");
  strictEqual(errorOf("--bogus=1"), "slirp4netns: unrecognized option '--bogus=1'");
  strictEqual(errorOf("---x"), "slirp4netns: unrecognized option '---x'");
  strictEqual(errorOf("-x"), "slirp4netns: invalid option -- 'x'");
  strictEqual(errorOf("-cx"), "slirp4netns: invalid option -- 'x'");
  strictEqual(errorOf("-c-"), "slirp4netns: invalid option -- '-'");
  strictEqual(errorOf("-:"), "slirp4netns: invalid option -- ':'");
  strictEqual(scan("-x").error?.kind, "invalid");
  strictEqual(scan("--bogus").error?.kind, "unrecognized");
});

Deno.test("getoptLong() reports missing arguments", () => {
  strictEqual(errorOf("-m"), "slirp4netns: option requires an argument -- 'm'");
  strictEqual(errorOf("-cm"), "slirp4netns: option requires an argument -- 'm'");
  strictEqual(errorOf("--mtu"), "slirp4netns: option '--mtu' requires an argument");
  // The full name, not the abbreviation.
  strictEqual(errorOf("--cid"), "slirp4netns: option '--cidr' requires an argument");
  strictEqual(scan("--mtu").error?.kind, "missingArgument");
});

Deno.test("getoptLong() reports an argument given to an option that takes none", () => {
  strictEqual(
    errorOf("--configure=1"),
    "slirp4netns: option '--configure' doesn't allow an argument",
  );
  strictEqual(errorOf("--conf=1"), "slirp4netns: option '--configure' doesn't allow an argument");
  strictEqual(scan("--conf=1").error?.kind, "unexpectedArgument");
});

Deno.test("getoptLong() keeps the options before an error and stops there", () => {
  deepStrictEqual(scan("-6", "p1", "--bogus", "-c", "p2"), {
    options: [{ id: "6" }],
    positionals: ["p1"],
    error: { kind: "unrecognized", message: "slirp4netns: unrecognized option '--bogus'" },
  });
});

Deno.test("getoptLong() ends options at --", () => {
  deepStrictEqual(scan("a", "--", "-c", "--mtu=1", "--"), {
    options: [],
    positionals: ["a", "-c", "--mtu=1", "--"],
  });
  deepStrictEqual(scan("--"), { options: [], positionals: [] });
});

Deno.test("getoptLong() treats a lone - as a positional", () => {
  deepStrictEqual(scan("-", "-c"), { options: [{ id: "c" }], positionals: ["-"] });
  deepStrictEqual(scan("a", "-", "b", "-c", "--", "-c"), {
    options: [{ id: "c" }],
    positionals: ["a", "-", "b", "-c"],
  });
});

Deno.test("getoptLong() stops at the first positional with a leading +", () => {
  deepStrictEqual(getoptLong(["-c", "p", "-6"], "+c6", []), {
    options: [{ id: "c" }],
    positionals: ["p", "-6"],
  });
});

Deno.test("getoptLong() prefixes messages with the program name given", () => {
  strictEqual(
    getoptLong(["-x"], "c", [], { programName: "prog" }).error?.message,
    "prog: invalid option -- 'x'",
  );
});

Deno.test("getoptLong() with no arguments returns nothing", () => {
  deepStrictEqual(scan(), { options: [], positionals: [] });
  deepStrictEqual(getoptLong(["--x"], "", []).error?.kind, "unrecognized");
});

Deno.test("getoptLong() lists only the first match and the differing ones as possibilities", () => {
  const table: LongOption[] = [
    { name: "xa", hasArg: "none", id: "1" },
    { name: "xb", hasArg: "none", id: "1" },
    { name: "xc", hasArg: "none", id: "2" },
  ];
  strictEqual(
    getoptLong(["--x"], "", table).error?.message,
    "slirp4netns: option '--x' is ambiguous; possibilities: '--xa' '--xc'",
  );
});
