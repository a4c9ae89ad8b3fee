/**
 * Events of the index made readable: the bytes typed at the serial console grouped into the
 * lines a person typed (jump points for Go to Time), and the bytes of a memory write as values.
 * Never imports `vscode`.
 */
import type { TimelineEvent } from '@rewind/protocol';
import { printableBytes } from './format';

export interface TypedLine {
  /** The line as typed, Enter shown as ⏎. */
  text: string;
  /** The first byte's event and time point. */
  eventIndex: number;
  icount: number;
  /** The last byte's time point. */
  lastIcount: number;
}

/** Groups serial-input events into lines: a line ends after a newline or carriage return. */
export function typedLines(events: readonly TimelineEvent[]): TypedLine[] {
  const out: TypedLine[] = [];
  let cur: TypedLine | undefined;
  for (const e of events) {
    if (e.kind !== 'serial-input' || e.bytes === undefined) continue;
    cur ??= { text: '', eventIndex: e.index, icount: e.icount, lastIcount: e.icount };
    cur.text += printableBytes(e.bytes);
    cur.lastIcount = e.icount;
    if (/[\r\n]/.test(e.bytes)) {
      out.push(cur);
      cur = undefined;
    }
  }
  if (cur) out.push(cur);
  return out;
}

/**
 * The bytes of a write (hex, as the adapter reports them: memory order) as a value: a
 * little-endian number for 1, 2, 4 or 8 bytes ("0x32342d6b"), else the hex bytes.
 */
export function memoryValue(hex: string | undefined, size: number): string | undefined {
  if (hex === undefined || !/^[0-9a-f]*$/i.test(hex) || hex.length === 0) return undefined;
  if ([1, 2, 4, 8].includes(size) && hex.length === size * 2) {
    const bytes = hex.match(/../g)!.reverse().join('');
    return `0x${bytes}`;
  }
  return hex.match(/../g)!.join(' ');
}

/** What the Events view says about a Linux recording's kernel-event scan, when it has something to say. */
export interface KernelScanNote {
  label: string;
  description: string;
  tooltip: string;
  /** A click scans again (the scan failed). */
  retry: boolean;
}

/**
 * The note for rewind/events' `kernelScan` (and `kernelScanError`): none once the scan is done, or
 * when the kinds shown have no kernel kind (or no Linux recording: no `kernelScan` at all).
 */
export function kernelScanNote(kinds: readonly string[], kernelScan: 'scanning' | 'partial' | 'done' | 'failed' | undefined, error?: string): KernelScanNote | undefined {
  if (!kinds.some((k) => k.startsWith('kernel-'))) return undefined;
  if (kernelScan === 'partial') {
    // Everything but the task switches is in: a note only when they are shown.
    if (!kinds.includes('kernel-task-switch')) return undefined;
    return {
      label: 'Kernel events: finding task switches…',
      description: 'panics, oopses, BUGs, warnings and modules are listed',
      tooltip: 'The panics, oopses, BUGs, warnings and module loads of the whole recording are listed; the task switches are still being found (each is read where it happens), and appear when the scan ends.',
      retry: false,
    };
  }
  if (kernelScan === 'scanning') {
    return {
      label: 'Kernel events: scanning the recording…',
      description: 'panics, oopses, BUGs, warnings, modules, task switches',
      tooltip: 'The whole recording is being searched for kernel panics, oopses, BUGs, warnings, module loads and task switches; they appear here when the scan ends. The debugger can be used meanwhile.',
      retry: false,
    };
  }
  if (kernelScan !== 'failed') return undefined;
  const why = error ?? 'no reason given';
  return {
    label: 'Kernel events: the scan failed',
    description: `${why} · click to scan again`,
    tooltip: `The search of the recording for kernel panics, oopses, BUGs, warnings, module loads and task switches failed: ${why}\n\nThe other events are listed as usual. Click to scan again (the Debug Console shows what the adapter logged).`,
    retry: true,
  };
}
