/**
 * The slirp4netns-compatible command: `cli.ts [OPTIONS] PID|PATH|FD [TAPNAME]`, or
 * `cli.ts --target-type=bess [OPTIONS] SOCKETPATH` (src/link/bess.ts) (mod.ts runs it too when it
 * is the main module). The only place that exits the process.
 *
 * The command itself is src/cli/command.ts. From a checkout it runs from the TypeScript sources;
 * fetched from a registry (`deno run jsr:@x/slirp4netns`) and in a `deno compile` binary it runs
 * from its bundle, src/bundled/command.js (`deno task bundle`, which `prepublish` and `compile`
 * run; build output, not in git): the part before the tap in one file, the rest in chunks it
 * imports once the tap exists, and one file per Worker (src/workers/urls.ts), which starts about
 * 10 ms sooner. `SLIRP4NETNS_BUNDLES=1` (read only when env access to it is granted) makes a
 * checkout run its bundles too, to measure them.
 */

type Command = typeof import("./src/cli/command.ts");

/** The environment variable that makes a checkout run its bundles. */
export const BUNDLES_VARIABLE = "SLIRP4NETNS_BUNDLES";

/** Whether the program runs from its bundles: fetched by URL, compiled, or asked to. */
function runsBundles(): boolean {
  if (Deno.build.standalone || new URL(import.meta.url).protocol !== "file:") return true;
  const permission = Deno.permissions.querySync({ name: "env", variable: BUNDLES_VARIABLE });
  return permission.state === "granted" && Deno.env.get(BUNDLES_VARIABLE) === "1";
}

/** Runs the command with `argv` (no program name); resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  const command: Command = runsBundles()
    ? await import("./src/bundled/command.js")
    : await import("./src/cli/command.ts");
  return await command.main(argv);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
