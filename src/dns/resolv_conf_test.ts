import assert from "node:assert/strict";
import { loadShim } from "../ffi/shim.ts";
import { shimFiles } from "../ffi/files.ts";
import {
  DEFAULT_ATTEMPTS,
  DEFAULT_TIMEOUT_MS,
  MAX_NAMESERVERS,
  parseNameserver,
  parseResolvConf,
  RECHECK_INTERVAL_MS,
  type ResolvConfFiles,
  ResolvConfWatcher,
} from "./resolv_conf.ts";

const texts = (conf: { nameservers: readonly { text: string }[] }) =>
  conf.nameservers.map((n) => n.text);

Deno.test("parseResolvConf() keeps every nameserver in file order", () => {
  const conf = parseResolvConf(
    "# generated\nsearch example\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\n",
  );
  assert.deepEqual(texts(conf), ["127.0.0.53", "192.0.2.1", "::1"]);
  assert.equal(conf.nameservers[0].family, 4);
  assert.equal(conf.nameservers[0].ipv4, 0x7f000035);
  assert.equal(conf.nameservers[2].family, 6);
  assert.deepEqual(conf.nameservers[2].ipv6, [0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(conf.defaulted, false);
  assert.equal(conf.timeoutMs, DEFAULT_TIMEOUT_MS);
  assert.equal(conf.attempts, DEFAULT_ATTEMPTS);
});

Deno.test("parseResolvConf() skips comments, bad addresses and keywords without a blank", () => {
  const conf = parseResolvConf(
    [
      "#nameserver 10.0.0.1",
      "; nameserver 10.0.0.2",
      "nameserver10.0.0.3",
      "nameserver",
      "nameserver dns.example",
      "nameserver 300.1.1.1",
      "nameserver 01.2.3.4",
      "nameserver fe80::1%eth0",
      "Nameserver 10.0.0.4",
      "nameserver\t10.0.0.5 # trailing words are ignored",
      "nameserver 10.0.0.6\r",
    ].join("\n"),
  );
  assert.deepEqual(texts(conf), ["10.0.0.5", "10.0.0.6"]);
});

Deno.test("parseResolvConf() without a usable nameserver falls back to 127.0.0.1", () => {
  for (const text of ["", "search example\n", "nameserver bogus\n", "\0\0\0garbage"]) {
    const conf = parseResolvConf(text);
    assert.deepEqual(texts(conf), ["127.0.0.1"]);
    assert.equal(conf.defaulted, true);
  }
});

Deno.test("parseResolvConf() keeps at most MAX_NAMESERVERS", () => {
  const lines = Array.from({ length: 20 }, (_, i) => `nameserver 127.0.0.${i + 1}`);
  const conf = parseResolvConf(lines.join("\n"));
  assert.equal(conf.nameservers.length, MAX_NAMESERVERS);
  assert.equal(conf.nameservers[0].text, "127.0.0.1");
});

Deno.test("parseResolvConf() reads timeout, attempts and rotate, clamped like glibc", () => {
  const conf = parseResolvConf("options ndots:2 timeout:3 attempts:2 rotate\nnameserver ::1\n");
  assert.equal(conf.timeoutMs, 3000);
  assert.equal(conf.attempts, 2);
  assert.equal(conf.rotate, true);
  const clamped = parseResolvConf("options timeout:99 attempts:0\noptions timeout:x\n");
  assert.equal(clamped.timeoutMs, 30_000);
  assert.equal(clamped.attempts, 1);
});

Deno.test("parseNameserver() accepts a numeric IPv6 scope only", () => {
  assert.equal(parseNameserver("fe80::1%2")?.scopeId, 2);
  assert.equal(parseNameserver("fe80::1%2")?.text, "fe80::1");
  assert.equal(parseNameserver("fe80::1%"), null);
  assert.equal(parseNameserver("fe80::1%99999999999"), null);
  assert.equal(parseNameserver("1.2.3.4%1"), null);
  assert.equal(parseNameserver(""), null);
});

class FakeFiles implements ResolvConfFiles {
  text: string | null = "nameserver 127.0.0.1\n";
  stamps = 0;
  reads = 0;
  stamp(): string | null {
    this.stamps++;
    return this.text === null ? null : `stamp:${this.text}`;
  }
  read(): string | null {
    this.reads++;
    return this.text;
  }
}

Deno.test("ResolvConfWatcher stats at most once a second and re-reads only on change", () => {
  const files = new FakeFiles();
  const watcher = new ResolvConfWatcher(files);
  assert.deepEqual(texts(watcher.current(0)), ["127.0.0.1"]);
  assert.equal(watcher.generation, 1);
  for (let t = 1; t < RECHECK_INTERVAL_MS; t += 100) watcher.current(t);
  assert.equal(files.stamps, 1);
  watcher.current(RECHECK_INTERVAL_MS);
  assert.equal(files.stamps, 2);
  assert.equal(files.reads, 1, "unchanged stamp: not read again");
  files.text = "nameserver 127.0.0.2\nnameserver 127.0.0.3\n";
  assert.deepEqual(texts(watcher.current(RECHECK_INTERVAL_MS + 10)), ["127.0.0.1"]);
  assert.deepEqual(texts(watcher.current(2 * RECHECK_INTERVAL_MS)), ["127.0.0.2", "127.0.0.3"]);
  assert.equal(watcher.generation, 2);
  files.text = null;
  const gone = watcher.current(3 * RECHECK_INTERVAL_MS);
  assert.equal(gone.defaulted, true);
  assert.deepEqual(texts(gone), ["127.0.0.1"]);
});

Deno.test("shimFiles() stats and reads through the shim, needing no read permission", async () => {
  const files = shimFiles(await loadShim());
  assert.equal(files.stamp("/nonexistent/resolv.conf"), null);
  assert.equal(files.read("/nonexistent/resolv.conf"), null);
  const denoJson = new URL("../../deno.json", import.meta.url).pathname;
  const stamp = files.stamp(denoJson);
  assert.ok(stamp !== null && /^\d+:\d+:\d+:\d+$/.test(stamp), String(stamp));
  assert.notEqual(files.stamp("/"), stamp);
  assert.equal(files.read(denoJson), Deno.readTextFileSync(denoJson));
  const watcher = new ResolvConfWatcher(files, "/nonexistent/resolv.conf");
  assert.equal(watcher.current(0).defaulted, true);
});
