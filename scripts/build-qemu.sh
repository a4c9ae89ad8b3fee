#!/usr/bin/env bash
# Builds Rewind's QEMU into out/native/qemu/: Debian's own source package of the installed
# qemu-system-x86 (the exact source version, Debian's patches applied by dpkg-source), plus
# patches/qemu/*.patch, configured for x86_64 only. It records exactly like Debian's binary and
# replays the same logs to the same states, faster (docs/replay-research.md, "Rewind's QEMU").
# Safe to run again: a stamp keyed by the source version, the patches and the flags skips the build.
#
# Exit status: 0 built or up to date; 3 build packages missing and not root (setup then goes on
# with Debian's QEMU); 2 the build failed; 130 interrupted.
# --print-src-sources: print the deb-src entries derived from the machine's apt sources, and exit.
set -euo pipefail
# A relative REWIND_CACHE_DIR is relative to where this was started, not to the checkout.
CACHE=$(realpath -m -- "${REWIND_CACHE_DIR:-$(dirname "$0")/../.rewind-cache}")/qemu-build
cd "$(dirname "$0")/.."

say() { printf 'build-qemu: %s\n' "$*" >&2; }
# shellcheck source=scripts/debian-packages.sh
. scripts/debian-packages.sh

OUT=out/native/qemu
SOURCES_LIST=${REWIND_APT_SOURCES_LIST:-/etc/apt/sources.list}
SOURCES_DIR=${REWIND_APT_SOURCES_DIR:-/etc/apt/sources.list.d}
CONFIGURE_FLAGS=(--prefix=/usr --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
  --target-list=x86_64-softmmu --without-default-features --enable-plugins --enable-tpm
  --disable-docs --enable-fdt=system)

# deb-src entries for every deb entry of the machine's own apt sources (no host name is written
# down anywhere): one-line files to stdout-list, deb822 stanzas into $2/<name>.sources.
derive_src_sources() {
  local list_out=$1 parts_out=$2 f
  : > "$list_out"
  mkdir -p "$parts_out"
  for f in "$SOURCES_LIST" "$SOURCES_DIR"/*.list; do
    [ -f "$f" ] || continue
    sed -n -E 's/^[[:space:]]*deb[[:space:]]+/deb-src /p' "$f" >> "$list_out"
  done
  for f in "$SOURCES_DIR"/*.sources; do
    [ -f "$f" ] || continue
    # Stanzas are separated by blank lines; keep those whose Types list deb, as deb-src only.
    awk 'function flush() { if (isdeb && n) { for (i = 1; i <= n; i++) print buf[i]; print "" } n = 0; isdeb = 0 }
         /^[[:space:]]*$/ { flush(); next }
         tolower($1) == "types:" { isdeb = 0; for (i = 2; i <= NF; i++) if ($i == "deb") isdeb = 1; buf[++n] = "Types: deb-src"; next }
         /^#/ { next }
         { buf[++n] = $0 }
         END { flush() }' "$f" > "$parts_out/$(basename "$f")"
    [ -s "$parts_out/$(basename "$f")" ] || rm -f "$parts_out/$(basename "$f")"
  done
}

if [ "${1:-}" = --print-src-sources ]; then
  tmp=$(mktemp -d)
  derive_src_sources "$tmp/sources.list" "$tmp/parts"
  cat "$tmp/sources.list"
  for f in "$tmp"/parts/*.sources; do [ -f "$f" ] && { echo "# $(basename "$f")"; cat "$f"; }; done
  rm -rf "$tmp"
  exit 0
fi

version=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null || true)
if [ -z "$version" ]; then
  say "qemu-system-x86 is not installed: run scripts/setup.sh first"
  exit 2
fi
patch_sums=$(cd patches/qemu && sha256sum -- *.patch)
key=$(printf '%s\n%s\n%s\n' "$version" "$patch_sums" "${CONFIGURE_FLAGS[*]}" | sha256sum | cut -c1-16)
if [ -f "$OUT/.built" ] && [ "$(cat "$OUT/.built")" = "$key" ] && [ -x "$OUT/bin/qemu-system-x86_64" ]; then
  say "up to date ($OUT/bin/qemu-system-x86_64, Debian source $version)"
  exit 0
fi

# Build packages (firmware comes from the packages qemu-system-x86 already pulls in).
declare -a need=(ninja-build meson libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev pkg-config
  dpkg-dev xz-utils python3 gcc make patch seabios qemu-system-data ipxe-qemu)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
install_debian_packages "to build Rewind's QEMU" 3 "${missing[@]}"

started=$(date +%s)
kill_tree() {
  local c
  for c in $(pgrep -P "$1" || true); do kill_tree "$c"; done
  kill -TERM "$1" 2>/dev/null || true
}
on_signal() {
  local c
  for c in $(pgrep -P $$ || true); do kill_tree "$c"; done
  say "interrupted; $OUT was left as it was (without a build stamp)"
  exit 130
}
trap on_signal INT TERM
# Runs a command with its output in $log; in the background and waited for, so that a signal
# reaches the trap at once instead of after the command.
run_logged() {
  "$@" >> "$log" 2>&1 &
  wait $!
}

rm -f "$OUT/.built"
mkdir -p "$CACHE"
log=$CACHE/build.log
: > "$log"
# Every failure names the log and shows its end.
fail() {
  say "$1 (the whole log: $log)"
  tail -n 30 "$log" >&2
  exit 2
}
upstream=${version#*:}
upstream=${upstream%-*}
dsc=$CACHE/download/qemu_${version#*:}.dsc
if [ ! -f "$dsc" ]; then
  say "downloading Debian's source package qemu $version"
  apt_dir=$CACHE/apt
  # Downloaded into download.part, renamed when whole: an interrupted download is never taken for one.
  rm -rf "$apt_dir" "$CACHE/download.part" "$CACHE/download"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$CACHE/download.part"
  derive_src_sources "$apt_dir/sources.list" "$apt_dir/parts"
  # Private lists and cache: the machine's apt configuration and state are left as they are.
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1
    -o "APT::Sandbox::User=$(id -un)")
  run_logged apt-get "${apt_opts[@]}" update -qq || fail "apt-get update failed"
  pushd "$CACHE/download.part" >/dev/null
  run_logged apt-get "${apt_opts[@]}" source --download-only -qq "qemu=$version" ||
    fail "could not download the source package qemu=$version"
  popd >/dev/null
  [ -f "$CACHE/download.part/$(basename "$dsc")" ] || fail "apt-get source left no $(basename "$dsc")"
  mv "$CACHE/download.part" "$CACHE/download"
fi

src=$CACHE/src
say "unpacking and patching ($upstream with Debian's patches, then patches/qemu/)"
rm -rf "$src"
run_logged dpkg-source --no-copy -x "$dsc" "$src" || fail "dpkg-source failed"
for p in patches/qemu/*.patch; do
  patch -d "$src" -p1 --forward --quiet < "$p" >> "$log" 2>&1 || fail "$p does not apply to Debian's $version"
done

say "configuring"
mkdir -p "$src/build"
pushd "$src/build" >/dev/null
run_logged ../configure "${CONFIGURE_FLAGS[@]}" --with-pkgversion="Debian $version, Rewind replay patches" ||
  fail "configure failed"

say "compiling qemu-system-x86_64 (a few minutes; progress every 30 s)"
ninja -j"$(nproc)" qemu-system-x86_64 >> "$log" 2>&1 &
build=$!
while kill -0 "$build" 2>/dev/null; do
  sleep 30 & wait $! || true
  kill -0 "$build" 2>/dev/null && say "$(grep -o '^\[[0-9]*/[0-9]*\]' "$log" | tail -n 1) after $(( $(date +%s) - started )) s"
done
wait "$build" || fail "the build failed"
popd >/dev/null

binary=$src/build/qemu-system-x86_64
"$binary" --version | head -n 1 | grep -q 'Rewind replay patches' || fail "the built binary does not say it is Rewind's"
mkdir -p "$OUT/bin" "$OUT/share" "$OUT/lib/ipxe"
# QEMU looks for its firmware beside its binary (bin/../share/qemu, ...): point those at Debian's.
ln -sfn /usr/share/qemu "$OUT/share/qemu"
ln -sfn /usr/share/seabios "$OUT/share/seabios"
ln -sfn /usr/lib/ipxe/qemu "$OUT/lib/ipxe/qemu"
cp "$binary" "$OUT/bin/qemu-system-x86_64.tmp"
mv -f "$OUT/bin/qemu-system-x86_64.tmp" "$OUT/bin/qemu-system-x86_64"
for d in share/qemu share/seabios; do
  "$OUT/bin/qemu-system-x86_64" -L help | grep -qx "$(cd "$OUT/bin" && pwd)/../$d" || fail "the build does not look for firmware in $OUT/$d"
done
echo "$key" > "$OUT/.built"
rm -rf "$src"
say "built $OUT/bin/qemu-system-x86_64 ($("$OUT/bin/qemu-system-x86_64" --version | head -n 1)) in $(( $(date +%s) - started )) s"
