import type { QmpClient } from '../qemu/qmp';
import { groupStat, groupThreadWaits } from '../util/processes';

/**
 * Tells a replay process that is stuck from one that is only slow or waiting, while it runs.
 *
 * - No QMP answer within `noAnswerMs` (or `idleSilenceMs`, where given) while the process group
 *   used almost no CPU, and no thread of it was runnable or waited on the disk: a deadlock. (A
 *   runnable thread is only starved: on a loaded 2-core machine a replay silent in a QMP stall got
 *   no CPU for 0.1 s and was taken for deadlocked, CI run F.) QEMU's main loop answers QMP even through idle stretches (which replay at
 *   the wall clock's pace, asleep), but not at a few points of a busy replay: on the Linux fixture
 *   QMP stalls just after clear_bss's `rep stosb` over 5.5 MB and at icount 200,000,000, 0.12 s
 *   alone, 0.5-0.8 s next to two busy loops, over 1.5 s in a loaded CI run (docs/replay-research.md,
 *   "QMP stalls"). So a silent process that keeps a CPU busy, or waits on the disk, is given up
 *   to `silentCapMs`.
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
  qmp: Pick<QmpClient, 'execute' | 'isClosed'>;
  /** Process group of the replay (the watchdog shell's pid). */
  pgid: number | undefined;
  noAnswerMs: number;
  /** Infinity: no frozen-icount rule (while a snapshot is saved the icount stands still, the CPU busy). */
  frozenMs: number;
  /** How long a silent process that is busy or waits on the disk is given (default SILENT_CAP_MS). */
  silentCapMs?: number;
  /**
   * How long a silent process that uses no CPU is given (default `noAnswerMs`). A replay can pause
   * like that and go on: the replay of a Linux guest spinning after a panic (a checkpoint every 16
   * instructions) answered no QMP for 1.5 s and more at 0% CPU on a loaded 2-core machine, and
   * reached its end (docs/replay-research.md, "Silent pauses"). Snapshot verification, which no
   * user waits on and whose false alarm would condemn a good snapshot, gives it longer.
   */
  idleSilenceMs?: number;
  /** The process group's state (default: read from /proc); tests pass their own. */
  probeGroup?: (pgid: number) => GroupState;
  onHung(why: string): void;
}

export interface GroupState {
  cpuTicks: number;
  stopped: boolean;
  /** Only asked while QMP is silent: a thread of the group waits on the disk (state D) or for a CPU (runnable, state R). */
  waits(): boolean;
}

const BUSY_FRACTION = 0.5;
/** A silent process that used less than this share of a core is taken for deadlocked. */
const SILENT_IDLE_FRACTION = 0.1;
/** The longest QMP silence allowed to a process that stays busy or waits on the disk. */
export const SILENT_CAP_MS = 30_000;

function procGroup(pgid: number): GroupState {
  return { ...groupStat(pgid), waits: () => groupThreadWaits(pgid) };
}

/** Starts watching; returns the function that stops it. */
export function watchForHang(o: HangWatchOptions): () => void {
  const probeGroup = o.probeGroup ?? procGroup;
  const silentCapMs = Math.max(o.silentCapMs ?? SILENT_CAP_MS, o.noAnswerMs);
  const idleSilenceMs = Math.max(o.idleSilenceMs ?? o.noAnswerMs, o.noAnswerMs);
  let probing = false;
  let stopped = false;
  let lastIcount = -1;
  let frozenSince = Date.now();
  let cpuAtFreeze: { ticks: number; at: number } | undefined;
  /** While a probe is unanswered: when it was sent, since when it has used no CPU, and the CPU window being judged. */
  let silence: { since: number; idleSince: number; window: { ticks: number; at: number } } | undefined;
  const poll = Math.max(50, Math.min(250, o.frozenMs / 6, o.noAnswerMs / 4));
  const frozenRule = Number.isFinite(o.frozenMs);
  const hung = (why: string) => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    o.onHung(why);
  };
  /** A probe unanswered for noAnswerMs or more: judged over each window of that length. */
  const judgeSilence = (now: number, state: GroupState) => {
    if (!silence || now - silence.window.at < o.noAnswerMs) return;
    const busy = (state.cpuTicks - silence.window.ticks) / 100 / ((now - silence.window.at) / 1000);
    if (busy >= SILENT_IDLE_FRACTION || state.waits()) silence.idleSince = now;
    else if (now - silence.idleSince >= idleSilenceMs) {
      hung(`it did not answer QMP for ${((now - silence.since) / 1000).toFixed(1)} s, using ${Math.round(busy * 100)}% CPU, no thread runnable or waiting on the disk`);
      return;
    }
    silence.window = { ticks: state.cpuTicks, at: now };
  };
  const timer = setInterval(() => {
    if (stopped || o.qmp.isClosed) return;
    const state = o.pgid !== undefined ? probeGroup(o.pgid) : undefined;
    if (state?.stopped) return hung('it was stopped by a signal');
    if (probing) {
      if (state) judgeSilence(Date.now(), state);
      return;
    }
    probing = true;
    const sent = Date.now();
    if (state) silence = { since: sent, idleSince: sent, window: { ticks: state.cpuTicks, at: sent } };
    // Without a process group to look at, silence alone decides, after noAnswerMs.
    const deadline = state ? silentCapMs : o.noAnswerMs;
    o.qmp.execute<{ icount?: number }>('query-replay', undefined, deadline).then(
      (r) => {
        probing = false;
        silence = undefined;
        if (stopped) return;
        const now = Date.now();
        const icount = r.icount ?? -1;
        if (icount !== lastIcount || o.pgid === undefined || !frozenRule) {
          lastIcount = icount;
          frozenSince = now;
          cpuAtFreeze = undefined;
          return;
        }
        const ticks = probeGroup(o.pgid).cpuTicks;
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
        silence = undefined;
        if (!o.qmp.isClosed) hung(`it did not answer QMP within ${deadline / 1000} s`);
      },
    );
  }, poll);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
