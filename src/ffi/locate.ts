/**
 * Where the native shim comes from, for this process's architecture. One small function so that
 * anything that loads the shim (this runtime's threads, or a re-executed runtime) agrees.
 *
 * First match wins:
 * 1. `SLIRP4NETNS_SHIM=/path/lib.so` in the environment (only when env access is granted);
 * 2. a local build beside the sources, native/build/libslirp4netns_shim.so (`deno task
 *    build:native`), when this module is a file (a checkout, not a registry download);
 * 3. the copy the package ships for `Deno.build.arch` (native/prebuilt/, `deno task prepublish`):
 *    linux x86_64 and aarch64. It is bytes, meant to be loaded through a memfd, which needs no
 *    file system access (a registry run, a `deno compile` binary).
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

function localBuild(): string | undefined {
  if (LOCAL_BUILD.protocol !== "file:") return undefined;
  try {
    return Deno.statSync(LOCAL_BUILD).isFile ? LOCAL_BUILD.pathname : undefined;
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
