#!/usr/bin/env bash
# The demo: sets up (installs what is missing, builds), records the demo guest kernel while a
# script types a too-long machine name into its console (bug a in guests/demo/README.md), shows
# what was recorded: the summary, the typed bytes with their time points, the console with a time
# point per line, and a full replay that reproduces the run. Then it records "work 2000" (bug b, a
# lost timer tick) and plays a scripted DAP session (scripts/demo-story.ts, the real debug adapter)
# that finds both bugs by going backward in time from the panic.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

out="${REWIND_DEMO_DIR:-$PWD/recordings}"
mkdir -p "$out"
stamp=$(date +%Y%m%d-%H%M%S)
bundle="$out/demo-overflow-$stamp.rewind"
race="$out/demo-race-$stamp.rewind"
rewind() { node bin/rewind.js "$@"; }
if [ -t 1 ]; then
  step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  step() { printf '\n== %s\n' "$*"; }
fi

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

step "Recording bug (b) too (input: guests/demo/inputs/race.txt, \"work 2000\": a timer tick gets lost)"
# The race depends on where the timer interrupts land; it was measured to panic 10 times in 10.
for attempt in 1 2 3; do
  candidate="$race"
  [ "$attempt" -eq 1 ] || candidate="${race%.rewind}-$attempt.rewind"
  if rewind record --kernel guests/demo/build/kernel.elf --input guests/demo/inputs/race.txt \
      --out "$candidate" --timeout 30 --expect-timeout 20 --snapshot-every 2M --quiet >/dev/null &&
    grep -q 'lost timer tick' "$candidate/console.jsonl"; then
    race="$candidate"
    grep -h 'PANIC' "$race/console.jsonl" | node -e 'for (const l of require("fs").readFileSync(0, "utf8").trim().split("\n")) { const j = JSON.parse(l); console.log(String(j.icount).padStart(12) + "  " + j.text); }'
    break
  fi
  [ "$attempt" -lt 3 ] || { echo "demo: the race did not show up in 3 recordings" >&2; exit 1; }
  echo "(this run did not lose a tick; recording again)"
done

step "Time travel over DAP: finding both bugs backward from the panic (scripts/demo-story.ts)"
node out/scripts/demo-story.js --overflow "$bundle" --race "$race"

printf '\nThe recordings are in %s\n' "$out"
printf 'Next: "rewind info %s", or debug it in any DAP client (npx rewind dap, see README),\n' "$bundle"
printf 'or with plain gdb: "rewind replay %s --gdb 1234" and gdb with "target remote :1234".\n' "$bundle"
