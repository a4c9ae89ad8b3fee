/**
 * Progress of the `rewind` command's long work on stderr: one rewritten line on a terminal, a line
 * every few seconds (or a line a step) otherwise.
 */
import type { RecordProgress } from './record/recorder';
import type { SalvageProgress } from './record/salvage';
import { formatBytes } from './cli-format';
import { formatIcount, type TimePoint } from './timepoint';

interface Printer<A extends unknown[]> {
  update: (...args: A) => void;
  done: () => void;
}

/**
 * A status line on stderr: `line` says what to show for an update (undefined: nothing now). On a
 * terminal the line is rewritten in place; otherwise each shown line is a line of its own.
 */
function statusLine<A extends unknown[]>(line: (tty: boolean, ...args: A) => string | undefined): Printer<A> {
  const tty = process.stderr.isTTY === true;
  let shown = false;
  return {
    update(...args) {
      const text = line(tty, ...args);
      if (text === undefined) return;
      if (tty) {
        process.stderr.write('\r\x1b[K' + text.slice(0, (process.stderr.columns ?? 100) - 1));
        shown = true;
      } else {
        process.stderr.write(text + '\n');
      }
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

/** Recording progress: a line every 2 s when stderr is not a terminal. */
export function progressPrinter(): Printer<[RecordProgress]> {
  let lastPrint = 0;
  return statusLine((tty, p: RecordProgress) => {
    const now = Date.now();
    if (!tty && now - lastPrint < 2000 && p.phase === 'recording') return undefined;
    lastPrint = now;
    const tail = (p.consoleTail[p.consoleTail.length - 1] ?? '').replace(/[\x00-\x1f\x7f]/g, '');
    return p.phase === 'verifying'
      ? `verifying snapshots ${(p.elapsedMs / 1000).toFixed(1)} s | replayed ${formatIcount(p.icount)} of ${formatIcount(p.totalIcount ?? p.icount)} instructions | Ctrl-C skips (checked on first open)`
      : `${p.phase} ${(p.elapsedMs / 1000).toFixed(1)} s | ${formatIcount(p.icount)} instructions | log ${formatBytes(p.logBytes)} | ${p.snapshots} snapshots | ${tail}`;
  });
}

/** Salvage progress: one line a step when stderr is not a terminal. */
export function salvageProgressPrinter(): Printer<[SalvageProgress]> {
  let lastStep = '';
  return statusLine((tty, p: SalvageProgress) => {
    const step = p.step;
    const changed = step !== lastStep;
    lastStep = step;
    if (!tty) return changed ? `rewind: ${step}` : undefined;
    return p.icount !== undefined && p.total !== undefined ? `${step}: ${formatIcount(p.icount)} of ${formatIcount(p.total)} instructions` : step;
  });
}

/** Index pass progress: a line every 2 s when stderr is not a terminal. */
export function indexProgressPrinter(started: number): Printer<[TimePoint, TimePoint]> {
  let lastPrint = 0;
  return statusLine((tty, done: TimePoint, total: TimePoint) => {
    const now = Date.now();
    if (!tty && now - lastPrint < 2000 && done < total) return undefined;
    lastPrint = now;
    const pct = total ? Math.floor((100 * done) / total) : 100;
    return `indexing ${((now - started) / 1000).toFixed(1)} s | replayed ${formatIcount(done)} of ${formatIcount(total)} instructions (${pct}%) | Ctrl-C stops (finished slices are kept)`;
  });
}
