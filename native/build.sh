#!/bin/sh
# Builds the native shim (native/build/libslirp4netns_shim.so) from native/*.c and the sandbox
# launcher (native/build/slirp4netns-sandbox) from native/launcher/*.c when missing or older than
# any of their sources. Needs a C compiler: $CC, else cc; the launcher also its static libc. The
# package ships prebuilt copies of both (native/prebuilt/, `deno task prepublish`); a local build
# takes precedence over them. A launcher that cannot be linked here (no static libc) is skipped
# with a note: the shipped one is used instead.
set -eu
here=$(dirname "$0")
out="$here/build/libslirp4netns_shim.so"
launcher="$here/build/slirp4netns-sandbox"
# stale TARGET SOURCE...: true when TARGET is missing or older than a source.
stale() {
  target=$1
  shift
  for src in "$@"; do
    [ -f "$target" ] && [ "$target" -nt "$src" ] || return 0
  done
  return 1
}
shim_stale=no
launcher_stale=no
stale "$out" "$here"/*.c "$here/shim_cc.sh" && shim_stale=yes
stale "$launcher" "$here"/launcher/*.c "$here/launcher/launcher_cc.sh" && launcher_stale=yes
[ "$shim_stale$launcher_stale" = nono ] && exit 0
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "native/build.sh: no C compiler ($cc) found; install one (e.g. apt-get install gcc) and run: deno task build:native" >&2
  exit 1
fi
mkdir -p "$here/build"
if [ "$shim_stale" = yes ]; then
  sh "$here/shim_cc.sh" "$cc" "$out.tmp"
  mv "$out.tmp" "$out"
fi
if [ "$launcher_stale" = yes ]; then
  if sh "$here/launcher/launcher_cc.sh" "$cc" "$launcher.tmp"; then
    mv "$launcher.tmp" "$launcher"
  else
    rm -f "$launcher.tmp" "$launcher"
    echo "native/build.sh: the sandbox launcher was not built (a static libc is needed: libc6-dev or glibc-static); --enable-sandbox uses the shipped one" >&2
  fi
fi
