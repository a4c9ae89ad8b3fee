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

step "Time travel: who corrupted cfg.heartbeat_interval? (plain gdb on rewind replay --gdb)"
log=$(mktemp)
node bin/rewind.js replay "$bundle" --gdb 0 2>"$log" &
relay=$!
trap 'kill -INT $relay 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do grep -q 'target remote' "$log" && break; sleep 0.1; done
port=$(sed -n 's/.*target remote [0-9.]*:\([0-9]*\).*/\1/p' "$log")
gdb -batch -nx "$bundle/guest/kernel" -ex 'set pagination off' -ex "target remote 127.0.0.1:$port" \
  -ex 'break panic' -ex 'continue' -ex 'echo \n-- at the panic; now watch the corrupted field and run backward:\n' \
  -ex 'watch cfg.heartbeat_interval' -ex 'reverse-continue' -ex 'echo \n-- the write that corrupted it:\n' \
  -ex 'bt 3' -ex 'print cfg.machine_name' -ex 'monitor icount' 2>&1 | grep -v '^warning: '
kill -INT $relay; wait $relay 2>/dev/null || true

printf '\nThe recording is in %s\n' "$bundle"
printf 'Next: "rewind info %s", "rewind replay %s --gdb 1234" and gdb with "target remote :1234".\n' "$bundle" "$bundle"
