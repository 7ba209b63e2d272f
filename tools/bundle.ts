/**
 * `deno task bundle` (run by `deno task prepublish`, `deno task compile`, tests/run.sh and
 * bench/run.sh too): writes src/bundled/ (build output, not in git), what a registry run and a
 * compiled binary run (cli.ts, src/workers/urls.ts), from the TypeScript sources with `deno bundle
 * --platform deno`:
 *
 * - one file per Worker (tap_reader.js, tcp_table.js, dns_resolver.js): a Worker's graph of
 *   about 40 modules loads in about half the time as one file;
 * - the command, src/cli/command.ts, as command.js with chunks (`--code-splitting`): command.js
 *   is what runs before the tap exists, the chunks are its dynamic imports (the stack, the API,
 *   the sandbox) and the modules they share with it, so that every module is evaluated once.
 *
 * The prebuilt shims and launchers (native/prebuilt/) stay separate modules, imported by a
 * literal path relative to the bundle, as the sources import them relative to src/ffi/: every
 * directory in src/ is two levels below the root, so the `new URL("../../native/…",
 * import.meta.url)` and `new URL("../workers/…", import.meta.url)` of the sources point at the
 * same files from src/bundled/.
 *
 * tests/integration/package_test.ts fails when src/bundled/ is not what this writes from the
 * current sources.
 *
 * Run with: deno run --allow-read --allow-write --allow-run --allow-env tools/bundle.ts
 */

/** The repository's root. */
const ROOT = new URL("../", import.meta.url);

/** Where the bundles go. */
export const BUNDLE_DIR: URL = new URL("src/bundled/", ROOT);

/** The Worker entry modules, each bundled into one file of the same base name. */
export const WORKER_ENTRIES = [
  "src/workers/tap_reader.ts",
  "src/workers/tcp_table.ts",
  "src/workers/dns_resolver.ts",
] as const;

/** The command's entry module, bundled into command.js and its chunks. */
export const COMMAND_ENTRY = "src/cli/command.ts";

const PREBUILT = "native/prebuilt/";

async function denoBundle(args: string[]): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "deno", "--external", `./${PREBUILT}*`, ...args],
    cwd: decodeURIComponent(ROOT.pathname),
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  }).output();
  if (!result.success) {
    throw new Error(`deno bundle failed:\n${new TextDecoder().decode(result.stderr)}`);
  }
}

/**
 * Bundles the sources into the directory `out` (a path; created, emptied first) and returns the
 * names of the files written.
 */
export async function bundle(out: string): Promise<string[]> {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(out, { recursive: true });
  await denoBundle(["--outdir", out, ...WORKER_ENTRIES]);
  await denoBundle(["--code-splitting", "--outdir", out, COMMAND_ENTRY]);
  // esbuild writes an external module's absolute path; the bundles are two levels below the
  // root, as the modules that import native/prebuilt/ are.
  const absolute = decodeURIComponent(new URL(PREBUILT, ROOT).pathname);
  const root = decodeURIComponent(ROOT.pathname).replace(/\/$/, "");
  const names = [...Deno.readDirSync(out)].map((entry) => entry.name).sort();
  for (const name of names) {
    const path = `${out}/${name}`;
    const text = Deno.readTextFileSync(path).replaceAll(`"${absolute}`, `"../../${PREBUILT}`);
    if (text.includes(root)) throw new Error(`${name} names a path in ${root}`);
    Deno.writeTextFileSync(path, text);
  }
  return names;
}

if (import.meta.main) {
  const out = decodeURIComponent(BUNDLE_DIR.pathname).replace(/\/$/, "");
  for (const name of await bundle(out)) {
    console.log(`src/bundled/${name}: ${Deno.statSync(`${out}/${name}`).size} bytes`);
  }
}
