/**
 * `deno task prepublish`: builds the native parts for every architecture the package ships and
 * writes them into native/prebuilt/ as TypeScript modules, with the compiler that built them and
 * a digest of their sources:
 *
 * - the shim (native/*.c, native/shim_cc.sh) as `prebuilt/ARCH.ts`, base64: src/ffi/locate.ts
 *   loads it through a memfd when there is no local build;
 * - the sandbox launcher (native/launcher/*.c, launcher_cc.sh), a static executable, as
 *   `prebuilt/launcher_ARCH.ts`, gzip then base64 (it is mostly the static libc): executed from
 *   a memfd by `--enable-sandbox` when there is no local build (src/sandbox/mod.ts).
 *
 * So the package runs on a machine with no C compiler; tests/integration/package_test.ts fails
 * when the shipped copies no longer match the sources (digest) or, with the same compiler, the
 * bytes the sources build.
 *
 * Compilers: `x86_64-linux-gnu-gcc` and `aarch64-linux-gnu-gcc` (Debian's `gcc` and
 * `gcc-aarch64-linux-gnu`, with `libc6-dev` and `libc6-dev-arm64-cross` for the static launcher),
 * or `SHIM_CC_X86_64` / `SHIM_CC_AARCH64`.
 *
 * Run with: deno run --allow-read --allow-write --allow-run --allow-env native/prebuild.ts
 */

import { gunzip } from "../src/ffi/locate.ts";

/** The architectures (`Deno.build.arch`) the prebuilt parts ship for. */
export const PREBUILT_ARCHES = ["x86_64", "aarch64"] as const;
export type PrebuiltArch = typeof PREBUILT_ARCHES[number];

/** The native parts that ship prebuilt. */
export const NATIVE_PARTS = ["shim", "launcher"] as const;
export type NativePart = typeof NATIVE_PARTS[number];

const NATIVE = new URL("./", import.meta.url);

/** Where a part's sources (`*.c`) and its compile script are. */
const PART_FILES: Record<NativePart, { dir: URL; script: string }> = {
  shim: { dir: NATIVE, script: "shim_cc.sh" },
  launcher: { dir: new URL("launcher/", NATIVE), script: "launcher_cc.sh" },
};

/** The C compiler for an architecture. */
export function compilerFor(arch: PrebuiltArch): string {
  const variable = `SHIM_CC_${arch.toUpperCase()}`;
  return Deno.env.get(variable) ?? `${arch}-linux-gnu-gcc`;
}

/** The first line of `CC --version`, or null when it cannot be run. */
export async function compilerVersion(cc: string): Promise<string | null> {
  try {
    const result = await new Deno.Command(cc, { args: ["--version"], stderr: "null" }).output();
    if (!result.success) return null;
    return new TextDecoder().decode(result.stdout).split("\n")[0].trim();
  } catch {
    return null;
  }
}

/**
 * SHA-256 over what a part is built from: each of its `*.c` (name and bytes, in C-locale order)
 * and its compile script.
 */
export async function sourcesDigest(part: NativePart = "shim"): Promise<string> {
  const { dir, script } = PART_FILES[part];
  const names = [...Deno.readDirSync(dir)]
    .filter((entry) => entry.isFile && entry.name.endsWith(".c"))
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: Uint8Array[] = [];
  const encoder = new TextEncoder();
  for (const name of [...names, script]) {
    const bytes = Deno.readFileSync(new URL(name, dir));
    parts.push(encoder.encode(`${name}\0${bytes.length}\0`), bytes);
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Builds a part with `cc` into `out` (its compile script); throws with the compiler's output. */
export async function buildPart(part: NativePart, cc: string, out: string): Promise<void> {
  const { dir, script } = PART_FILES[part];
  const path = decodeURIComponent(new URL(script, dir).pathname);
  const result = await new Deno.Command("sh", { args: [path, cc, out] }).output();
  if (!result.success) {
    const stderr = new TextDecoder().decode(result.stderr);
    throw new Error(`Building the ${part} with ${cc} failed:\n${stderr}`);
  }
}

/** The path of a part's generated module for an architecture. */
export function prebuiltModule(arch: PrebuiltArch, part: NativePart = "shim"): URL {
  return new URL(part === "shim" ? `prebuilt/${arch}.ts` : `prebuilt/${part}_${arch}.ts`, NATIVE);
}

/** gzip of `bytes` (the launcher ships compressed: it is mostly the static libc). */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The bytes a generated module carries, as built (the launcher's decompressed). */
export async function prebuiltBytes(
  part: NativePart,
  module: Record<string, unknown>,
): Promise<Uint8Array> {
  if (part === "shim") return Uint8Array.fromBase64(module.SHIM_BASE64 as string);
  return await gunzip(Uint8Array.fromBase64(module.LAUNCHER_GZIP_BASE64 as string));
}

/** The text of a generated module. */
export async function prebuiltSource(
  part: NativePart,
  arch: PrebuiltArch,
  compiler: string,
  digest: string,
  bytes: Uint8Array,
): Promise<string> {
  const head = [
    `// Generated by \`deno task prepublish\` (native/prebuild.ts): do not edit.`,
    part === "shim"
      ? `// The native shim for linux ${arch}, built from native/*.c by native/shim_cc.sh.`
      : `// The sandbox launcher for linux ${arch}, a static executable built from ` +
        `native/launcher/*.c by native/launcher/launcher_cc.sh.`,
    ``,
    `/** The compiler that built it (\`--version\`). */`,
    `export const COMPILER = ${JSON.stringify(compiler)};`,
    `/** SHA-256 of the sources it was built from (prebuild.ts sourcesDigest). */`,
    `export const SOURCES_SHA256 = ${JSON.stringify(digest)};`,
  ];
  const body = part === "shim"
    ? [
      `/** The shared library, base64. */`,
      `export const SHIM_BASE64 = ${JSON.stringify(bytes.toBase64())};`,
    ]
    : [
      `/** The executable (${bytes.length} bytes), gzip, base64. */`,
      `export const LAUNCHER_GZIP_BASE64 = ${JSON.stringify((await gzip(bytes)).toBase64())};`,
    ];
  return [...head, ...body, ``].join("\n");
}

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "slirp4netns-prebuild-" });
  try {
    for (const part of NATIVE_PARTS) {
      const digest = await sourcesDigest(part);
      for (const arch of PREBUILT_ARCHES) {
        const cc = compilerFor(arch);
        const version = await compilerVersion(cc);
        if (version === null) {
          throw new Error(
            `No ${arch} compiler (${cc}); on Debian: apt-get install gcc libc6-dev ` +
              `gcc-aarch64-linux-gnu libc6-dev-arm64-cross`,
          );
        }
        const out = `${dir}/${part}-${arch}`;
        await buildPart(part, cc, out);
        const bytes = Deno.readFileSync(out);
        const module = prebuiltModule(arch, part);
        Deno.writeTextFileSync(module, await prebuiltSource(part, arch, version, digest, bytes));
        const name = module.pathname.slice(NATIVE.pathname.length);
        console.log(`native/${name}: ${part}, ${bytes.length} bytes, ${version}`);
      }
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
