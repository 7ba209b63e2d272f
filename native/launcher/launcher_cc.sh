#!/bin/sh
# Compiles the sandbox launcher from native/launcher/*.c into OUT with the C compiler CC: the one
# compile command, used by build.sh (a local build) and by prebuild.ts (the prebuilt copies the
# package ships). Linked statically (a static PIE, so still randomized): it runs from a memfd on
# machines with any C library or none, and needs no loader. The output depends only on the
# sources, the compiler, its static libc and these flags (sources relative to here in C-locale
# order, stripped), so the same toolchain gives the same bytes in any checkout. Needs the static
# libc (Debian: libc6-dev, libc6-dev-arm64-cross; Fedora: glibc-static).
# Usage: sh native/launcher/launcher_cc.sh CC OUT
set -eu
cc=$1
out=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
cd "$(dirname "$0")"
export LC_ALL=C
# shellcheck disable=SC2046 # the file names are ours, without spaces
"$cc" -O2 -Wall -Wextra -Werror -static-pie -s -o "$out" $(ls ./*.c | sort)
