import assert from "node:assert/strict";
import { MODULE_LOADER_URL } from "./module_cache.ts";

const ROOT = new URL("../../", import.meta.url);

/** The program's own modules (what `deno publish` ships), tests and tools left out. */
function programModules(dir: URL = new URL("src/", ROOT)): URL[] {
  const found: URL[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) {
      if (entry.name !== "testdata") found.push(...programModules(url));
    } else if (
      entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts") && !entry.name.startsWith("_")
    ) {
      found.push(url);
    }
  }
  return found;
}

/**
 * The targets of the literal dynamic imports and module URLs (`new URL("….ts", import.meta.url)`,
 * or `.js` for a bundle).
 */
function reached(module: URL): URL[] {
  const text = Deno.readTextFileSync(module);
  return [
    ...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
    ...text.matchAll(/new URL\(\s*"([^"]+\.[jt]s)"\s*,\s*import\.meta\.url\s*\)/g),
  ].map((match) => new URL(match[1], module));
}

/** Modules only the first image loads (the continuation never does): the launcher, the loader. */
const FIRST_IMAGE_ONLY = /(native\/prebuilt\/launcher_\w+|src\/workers\/module_loader)\.ts$/;

Deno.test("the module loader imports every module the program reaches by a dynamic import or as a Worker", () => {
  const loaded = new Set(reached(MODULE_LOADER_URL).map((url) => url.href));
  const missing: string[] = [];
  const modules = [...programModules(), new URL("cli.ts", ROOT), new URL("mod.ts", ROOT)];
  for (const module of modules) {
    if (module.href === MODULE_LOADER_URL.href) continue;
    for (const target of reached(module)) {
      if (FIRST_IMAGE_ONLY.test(target.href) || loaded.has(target.href)) continue;
      missing.push(
        `${target.href.slice(ROOT.href.length)} (from ${module.href.slice(ROOT.href.length)})`,
      );
    }
  }
  assert.deepEqual(missing, []);
  // Both architectures' shims are named (the loader picks the running one).
  for (const arch of ["x86_64", "aarch64"]) {
    assert.ok(loaded.has(new URL(`native/prebuilt/${arch}.ts`, ROOT).href), arch);
  }
});

Deno.test("the command's preloadCommandModules imports every module the command imports later (the bundle's chunks)", () => {
  const command = new URL("src/cli/command.ts", ROOT);
  const text = Deno.readTextFileSync(command);
  const preload = text.slice(text.indexOf("export async function preloadCommandModules"));
  const targets = (part: string) =>
    new Set([...part.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)].map((match) => match[1]));
  const preloaded = targets(preload);
  assert.ok(preloaded.size > 0);
  assert.deepEqual([...targets(text)].filter((target) => !preloaded.has(target)), []);
});
