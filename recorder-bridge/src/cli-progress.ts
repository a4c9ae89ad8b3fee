/**
 * Progress of the `rewind` command's long work on stderr: one rewritten line on a terminal, a line
 * every few seconds (or a line a step) otherwise.
 */
import type { RecordProgress } from './record/recorder';
import type { SalvageProgress } from './record/salvage';
import { formatBytes } from './cli-format';
import { formatIcount, type TimePoint } from './timepoint';

/** Progress on stderr: one rewritten line on a terminal, a line every few seconds otherwise. */
export function progressPrinter(): { update: (p: RecordProgress) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let lastPrint = 0;
  let shown = false;
  return {
    update(p) {
      const now = Date.now();
      if (!tty && now - lastPrint < 2000 && p.phase === 'recording') return;
      lastPrint = now;
      const tail = (p.consoleTail[p.consoleTail.length - 1] ?? '').replace(/[\x00-\x1f\x7f]/g, '');
      const line =
        p.phase === 'verifying'
          ? `verifying snapshots ${(p.elapsedMs / 1000).toFixed(1)} s | replayed ${formatIcount(p.icount)} of ${formatIcount(p.totalIcount ?? p.icount)} instructions | Ctrl-C skips (checked on first open)`
          : `${p.phase} ${(p.elapsedMs / 1000).toFixed(1)} s | ${formatIcount(p.icount)} instructions | log ${formatBytes(p.logBytes)} | ${p.snapshots} snapshots | ${tail}`;
      if (tty) {
        const width = process.stderr.columns ?? 100;
        process.stderr.write('\r\x1b[K' + line.slice(0, width - 1));
        shown = true;
      } else {
        process.stderr.write(line + '\n');
      }
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

/** Salvage progress on stderr: one rewritten line on a terminal, one line a step otherwise. */
export function salvageProgressPrinter(): { update: (p: SalvageProgress) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let lastStep = '';
  let shown = false;
  return {
    update(p) {
      const counted = p.icount !== undefined && p.total !== undefined;
      const line = counted ? `${p.step}: ${formatIcount(p.icount!)} of ${formatIcount(p.total!)} instructions` : p.step;
      if (tty) {
        process.stderr.write('\r\x1b[K' + line.slice(0, (process.stderr.columns ?? 100) - 1));
        shown = true;
      } else if (p.step !== lastStep) {
        process.stderr.write(`rewind: ${p.step}\n`);
      }
      lastStep = p.step;
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

/** Progress on stderr: one rewritten line on a terminal, a line every few seconds otherwise. */
export function indexProgressPrinter(started: number): { update: (done: TimePoint, total: TimePoint) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  let lastPrint = 0;
  let shown = false;
  return {
    update(done, total) {
      const now = Date.now();
      if (!tty && now - lastPrint < 2000 && done < total) return;
      lastPrint = now;
      const pct = total ? Math.floor((100 * done) / total) : 100;
      const line = `indexing ${((now - started) / 1000).toFixed(1)} s | replayed ${formatIcount(done)} of ${formatIcount(total)} instructions (${pct}%) | Ctrl-C stops (finished slices are kept)`;
      if (tty) {
        process.stderr.write('\r\x1b[K' + line.slice(0, (process.stderr.columns ?? 100) - 1));
        shown = true;
      } else {
        process.stderr.write(line + '\n');
      }
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}
