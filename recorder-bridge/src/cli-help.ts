import { DEFAULT_SNAPSHOT_EVERY, defaultMaxLogBytes } from './record/recorder';
import { LINUX_RECORDING_DEFAULTS } from './record/linux-defaults';
import { formatIcount } from './timepoint';
import { REWIND_VERSION } from './version';

/*
 * The help texts of the `rewind` command: a short overview (`rewind help`) and one text per command
 * (`rewind help CMD`, `rewind CMD --help`).
 */

const SUFFIXES = 'Numbers of instructions take k, M and G suffixes (1000s); sizes take K, M and G (1024s).';

/** Each command with its one-line summary, in the order the overview lists them. */
const SUMMARIES: Array<[string, string]> = [
  ['record', 'record a guest kernel into a bundle directory'],
  ['info', 'what a recording holds'],
  ['events', 'the recorded non-deterministic events, with their time points'],
  ['check', 'verify every file, then replay the whole recording and compare its end and console'],
  ['index', 'build the analysis index of a recording (one parallel replay), for fast reverse queries'],
  ['salvage', 'make a bundle of an interrupted recording (OUT.partial)'],
  ['replay', 'serve a recording to gdb, with fast reverse-stepi and reverse-continue'],
  ['bridge', 'serve replay sessions of the bundles under a folder over JSON-RPC'],
  ['dap', 'the Debug Adapter Protocol server on stdin/stdout, for editors'],
  ['lsp', 'the language server on stdin/stdout: hit counts, coverage and value history in the sources'],
];

export const COMMAND_NAMES: readonly string[] = SUMMARIES.map(([name]) => name);

export function overview(): string {
  const width = Math.max(...SUMMARIES.map(([n]) => n.length));
  return `rewind ${REWIND_VERSION}: record guest kernels and debug the recordings backward and forward

Usage: rewind COMMAND [options]

Commands:
${SUMMARIES.map(([n, s]) => `  ${n.padEnd(width)}  ${s}`).join('\n')}

rewind help COMMAND (or rewind COMMAND --help) shows a command's options. rewind --version.

Exit codes: 0 done; 1 done, with a result to look at (record: stopped early; check: a mismatch);
2 an error, with a message that says what to do; 130 cancelled (Ctrl-C). When the reader of the
output goes away (rewind events B | head), the command ends quietly with 0.
${SUFFIXES}
Docs: README.md, docs/.`;
}

const HELP: Record<string, () => string> = {
  record: () => `Usage: rewind record --kernel FILE [options]

Records a guest kernel under QEMU's record/replay into a bundle directory, written as OUT.partial
and renamed to OUT when complete. Progress goes to stderr; the summary (rewind info) to stdout.
Recording stops when the guest powers off, after --timeout, on --stop-on, at --max-log, or on
Ctrl-C; the bundle is complete in every case. If rewind record or its QEMU is killed instead,
OUT.partial is left: rewind salvage OUT.partial makes a bundle of it. Then the analysis index is
built (rewind index; Ctrl-C stops it, keeping what is done), unless --no-index or the recording
was stopped with Ctrl-C.

Options:
  --kernel FILE          ELF multiboot kernel (i386 or x86_64) or Linux bzImage
  --linux                the Linux preset: the kernel must be a bzImage (vmlinuz), and the Linux
                         defaults below are always added
  --initrd FILE          initial ramdisk
  --append TEXT          kernel command line (Linux gets the defaults below added)
  --no-linux-defaults    do not add those
  --kaslr                keep the kernel's address randomization (KASLR): the defaults leave
                         nokaslr out; the debugger finds the offset and loads the symbols there
  --disk FILE            a raw or qcow2 disk image, recorded through QEMU's blkreplay so that disk
                         I/O replays; the guest sees it as virtio-blk (Linux: /dev/vda, needs the
                         virtio_pci and virtio_blk drivers). The file is only read: it is copied
                         into the recording, and the guest writes to the copy
  --memory MIB           guest memory (default 64, 256 for Linux)
  --input FILE           serial console script: lines "expect TEXT", "send TEXT", "sleep SECONDS"
  --out DIR              bundle to write (default ./NAME-YYYYMMDD-HHMMSS.rewind); never overwritten
  --timeout SECONDS      stop after this long (wall clock)
  --stop-on TEXT         stop when the console prints TEXT
  --snapshot-every N     snapshot every N instructions, e.g. 200M (default ${formatIcount(DEFAULT_SNAPSHOT_EVERY)}; 0: initial only)
  --expect-timeout S     how long an "expect" waits (default 120)
  --max-log SIZE         stop when the replay log reaches SIZE, e.g. 512M (default here ${defaultMaxLogBytes() / 2 ** 20}M;
                         0: no limit). Indexing takes about 16 bytes of memory per log byte: a larger
                         log may need NODE_OPTIONS=--max-old-space-size=MB. A Linux guest writes
                         about 0.5 MB a second, one spinning after a panic about 12 MB a second
  --no-index             do not build the analysis index after recording (rewind index builds it later)
  --quiet                no progress output
  --json                 print the result as JSON (docs/json-output.md)

Linux defaults, added to a bzImage's command line unless it sets the parameter (docs/recording.md):
${LINUX_RECORDING_DEFAULTS.map((d) => `  ${d.param.padEnd(15)} ${d.why}`).join('\n')}

${SUFFIXES}`,

  info: () => `Usage: rewind info BUNDLE [--json] [--verify]

What a recording holds: kernel, QEMU, how it stopped, instructions, log, events, snapshots, console,
and whether its analysis index (rewind index) is there, complete, or damaged.
On a recording that is not finished (OUT.partial) it says so, and what to do, with exit code 2.

Options:
  --json                 print it as JSON (docs/json-output.md)
  --verify               also check the sha256 of every file (the log is always checked)
  --vmlinux FILE         a Linux recording made with --kaslr: find the kernel's KASLR offset (replays
                         to the end; FILE is the recorded kernel's vmlinux)`,

  events: () => `Usage: rewind events BUNDLE [--json] [--kind K[,K...]] [--from N] [--to N] [--limit N]

The recorded non-deterministic events (interrupts, clock reads, serial input, disk I/O, ...), each
with its time point (icount).

Options:
  --kind K[,K...]        only these kinds (repeatable), e.g. serial-input or interrupt,clock
  --from N, --to N       only events at icounts from N to N (inclusive)
  --limit N              at most N events
  --json                 print them as JSON (docs/json-output.md)

${SUFFIXES}`,

  check: () => `Usage: rewind check BUNDLE [--json] [--timeout S]

Verifies the sha256 of every file, then replays the whole recording from its start and compares
where it ends and what the guest printed with the recording. Exit code 1 on a mismatch.

Options:
  --timeout S            give up on the replay after S seconds (default 600)
  --json                 print the result as JSON`,

  index: () => `Usage: rewind index BUNDLE [--bucket N] [--jobs N] [--force] [--no-extra-snapshots] [--quiet]

Builds the recording's analysis index: one replay of every slice between verified snapshots with
Rewind's QEMU plugin, several at a time, recording per bucket of instructions which code ran and
which memory was written, so that reverse queries replay only the buckets that can hold their
answer (docs/index-design.md). The index goes to BUNDLE/index (or, when the bundle's folder is
read-only, to $XDG_STATE_HOME/rewind/index/); the recorded files are not touched. Each slice is
stored as soon as it is done: Ctrl-C stops the pass and keeps them, and the next run replays only
the slices missing, damaged or built with another bucket size. Progress goes to stderr; where the
index is, its size, its buckets and the wall time to stdout.

Options:
  --bucket N             bucket size in instructions (default 1M)
  --jobs N               slices replayed at a time (default: one per core)
  --force                rebuild every slice
  --no-extra-snapshots   save no extra snapshots (by default the pass saves verified snapshots
                         after stretches that replay slowly, within the size of the recorded ones;
                         they make later seeks there faster and the pass longer)
  --quiet                no progress output

${SUFFIXES}`,

  salvage: () => `Usage: rewind salvage OUT.partial [--out DIR] [--json] [--timeout S] [--quiet]

Makes a normal bundle of a recording that was interrupted (rewind record or its QEMU was killed,
or crashed) and left OUT.partial. QEMU writes its log in 4 KiB blocks, so the bundle ends at the
last complete event of the log, a little before the moment of the kill; snapshots taken after that
point are dropped, and the console is what a replay of the log prints. The stop reason is
qemu-exited with a detail that starts "salvaged from an interrupted recording". OUT.partial is
only read: remove it yourself once the bundle is checked (rewind check OUT).

Options:
  --out DIR              bundle to write (default: OUT, the name without .partial); never overwritten
  --timeout S            give up on the replay that recovers the console after S seconds (default 600)
  --quiet                no progress output
  --json                 print the new bundle's summary as JSON (as rewind info --json)`,

  replay: () => `Usage: rewind replay BUNDLE --gdb PORT [--host ADDR] [--allow-remote]

Serves the recording to gdb (target remote :PORT), with reverse-stepi, reverse-continue,
breakpoints and watchpoints running on Rewind's replay engine. Ctrl-C stops it.

Options:
  --gdb PORT             TCP port to listen on (0: any free port)
  --host ADDR            address to listen on (default 127.0.0.1)
  --allow-remote         allow a non-loopback --host (the gdb port has no authentication)`,

  bridge: () => `Usage: rewind bridge --root DIR [--socket PATH | --listen HOST:PORT [--token-file F]] [--log FILE] [--allow-remote]

Serves replay sessions of the bundles under DIR over JSON-RPC (docs/bridge.md), for a debugger on
another machine or in a container. Prints where it listens as JSON on stdout.

Options:
  --root DIR             the folder whose bundles it may open
  --socket PATH          listen on this Unix socket (the default transport; default path: docs/bridge.md)
  --listen HOST:PORT     listen on TCP instead; loopback only unless --allow-remote; needs a token
  --token-file F         write the token generated at start to F (mode 0600); else it goes to stderr
  --log FILE             log one line per request to FILE (appended; default stderr)
  --allow-remote         allow a non-loopback --listen address`,

  dap: () => `Usage: rewind dap

The Debug Adapter Protocol server on stdin/stdout, for any DAP client (VS Code, nvim-dap, Emacs
dape): clients start it themselves. It replays a recording, or records and then replays one, with
breakpoints, data breakpoints, Step Back, Reverse Continue and going to any time point. Launch
arguments and custom requests: docs/debug-adapter.md. It takes no options.`,

  lsp: () => `Usage: rewind lsp [--stdio]

The language server on stdin/stdout, for any LSP client (VS Code's extension starts it itself; nvim,
Emacs): above each function how often it ran in the recording, with its first, previous, next and
last call; per-line counts; lines that never ran faded; a hover with a variable's value now and its
recent writes. It follows a debug session's position: in VS Code through the extension; elsewhere
through the settings "bridge" and "recording" (a \`rewind bridge\` that the debug session attaches
to). Settings and the nvim and Emacs set-up: docs/language-server.md.`,
};

/** The help of one command, or undefined for a name that is not a command. */
export function commandHelp(name: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(HELP, name) ? HELP[name]!() : undefined;
}

/** `--help` or `-h` among a command's arguments (before a `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}
