/**
 * Where the native parts come from, for this process's architecture: the shim every thread loads,
 * and the sandbox launcher `--enable-sandbox` executes. One small module so that anything that
 * needs them (this runtime's threads, or a re-executed runtime) agrees.
 *
 * The shim, first match wins:
 * 1. `SLIRP4NETNS_SHIM=/path/lib.so` in the environment (only when env access is granted);
 * 2. a local build beside the sources, native/build/libslirp4netns_shim.so (`deno task
 *    build:native`), when this module is a file (a checkout, not a registry download);
 * 3. the copy the package ships for `Deno.build.arch` (native/prebuilt/, `deno task prepublish`):
 *    linux x86_64 and aarch64. It is bytes, meant to be loaded through a memfd, which needs no
 *    file system access (a registry run, a `deno compile` binary).
 *
 * The launcher: the local build native/build/slirp4netns-sandbox in a checkout, else the shipped
 * static executable for this architecture (bytes, executed from a memfd).
 *
 * Anything else is an error naming the platform and how to build from source.
 */

/** The shim as a file to dlopen, or as the bytes of one. */
export type ShimLocation =
  | { kind: "file"; path: string }
  | { kind: "bytes"; bytes: Uint8Array; arch: "x86_64" | "aarch64" };

/** The local build's path, for a checkout. */
export const LOCAL_BUILD: URL = new URL(
  "../../native/build/libslirp4netns_shim.so",
  import.meta.url,
);

function envOverride(): string | undefined {
  const permission = Deno.permissions.querySync({ name: "env", variable: "SLIRP4NETNS_SHIM" });
  return permission.state === "granted" ? Deno.env.get("SLIRP4NETNS_SHIM") || undefined : undefined;
}

/** The local build of the launcher, for a checkout. */
export const LOCAL_LAUNCHER: URL = new URL(
  "../../native/build/slirp4netns-sandbox",
  import.meta.url,
);

/** A file beside the sources (a checkout's local build), if there is one. */
function localBuild(url: URL = LOCAL_BUILD): string | undefined {
  // A compiled binary's modules have file: URLs too, in a directory that is not on disk.
  if (url.protocol !== "file:" || Deno.build.standalone) return undefined;
  try {
    return Deno.statSync(url).isFile ? decodeURIComponent(url.pathname) : undefined;
  } catch {
    // Missing, or no read permission for it: use the shipped copy.
    return undefined;
  }
}

/** The shipped shim for this platform, or null when none ships for it. */
async function prebuilt(): Promise<Uint8Array | null> {
  if (Deno.build.os !== "linux") return null;
  // One literal import per architecture: `deno publish` and `deno compile` see both, a run
  // fetches only its own.
  switch (Deno.build.arch) {
    case "x86_64":
      return Uint8Array.fromBase64((await import("../../native/prebuilt/x86_64.ts")).SHIM_BASE64);
    case "aarch64":
      return Uint8Array.fromBase64((await import("../../native/prebuilt/aarch64.ts")).SHIM_BASE64);
  }
  return null;
}

/** Where this process's shim is; throws on a platform with no shim. */
export async function locateShim(): Promise<ShimLocation> {
  const path = envOverride() ?? localBuild();
  if (path !== undefined) return { kind: "file", path };
  const bytes = await prebuilt();
  if (bytes === null) {
    throw new Error(
      `No prebuilt native shim for ${Deno.build.os} ${Deno.build.arch} (there are for linux ` +
        `x86_64 and aarch64). From a checkout, build it from source with a C compiler: ` +
        `deno task build:native (or point SLIRP4NETNS_SHIM at a build).`,
    );
  }
  return { kind: "bytes", bytes, arch: Deno.build.arch as "x86_64" | "aarch64" };
}

/** Decompresses gzip bytes (the shipped launcher). */
export async function gunzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The shipped launcher for this platform, or null when none ships for it. */
async function prebuiltLauncher(): Promise<Uint8Array | null> {
  if (Deno.build.os !== "linux") return null;
  let base64: string;
  switch (Deno.build.arch) {
    case "x86_64":
      base64 = (await import("../../native/prebuilt/launcher_x86_64.ts")).LAUNCHER_GZIP_BASE64;
      break;
    case "aarch64":
      base64 = (await import("../../native/prebuilt/launcher_aarch64.ts")).LAUNCHER_GZIP_BASE64;
      break;
    default:
      return null;
  }
  return await gunzip(Uint8Array.fromBase64(base64));
}

/** The sandbox launcher as a file to execute, or the bytes of one (an executable). */
export type LauncherLocation =
  | { kind: "file"; path: string }
  | { kind: "bytes"; bytes: Uint8Array };

/**
 * Where the sandbox launcher is: the local build in a checkout that has one, else the shipped
 * executable; throws on a platform with none.
 */
export async function locateLauncher(): Promise<LauncherLocation> {
  const path = localBuild(LOCAL_LAUNCHER);
  if (path !== undefined) return { kind: "file", path };
  const bytes = await prebuiltLauncher();
  if (bytes === null) {
    throw new Error(
      `No prebuilt sandbox launcher for ${Deno.build.os} ${Deno.build.arch} (there are for ` +
        `linux x86_64 and aarch64). From a checkout, build it from source with a C compiler: ` +
        `deno task build:native`,
    );
  }
  return { kind: "bytes", bytes };
}
