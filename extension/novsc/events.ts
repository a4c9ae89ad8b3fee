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
