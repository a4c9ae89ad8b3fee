#!/usr/bin/env bash
# Installs what Rewind needs and builds it. Safe to run again: it only does what is missing.
#  - Debian packages: QEMU (the engine), gdb (symbols), gcc/make/binutils (the demo guest kernel).
#    As root they are installed with apt-get; otherwise the missing ones are named and it stops.
#  - npm dependencies (npm ci), the TypeScript build, the demo guest kernel, and the QEMU plugins
#    (out/native/rewind-index.so and rewind-probe.so, built with gcc when missing or older than their source).
#  - Rewind's QEMU (scripts/build-qemu.sh, out/native/qemu/), unless REWIND_QEMU=system.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  say "Node.js 20 or newer is needed (found $(node --version 2>/dev/null || echo none))"
  exit 1
fi

# command -> Debian package
declare -A need=(
  [qemu-system-x86_64]=qemu-system-x86
  [qemu-img]=qemu-utils
  [gdb]=gdb
  [gcc]=gcc
  [make]=make
  [ld]=binutils
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  if [ "$(id -u)" -eq 0 ]; then
    say "installing Debian packages: $pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  else
    say "missing Debian packages: $pkgs"
    say "install them with: sudo apt-get install -y $pkgs   (then run this again)"
    exit 1
  fi
fi

# npm dependencies: reinstall only when package-lock.json changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

say "building"
node scripts/build.mjs
make -s -C guests/demo

# The index plugin and the probe plugin (recorder-bridge/native/), each rebuilt when older than its source.
for plugin in rewind-index rewind-probe; do
  plugin_src=recorder-bridge/native/$plugin.c
  plugin_so=out/native/$plugin.so
  if [ ! -f "$plugin_so" ] || [ "$plugin_src" -nt "$plugin_so" ]; then
    say "building the $plugin plugin ($plugin_so)"
    mkdir -p out/native
    # Built beside and renamed into place: a QEMU that loads the plugin meanwhile never sees half a file.
    gcc -O2 -shared -fPIC -Wall -Werror -o "$plugin_so.tmp" "$plugin_src" -lpthread
    mv -f "$plugin_so.tmp" "$plugin_so"
  fi
done

if [ "${REWIND_QEMU:-}" = system ]; then
  say "REWIND_QEMU=system: Rewind uses Debian's qemu-system-x86_64"
else
  qemu_status=0
  bash scripts/build-qemu.sh || qemu_status=$?
  if [ "$qemu_status" -eq 3 ]; then
    say "Rewind will use Debian's qemu-system-x86_64 (replays of Linux guests are slower with it)"
  elif [ "$qemu_status" -ne 0 ]; then
    exit "$qemu_status"
  fi
fi
