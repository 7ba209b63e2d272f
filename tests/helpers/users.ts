/**
 * The unprivileged user of the rootless variant. As root, the tests run it as `slirptest`
 * (created if missing), make /dev/net/tun usable (mode 0666, as on most distributions) and give
 * it a world-readable copy of what the command needs, because the repository may sit where the
 * user cannot read (CI clones under /root, mode 0700), plus its own HOME and DENO_DIR.
 * Not as root, the rootless variant is the current user and nothing is prepared.
 *
 * `deno run tests/helpers/users.ts` prepares once and prints `SLIRPTEST_SETUP=<dir>/setup.json`;
 * tests/run.sh passes that to the tests, so parallel test modules share one copy, and removes <dir>
 * at the end. Without it, each test module prepares lazily on first use.
 */
import { DENO_ENV, type Install, REPO_ROOT, RUNTIME_FILES } from "./command.ts";
import { describeResult, run, runOk } from "./process.ts";

/** The name of the unprivileged test user. */
export const TEST_USER = "slirptest";

/** The environment variable that points at a prepared setup (a JSON file). */
export const SETUP_ENV = "SLIRPTEST_SETUP";

/** How to run processes as the unprivileged user. */
export interface RootlessSetup {
  user: string;
  uid: number;
  gid: number;
  /** Argv prefix that switches to the user; empty when the tests already run as it. */
  wrap: string[];
  /** The environment of the user's processes, and whether it replaces ours. */
  env: Record<string, string>;
  clearEnv: boolean;
  /** A directory the user owns, used as HOME and working directory. */
  home: string;
  /** Where the command under test is installed for the user. */
  install: Install;
  /** The directory to remove when done (null when nothing was created). */
  dir: string | null;
}

/** Whether the tests run as root (then both variants run; otherwise only the rootless one). */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** The argv prefix that runs a command as `uid`/`gid` with the user's supplementary groups. */
export function setprivArgv(uid: number, gid: number): string[] {
  return ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--init-groups", "--"];
}

async function lookupUser(name: string): Promise<{ uid: number; gid: number } | null> {
  const uid = await run(["id", "-u", name]);
  const gid = await run(["id", "-g", name]);
  if (!uid.success || !gid.success) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Creates the test user if it does not exist (root only). */
export async function ensureTestUser(): Promise<{ uid: number; gid: number }> {
  const existing = await lookupUser(TEST_USER);
  if (existing) return existing;
  const added = await run([
    "useradd",
    "--system",
    "--user-group",
    "--no-create-home",
    "--home-dir",
    "/nonexistent",
    "--shell",
    "/usr/sbin/nologin",
    TEST_USER,
  ]);
  // A parallel test module may have created it meanwhile.
  const created = await lookupUser(TEST_USER);
  if (!created) {
    throw new Error(`cannot create the test user ${TEST_USER}: ${describeResult(added)}`);
  }
  return created;
}

/** Makes /dev/net/tun usable by everyone, as distributions ship it (root only). */
export async function ensureTunUsable(): Promise<void> {
  // Through chmod(1): Deno wants --allow-all for anything under /dev.
  const result = await run(["chmod", "a+rw", "/dev/net/tun"]);
  if (!result.success) {
    throw new Error(`/dev/net/tun is missing or cannot be made usable: ${describeResult(result)}`);
  }
}

/** Prepares the user, the device and a readable copy of the command; returns how to use them. */
export async function prepareRootless(): Promise<RootlessSetup> {
  if (!isRoot()) {
    const user = (await runOk(["id", "-un"])).stdout.trim();
    return {
      user,
      uid: Deno.uid()!,
      gid: Deno.gid()!,
      wrap: [],
      env: { ...DENO_ENV },
      clearEnv: false,
      home: Deno.env.get("HOME") ?? "/tmp",
      install: { root: REPO_ROOT, deno: Deno.execPath() },
      dir: null,
    };
  }
  const { uid, gid } = await ensureTestUser();
  await ensureTunUsable();
  const dir = await Deno.makeTempDir({ prefix: "slirptest-" });
  await Deno.chmod(dir, 0o755);

  const root = `${dir}/app`;
  await Deno.mkdir(root);
  const present: string[] = [];
  for (const name of RUNTIME_FILES) {
    try {
      await Deno.lstat(`${REPO_ROOT}/${name}`);
      present.push(`${REPO_ROOT}/${name}`);
    } catch {
      // Not written yet (e.g. deno.lock): nothing to copy.
    }
  }
  if (present.length > 0) await runOk(["cp", "-R", ...present, `${root}/`]);
  await runOk(["chmod", "-R", "a+rX", root]);

  const home = `${dir}/home`;
  const denoDir = `${dir}/deno-dir`;
  for (const path of [home, denoDir]) {
    await Deno.mkdir(path, { mode: 0o755 });
    await Deno.chown(path, uid, gid);
  }
  const wrap = setprivArgv(uid, gid);

  // npm may have put deno where the user cannot reach it: give the user a copy then.
  let deno = Deno.execPath();
  if (!(await run([...wrap, "test", "-x", deno])).success) {
    await Deno.mkdir(`${dir}/bin`, { mode: 0o755 });
    await Deno.copyFile(deno, `${dir}/bin/deno`);
    await Deno.chmod(`${dir}/bin/deno`, 0o755);
    deno = `${dir}/bin/deno`;
  }

  const env: Record<string, string> = {
    ...DENO_ENV,
    PATH: Deno.env.get("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: home,
    DENO_DIR: denoDir,
    LANG: "C.UTF-8",
  };
  // Debug knobs of the command under test travel with it.
  for (const [key, value] of Object.entries(Deno.env.toObject())) {
    if (key.startsWith("SLIRP")) env[key] = value;
  }
  return {
    user: TEST_USER,
    uid,
    gid,
    wrap,
    env,
    clearEnv: true,
    home,
    install: { root, deno },
    dir,
  };
}

let cached: Promise<RootlessSetup> | null = null;

/**
 * The setup of this test run: the one tests/run.sh prepared (SLIRPTEST_SETUP), or one prepared
 * now for this test module and removed when it unloads.
 */
export function rootlessSetup(): Promise<RootlessSetup> {
  if (cached) return cached;
  const file = Deno.env.get(SETUP_ENV);
  if (file) {
    cached = Deno.readTextFile(file).then((text) => JSON.parse(text) as RootlessSetup);
  } else {
    cached = prepareRootless().then((setup) => {
      if (setup.dir) {
        const dir = setup.dir;
        globalThis.addEventListener("unload", () => {
          try {
            Deno.removeSync(dir, { recursive: true });
          } catch {
            // Best effort: it lives under the temp directory.
          }
        });
      }
      return setup;
    });
  }
  return cached;
}

if (import.meta.main) {
  // Prepare once for a whole test run: tests/run.sh exports the printed variable.
  const setup = await prepareRootless();
  setup.dir ??= await Deno.makeTempDir({ prefix: "slirptest-" });
  await Deno.chmod(setup.dir, 0o755);
  const file = `${setup.dir}/setup.json`;
  await Deno.writeTextFile(file, JSON.stringify(setup, null, 2));
  await Deno.chmod(file, 0o644);
  console.log(`${SETUP_ENV}=${file}`);
}
