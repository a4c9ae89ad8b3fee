import type { QmpClient } from '../qemu/qmp';
import { groupStat } from '../util/processes';

/**
 * Tells a replay process that is stuck from one that is only slow or waiting, while it runs.
 *
 * - No QMP answer within `noAnswerMs`: QEMU's main loop answers QMP even through idle stretches
 *   (which replay at the wall clock's pace), so silence means a deadlock or a stopped process.
 * - The icount frozen for `frozenMs` while the process group keeps a core busy: a replay spinning
 *   inside QEMU (the livelock of docs/replay-research.md). A guest halted with nothing pending also
 *   freezes the icount, but replays that stretch asleep, with an idle CPU, and is left alone.
 * - A process of the group stopped by a signal (SIGSTOP): at once, even while a long command
 *   (a snapshot load or save, which holds QMP up) is allowed its time.
 *
 * The busy threshold is half a core, not a whole one: a spinning QEMU (two threads) still gets that
 * much on a 2-core machine shared with two busy loops, and an idle replay uses a few percent.
 */
export interface HangWatchOptions {
  qmp: QmpClient;
  /** Process group of the replay (the watchdog shell's pid). */
  pgid: number | undefined;
  noAnswerMs: number;
  /** Infinity: no frozen-icount rule (while a snapshot is saved the icount stands still, the CPU busy). */
  frozenMs: number;
  onHung(why: string): void;
}

const BUSY_FRACTION = 0.5;

/** Starts watching; returns the function that stops it. */
export function watchForHang(o: HangWatchOptions): () => void {
  let probing = false;
  let stopped = false;
  let lastIcount = -1;
  let frozenSince = Date.now();
  let cpuAtFreeze: { ticks: number; at: number } | undefined;
  const poll = Math.max(50, Math.min(250, o.frozenMs / 6));
  const frozenRule = Number.isFinite(o.frozenMs);
  const hung = (why: string) => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    o.onHung(why);
  };
  const timer = setInterval(() => {
    if (stopped || o.qmp.isClosed) return;
    if (o.pgid !== undefined && groupStat(o.pgid).stopped) return hung('it was stopped by a signal');
    if (probing) return;
    probing = true;
    o.qmp.execute<{ icount?: number }>('query-replay', undefined, o.noAnswerMs).then(
      (r) => {
        probing = false;
        if (stopped) return;
        const now = Date.now();
        const icount = r.icount ?? -1;
        if (icount !== lastIcount || o.pgid === undefined || !frozenRule) {
          lastIcount = icount;
          frozenSince = now;
          cpuAtFreeze = undefined;
          return;
        }
        const ticks = groupStat(o.pgid).cpuTicks;
        if (!cpuAtFreeze) {
          cpuAtFreeze = { ticks, at: now };
          return;
        }
        if (now - frozenSince < o.frozenMs) return;
        const busy = (ticks - cpuAtFreeze.ticks) / 100 / ((now - cpuAtFreeze.at) / 1000);
        if (busy >= BUSY_FRACTION) hung(`its icount stayed at ${icount} for ${((now - frozenSince) / 1000).toFixed(1)} s with ${Math.round(busy * 100)}% CPU`);
        else {
          // Idle: start a new window, so a replay that idles first and spins later is still caught.
          frozenSince = now;
          cpuAtFreeze = { ticks, at: now };
        }
      },
      () => {
        probing = false;
        if (!o.qmp.isClosed) hung(`it did not answer QMP within ${o.noAnswerMs / 1000} s`);
      },
    );
  }, poll);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
