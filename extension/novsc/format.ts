/**
 * How the extension writes time points, percentages and events for people: one place, so the
 * status bar, the trees, the pickers and the timeline say the same thing the same way.
 * Never imports `vscode` (unit tests load it; so does the webview bundle).
 */
import type { TimelineEvent } from '@rewind/protocol';

/** 5700134 -> "5,700,134" (fixed locale: the same text in every UI language and in tests). */
export function groupDigits(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A short icount for axes and labels: 950, 12.5k, 5.70M, 1.25G. */
export function shortIcount(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${trim(n / 1e9, 2)}G`;
  if (a >= 1e6) return `${trim(n / 1e6, 2)}M`;
  if (a >= 1e3) return `${trim(n / 1e3, 1)}k`;
  return String(Math.round(n));
}

function trim(v: number, digits: number): string {
  return v.toFixed(digits).replace(/\.?0+$/, '');
}

/** icount / end as a percentage with one decimal, "50.0%" (end 0: "0.0%"). */
export function percentOf(icount: number, end: number): number {
  return end > 0 ? Math.min(100, Math.max(0, (icount / end) * 100)) : 0;
}

export function formatPercent(p: number): string {
  return `${p.toFixed(1)}%`;
}

/** "icount 2,850,067 (50.0%)" */
export function describePosition(icount: number, end: number): string {
  return `icount ${groupDigits(icount)} (${formatPercent(percentOf(icount, end))})`;
}

/** Bytes typed at the console as readable text: "name\n" -> "name⏎", control bytes as \xNN. */
export function printableBytes(bytes: string): string {
  let out = '';
  for (const ch of bytes) {
    const c = ch.charCodeAt(0);
    if (ch === '\n' || ch === '\r') out += '⏎';
    else if (ch === '\t') out += '⇥';
    else if (c < 0x20 || c === 0x7f || c > 0x7e) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

/** Human names of the index's event kinds (EVENT_KINDS in protocol/recording.ts). */
export const KIND_LABELS: Record<string, string> = {
  interrupt: 'Interrupt',
  exception: 'Exception',
  clock: 'Clock read',
  'serial-input': 'Serial input',
  'char-write': 'Console output',
  'char-read-all': 'Console read',
  block: 'Disk I/O',
  network: 'Network packet',
  input: 'Keyboard/mouse input',
  random: 'Random bytes',
  audio: 'Audio',
  bh: 'Bottom half',
  shutdown: 'Shutdown',
  checkpoint: 'Replay checkpoint',
  'kernel-panic': 'Kernel panic',
  'kernel-oops': 'Kernel oops',
  'kernel-bug': 'Kernel BUG()',
  'kernel-warning': 'Kernel WARN()',
  'kernel-module-load': 'Module loaded',
  'kernel-module-unload': 'Module unloaded',
  'kernel-task-switch': 'Task switch',
  end: 'End of log',
};

/** Kinds of the index that are replay bookkeeping, not guest events: never counted or listed as events. */
export const BOOKKEEPING_KINDS: readonly string[] = ['checkpoint', 'bh', 'end'];

/** Events of the guest in a `counts` table of the index (bookkeeping left out). */
export function guestEventCount(counts: Record<string, number>): number {
  return Object.entries(counts).reduce((n, [k, c]) => (BOOKKEEPING_KINDS.includes(k) ? n : n + c), 0);
}

export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? kind;
}

/** One line for an event: `Serial input "n"`, `Clock read host = 1234 ns`, `Disk I/O #7`. */
export function describeEvent(e: Pick<TimelineEvent, 'kind' | 'detail' | 'bytes' | 'value' | 'size'>): string {
  const name = kindLabel(e.kind);
  switch (e.kind) {
    case 'serial-input':
      return e.bytes !== undefined ? `${name} "${printableBytes(e.bytes)}"` : name;
    case 'clock':
      return `${name}${e.detail ? ` ${e.detail}` : ''}${e.value !== undefined ? ` = ${e.value} ns` : ''}`;
    case 'char-write':
      return e.value !== undefined ? `${name} (${e.value} byte${e.value === '1' ? '' : 's'})` : name;
    case 'block':
      return e.value !== undefined ? `${name} #${e.value}` : name;
    case 'network':
      return `${name}${e.size !== undefined ? ` (${e.size} bytes)` : ''}`;
    default:
      return e.detail ? `${name}: ${e.detail}` : name;
  }
}
