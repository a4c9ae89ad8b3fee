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
exec node --test --test-concurrency=1 "${files[@]}"
