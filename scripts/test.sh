#!/usr/bin/env bash
# Sets up (installs what is missing, builds) and runs every test with node's test runner.
# Tests run real QEMU on the real demo guest kernel, and the extension in a real VS Code
# (code-server + Chromium). Pass test file names to run only those.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The type check is part of the tests: it is what keeps the packages to their public APIs (a deep
# import of another package does not compile; test/package-boundaries.test.ts checks the rest).
echo "rewind: type-checking (tsc -b)" >&2
npx tsc -b
if [ $# -gt 0 ]; then
  files=("$@")
else
  files=(out/test/*.test.js)
fi
# The VS Code end-to-end test needs Node 24, code-server and Chromium (scripts/e2e-setup.sh; cached
# under .rewind-cache/e2e, about 3 minutes the first time): installed only when that test runs.
for f in "${files[@]}"; do
  case "$f" in *extension-e2e.test.js) bash scripts/e2e-setup.sh; break ;; esac
done
# Sessions the tests open use a stored index but do not build one in the background: a build beside
# every session would load the 2-core CI machine; test/index-*.test.js build and check it on purpose.
export REWIND_INDEX="${REWIND_INDEX:-use}"
if [ $# -gt 0 ]; then
  exec node --test --test-concurrency=1 "${files[@]}"
fi

# The whole set runs in two lanes at once, one per core of the 2-core CI machine; each lane runs its
# files one at a time. The "linux" lane holds every suite that opens the Linux fixture's own bundle
# (the index suites build and remove an index inside it, and the suites check that no replay process
# names it when they end), so those never overlap; record-disk only reads the fixture's kernel and
# runs in the other lane. README: "Tests and benchmarks".
linux_lane=()
main_lane=()
for f in "${files[@]}"; do
  case "$(basename "$f")" in
    hang-watch.test.js | index-plugin-linux.test.js | index-queries-linux.test.js | linux-banner.test.js | linux-gdb-scripts.test.js | linux-modules.test.js | \
      language-server-linux.test.js | linux-kernel-scan-failure.test.js | linux-module-fixture.test.js | linux-soak.test.js | linux.test.js | qemu-build.test.js | \
      replay-timer-stops.test.js | snapshot-stress.test.js) linux_lane+=("$f") ;;
    *) main_lane+=("$f") ;;
  esac
done
# Built once here, not by the first suite of each lane at the same time.
echo "rewind: the Linux fixture (test/linux-fixture.ts)" >&2
node out/test/linux-fixture.js >/dev/null ||
  echo "rewind: the Linux fixture could not be built here; its suites say why (skipped as a non-root user)" >&2

# Each lane's lines carry its name; each lane is a node PID of ours, stopped if this script is.
# Each lane's output is also kept in test-artifacts/lanes/ for the failure summary at the end.
logs=test-artifacts/lanes
mkdir -p "$logs"
lane() {
  local name=$1
  shift
  node --test --test-concurrency=1 "$@" > >(sed -u "s/^/[$name] /" | tee "$logs/$name.tap") 2>&1 &
  pids+=($!)
}
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; exit 143' TERM INT HUP
lane linux "${linux_lane[@]}"
lane main "${main_lane[@]}"
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
wait # the sed of each lane, so that its last lines are out before the summary
# A failure is named again last, with its error: a CI log is often read from its tail, and the
# lanes' lines interleave. Each "not ok" line (a test, its suite, its file) and its YAML block.
if [ $status -ne 0 ]; then
  echo "rewind: what failed (whole lanes in $logs/):" >&2
  awk '/^\[[a-z]+\] *not ok /{n=40} n>0{print; n--; if ($0 ~ /^\[[a-z]+\] *\.\.\.$/) n=0}' "$logs"/*.tap >&2
fi
echo "rewind: tests $([ $status -eq 0 ] && echo passed || echo FAILED) (lanes: ${#linux_lane[@]} linux files, ${#main_lane[@]} others)" >&2
exit $status
