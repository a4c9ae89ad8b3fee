import type { ReplayEvent } from '../replay-log';
import type { TimePoint } from '../timepoint';

export interface TimedLine {
  text: string;
  /** Time point at which the guest wrote the line's first byte. */
  start: TimePoint;
  /** Time point at which the guest wrote the line's last byte (its newline). */
  icount: TimePoint;
}

/**
 * Exact time points for console lines. In record mode QEMU logs the result of every write the
 * guest's serial port makes to its character device (a `char-write` event whose value is the
 * number of bytes written), in order. With one serial port, the running sum of those values is the
 * offset in the console transcript, so each byte, and so each line, gets the icount of the write
 * that produced it. Returns undefined when the writes do not add up to the transcript (several
 * character devices, or output lost), in which case callers keep the approximate stamps.
 */
export function consoleLineTimepoints(raw: string, events: readonly ReplayEvent[]): TimedLine[] | undefined {
  const writes = events.filter((e) => e.kind === 'char-write');
  // byteIcount[i] = icount of the write that produced byte i
  const byteIcount = new Float64Array(raw.length);
  let offset = 0;
  for (const w of writes) {
    const n = Number(w.value ?? '0');
    if (!Number.isInteger(n) || n < 0) return undefined;
    if (offset + n > raw.length) return undefined;
    byteIcount.fill(w.icount, offset, offset + n);
    offset += n;
  }
  if (offset !== raw.length) return undefined;
  const lines: TimedLine[] = [];
  let begin = 0;
  while (begin < raw.length) {
    const nl = raw.indexOf('\n', begin);
    const end = nl < 0 ? raw.length - 1 : nl;
    lines.push({ text: raw.slice(begin, end + (nl < 0 ? 1 : 0)).replace(/\r+$/, ''), start: byteIcount[begin]!, icount: byteIcount[end]! });
    begin = end + 1;
  }
  // Like the live transcript, an unterminated last line of only "\r" is no line.
  if (!raw.endsWith('\n') && lines[lines.length - 1]?.text === '') lines.pop();
  return lines;
}
