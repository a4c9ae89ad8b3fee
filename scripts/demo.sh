#!/usr/bin/env bash
# The demo: sets up (installs what is missing, builds), records the demo guest kernel while a
# script types a too-long machine name into its console (bug a in guests/demo/README.md), and
# shows what was recorded: the summary, the typed bytes with their time points, the console with
# a time point per line, and a full replay that reproduces the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

out="${REWIND_DEMO_DIR:-$PWD/recordings}"
mkdir -p "$out"
bundle="$out/demo-overflow-$(date +%Y%m%d-%H%M%S).rewind"
rewind() { node bin/rewind.js "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Recording the demo guest (input: guests/demo/inputs/overflow.txt)"
rewind record --kernel guests/demo/build/kernel.elf --input guests/demo/inputs/overflow.txt \
  --out "$bundle" --timeout 120 --snapshot-every 2M

step "The serial input the guest received, byte by byte, with time points (icount)"
rewind events "$bundle" --kind serial-input | tail -n 14

step "What the console printed, each line with the icount at which the guest wrote it"
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
  for (const l of lines) console.log(String(l.icount ?? "?").padStart(12) + "  " + l.text);
' "$bundle/console.jsonl"

step "Interrupts and shutdown around the panic"
rewind events "$bundle" --kind interrupt,shutdown,end | tail -n 6

step "Replaying the whole recording from its initial snapshot"
rewind check "$bundle"

printf '\nThe recording is in %s\n' "$bundle"
printf 'Next: "rewind info %s", "rewind events %s --json". Time travel over it comes with the replay engine.\n' "$bundle" "$bundle"
