#!/bin/sh
# What `deno task test` runs (after build:native): the unit tests beside the code in src/, then the
# tests under tests/ (integration tests in real namespaces, as root and as an unprivileged user).
#   SLIRP4NETNS_UNDER_TEST=/usr/bin/slirp4netns  test the original instead of our cli.ts
#   DENO_JOBS=N                                  test modules run in parallel (default 4)
#   SLIRPTEST_TIMEOUT=S                          limit for each deno test run (default 900 s)
# Extra arguments go to the deno test over tests/, e.g. `deno task test --filter configure`.
set -eu
cd "$(dirname "$0")/.."
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1
limit=${SLIRPTEST_TIMEOUT:-900}
status=0

if find src -name '*_test.ts' 2>/dev/null | grep -q .; then
  timeout -k 10 "$limit" deno test --allow-ffi --allow-read=. src/ || status=1
else
  echo "tests/run.sh: no unit tests under src/"
fi

# The bundles a registry run or a compiled binary runs (src/bundled/, build output), from these
# sources: the package tests serve them as a registry would.
deno task bundle >/dev/null || { echo "tests/run.sh: deno task bundle failed" >&2; exit 1; }

# Prepare the unprivileged user and its copy of the command once; parallel test modules share it.
setup=$(deno run --allow-run --allow-read --allow-write --allow-env --allow-sys=uid,gid \
  tests/helpers/users.ts | sed -n 's/^SLIRPTEST_SETUP=//p')
case "$setup" in
  */slirptest-*/setup.json) trap 'rm -rf "${setup%/setup.json}"' EXIT ;;
  *)
    echo "tests/run.sh: preparing the unprivileged user failed" >&2
    exit 1
    ;;
esac

# Killed on overrun with its whole process group (timeout's default): no namespace holder survives.
SLIRPTEST_SETUP=$setup DENO_JOBS=${DENO_JOBS:-4} timeout -k 10 "$limit" \
  deno test --parallel --allow-run --allow-read --allow-write --allow-env --allow-sys=uid,gid \
  --allow-net=127.0.0.1 \
  tests/ "$@" || status=1
exit "$status"
