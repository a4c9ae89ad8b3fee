#!/usr/bin/env bash
# Sets up (installs what is missing, builds) and runs every test with node's test runner.
# Tests run real QEMU on the real demo guest kernel. Pass test file names to run only those.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ $# -gt 0 ]; then
  files=("$@")
else
  files=(out/test/*.test.js)
fi
exec node --test --test-concurrency=1 "${files[@]}"
