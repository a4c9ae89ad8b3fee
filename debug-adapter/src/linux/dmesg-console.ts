/**
 * When a kernel log record was printed (rewind/dmesgTime), from the console transcript: Rewind
 * records Linux with `console=ttyS0`, so printk writes each record of the console's loglevel to the
 * serial console as `[SSSSS.UUUUUU] TEXT` (printk's time prefix, `%5lu.%06lu`), and the bundle's
 * console.jsonl has the exact time point of each line. A record is found by that prefix (its
 * timestamp to the microsecond) and its first line of text: cheap (no replay) and exact where the
 * line was printed. Records the console did not print (a level above the console's loglevel, `quiet`,
 * another console) are not found, and the caller says so.
 */
import type { ConsoleLine } from '@rewind/protocol';

/** printk's time prefix of a record: "[    1.234567] " (seconds right-aligned in 5 columns). */
export function printkPrefix(timestampNs: number): string {
  const us = Math.floor(timestampNs / 1000);
  const sec = Math.floor(us / 1e6);
  return `[${String(sec).padStart(5, ' ')}.${String(us % 1e6).padStart(6, '0')}] `;
}

/** The console line that printed the record (its first line of text), if the console printed it. */
export function consoleLineOf(record: { timestampNs: number; text: string }, lines: readonly ConsoleLine[]): ConsoleLine | undefined {
  const prefix = printkPrefix(record.timestampNs);
  const first = (record.text.split('\n')[0] ?? '').trimEnd();
  for (const l of lines) {
    const text = l.text.replace(/\r/g, '').trimEnd();
    if (!text.startsWith(prefix)) continue;
    // CONFIG_PRINTK_CALLER puts "[T123] " between the time and the text.
    const rest = text.slice(prefix.length).replace(/^\[\s*[TC]\d+\] /, '');
    if (rest === first) return l;
  }
  return undefined;
}
