import assert from "node:assert/strict";
import { continuationModules } from "./module_cache.ts";

const ROOT = new URL("../../", import.meta.url);

/** The program's own modules (what `deno publish` ships), tests and tools left out. */
function programModules(dir: URL = ROOT): URL[] {
  const found: URL[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) {
      if (dir.href === ROOT.href && !["src"].includes(entry.name)) continue;
      if (entry.name === "testdata") continue;
      found.push(...programModules(url));
    } else if (
      entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts") &&
      !entry.name.startsWith("_") && (dir.href !== ROOT.href || entry.name !== "mod.ts")
    ) {
      found.push(url);
    }
  }
  return dir.href === ROOT.href
    ? [...found, new URL("cli.ts", ROOT), new URL("mod.ts", ROOT)]
    : found;
}

/** Modules only the first image loads (the continuation never does): the launcher, the loader. */
const FIRST_IMAGE_ONLY = /(native\/prebuilt\/launcher_[a-z0-9_]+|src\/workers\/module_loader)\.ts$/;

Deno.test("continuationModules() lists every module reached by a dynamic import or as a Worker", () => {
  const listed = new Set(
    [...continuationModules("x86_64"), ...continuationModules("aarch64")].map((url) => url.href),
  );
  const missing: string[] = [];
  for (const module of programModules()) {
    const text = Deno.readTextFileSync(module);
    const targets = [
      ...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
      // Worker modules, named by URL (src/workers/urls.ts).
      ...text.matchAll(/new URL\(\s*"([^"]+\.ts)"\s*,\s*import\.meta\.url\s*\)/g),
    ].map((match) => new URL(match[1], module).href);
    for (const target of targets) {
      if (FIRST_IMAGE_ONLY.test(target) || listed.has(target)) continue;
      missing.push(`${target} (from ${module.href.slice(ROOT.href.length)})`);
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("continuationModules() names the shim of the running architecture only", () => {
  const shims = (arch: string) =>
    continuationModules(arch).map((u) => u.href).filter((h) => h.includes("/native/prebuilt/"));
  assert.deepEqual(shims("x86_64").map((h) => h.slice(h.lastIndexOf("/") + 1)), ["x86_64.ts"]);
  assert.deepEqual(shims("aarch64").map((h) => h.slice(h.lastIndexOf("/") + 1)), ["aarch64.ts"]);
  assert.deepEqual(shims("riscv64"), []);
});
