import assert from "node:assert/strict";
import { CONTINUATION_FLAG, handoffArgument, parseHandoff, takeHandoff } from "./handoff.ts";

const api = { fd: 6, dirFd: 7, name: "api.sock", dev: "2049", ino: "18446744073709551615" };

Deno.test("takeHandoff() round-trips what handoffArgument() wrote, API socket included", () => {
  const argv = [handoffArgument({ tapFd: 5, api }), "-c", "--enable-sandbox", "1234", "tap0"];
  assert.deepEqual(takeHandoff(argv), {
    handoff: { tapFd: 5, api },
    args: ["-c", "--enable-sandbox", "1234", "tap0"],
  });
});

Deno.test("takeHandoff() round-trips the --pcap file's fd", () => {
  const argv = [handoffArgument({ tapFd: 5, api, pcapFd: 9 }), "--pcap=x", "1234", "tap0"];
  assert.deepEqual(takeHandoff(argv).handoff, { tapFd: 5, api, pcapFd: 9 });
  assert.deepEqual(parseHandoff('{"tapFd":5,"pcapFd":3}'), { tapFd: 5, pcapFd: 3 });
});

Deno.test("takeHandoff() leaves an ordinary command line alone, the flag anywhere but first too", () => {
  assert.deepEqual(takeHandoff(["-c", "1234", "tap0"]), {
    handoff: null,
    args: ["-c", "1234", "tap0"],
  });
  const late = ["-c", handoffArgument({ tapFd: 5 })];
  assert.deepEqual(takeHandoff(late), { handoff: null, args: late });
  assert.deepEqual(takeHandoff([]), { handoff: null, args: [] });
});

Deno.test("takeHandoff() reports a malformed handoff instead of guessing", () => {
  for (
    const bad of [
      "",
      "{",
      "null",
      "[]",
      '{"tapFd":-1}',
      '{"tapFd":"5"}',
      '{"tapFd":1.5}',
      '{"tapFd":5,"api":null}',
      '{"tapFd":5,"pcapFd":-3}',
      '{"tapFd":5,"pcapFd":"3"}',
      '{"tapFd":5,"api":{"fd":6,"dirFd":7,"name":"a/b","dev":"1","ino":"2"}}',
      '{"tapFd":5,"api":{"fd":6,"dirFd":7,"name":"","dev":"1","ino":"2"}}',
      '{"tapFd":5,"api":{"fd":6,"dirFd":7,"name":"a","dev":1,"ino":"2"}}',
      '{"tapFd":5,"api":{"fd":6,"name":"a","dev":"1","ino":"2"}}',
    ]
  ) {
    const outcome = takeHandoff([CONTINUATION_FLAG + bad, "1234", "tap0"]);
    assert.equal(outcome.handoff, null, bad);
    assert.match(outcome.error ?? "", /malformed/, bad);
    assert.equal(parseHandoff(bad), null, bad);
  }
});
