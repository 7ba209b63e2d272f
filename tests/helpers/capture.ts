/** Reading what `--pcap=FILE` wrote, with tcpdump (the capture's format is checked by it). */
import assert from "node:assert/strict";
import { runOk } from "./process.ts";

/** `tcpdump -n -e -r FILE`: its lines; fails the test unless tcpdump read the file cleanly. */
export async function tcpdumpLines(file: string): Promise<string[]> {
  const result = await runOk(["tcpdump", "-n", "-e", "-r", file]);
  assert.doesNotMatch(result.stderr, /truncated|bogus|error/i, result.stderr);
  assert.match(result.stderr, /link-type EN10MB \(Ethernet\), snapshot length 262144/);
  return result.stdout.split("\n").filter((line) => line !== "");
}
