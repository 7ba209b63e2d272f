/**
 * Small C programs under tests/tools/, compiled on first use into a world-readable temporary
 * directory (so the unprivileged user can run them too), once per test module.
 */
import { REPO_ROOT } from "./command.ts";
import { runOk } from "./process.ts";

const built = new Map<string, Promise<string>>();
let directory: Promise<string> | null = null;

function toolDirectory(): Promise<string> {
  directory ??= Deno.makeTempDir({ prefix: "slirptest-tools-" }).then(async (dir) => {
    await Deno.chmod(dir, 0o755);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Best effort: it lives under the temp directory.
      }
    });
    return dir;
  });
  return directory;
}

/** Compiles tests/tools/NAME.c with $CC (default gcc) and returns the path of the program. */
export function buildTool(name: string): Promise<string> {
  let program = built.get(name);
  if (!program) {
    program = toolDirectory().then(async (dir) => {
      const output = `${dir}/${name}`;
      const cc = Deno.env.get("CC") ?? "gcc";
      await runOk([
        cc,
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-o",
        output,
        `${REPO_ROOT}/tests/tools/${name}.c`,
      ], {
        timeoutMs: 60_000,
      });
      await Deno.chmod(output, 0o755);
      return output;
    });
    built.set(name, program);
  }
  return program;
}
