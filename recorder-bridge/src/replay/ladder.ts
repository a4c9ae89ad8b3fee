/**
 * The snapshot ladder: every snapshot a replay process can start from (the recorded ones, then those
 * the engine adds while replaying), which of them are usable, the nearest one at or before a time
 * point, and the bound on how many the engine may add. It owns no process: the worker pool starts
 * processes from its points, and the engine decides when to add one.
 */
import type { SnapshotEntry } from '../bundle/manifest';
import { UserError } from '../errors';
import type { SnapshotVerdict } from '@rewind/protocol';
import type { TimePoint } from '../timepoint';
import type { QuietPoints } from './quiet-points';
import { probeOf } from './snapshot-verify';
import type { LadderPoint } from './worker-types';

/**
 * A time point farther than this from the nearest snapshot behind it gets an anchor: a snapshot
 * just behind it (synchronously on a seek, in the background after other moves).
 */
const LADDER_GAP = 2_000_000;
/** ...this many instructions before the time point, so that going back starts next to it. */
const LADDER_NEAR = 100_000;

/**
 * A snapshot the engine added lives in an image of its own, where no blank process waits: a process
 * from it starts cold (on the Linux fixture 0.6-1 s: the image's copy, QEMU's start, the load),
 * about what replaying this many instructions from a recorded or index snapshot takes.
 */
const ADDED_POINT_SAVES = 50_000_000;

/**
 * A recorded or index snapshot, as against one the engine added: blank processes wait on its image,
 * so a replay from it starts warm.
 */
function warm(p: LadderPoint): boolean {
  return p.source !== 'replay';
}

/** A ladder point without its image file: what callers outside the engine see. */
export type LadderPointInfo = Omit<LadderPoint, 'image'>;

export class SnapshotLadder {
  private points: LadderPoint[];
  /** Snapshots that failed verification again after a replay started from them was lost: never started from again. */
  private readonly unusable = new Set<LadderPoint>();
  /**
   * Snapshots a replay process was lost while starting from: avoided until a verification replay
   * clears them (a killed or stopped process says nothing about its snapshot) or condemns them.
   */
  private readonly suspects = new Set<LadderPoint>();
  private seq = 0;

  constructor(
    recorded: SnapshotEntry[],
    /** The qcow2 image holding the recorded snapshots. */
    image: string,
    end: TimePoint,
    /** Time points with no event of the log: where processes may be stopped and saved safely. */
    readonly quiet: QuietPoints,
    /** Snapshots the engine may add (the storage bound); 0 turns adding off. */
    readonly maxAdded: number,
  ) {
    this.points = recorded.filter((s) => s.icount <= end).map((s) => ({ ...s, image, source: 'record' as const }));
  }

  /** Every point, oldest first. */
  all(): readonly LadderPoint[] {
    return this.points;
  }

  /** Where a replay process started from `p` first stops: its icount for init and for snapshots at quiet points, else the first quiet point after it. */
  startOf(p: LadderPoint): TimePoint {
    return probeOf(p, this.quiet);
  }

  usable(p: LadderPoint): boolean {
    return p.icount === 0 || (!this.unusable.has(p) && !this.suspects.has(p));
  }

  /**
   * The usable snapshot whose replays reach `t` soonest: the latest one whose start point is at or
   * before `t` (a process never stops right at a snapshot taken while recording: see ReplayWorker.start).
   */
  nearest(t: TimePoint, kind: (p: LadderPoint) => boolean = () => true): LadderPoint {
    let best = this.points[0]!;
    for (const s of this.points) if (this.startOf(s) <= t && s.icount >= best.icount && this.usable(s) && kind(s)) best = s;
    return best;
  }

  /**
   * Where a scan over the recording that reaches `t` starts: the nearest snapshot, unless the engine
   * added it and it saves less than ADDED_POINT_SAVES instructions over the nearest recorded or
   * index snapshot (whose start is warm). Measured on the Linux fixture after 12 moves (12 added
   * snapshots): the value histories of `tick_next_period` and `jiffies_seq` in 9 and 8 slices
   * instead of 17 and 16, 12.2 s and 12.4 s instead of 16.5 s and 16.3 s.
   */
  scanStart(t: TimePoint): LadderPoint {
    const near = this.nearest(t);
    if (warm(near)) return near;
    const kept = this.nearest(t, warm);
    return this.startOf(near) - this.startOf(kept) < ADDED_POINT_SAVES ? kept : near;
  }

  /**
   * Whether a scan whose last cut is `lastCut` is cut again at `p`: always at a recorded or index
   * snapshot; at a snapshot the engine added only where the stretch it splits (from the last cut to
   * the next usable recorded or index snapshot, or the scan's `end` if sooner) is long on both sides (see
   * ADDED_POINT_SAVES: each cut is a cold start, and the recorded snapshots already give a core
   * each several slices).
   */
  cutsScan(p: LadderPoint, lastCut: LadderPoint, end: TimePoint): boolean {
    if (warm(p)) return true;
    const nextWarm = this.points.find((x) => x.icount > p.icount && warm(x) && this.usable(x));
    return Math.min(p.icount - lastCut.icount, Math.min(nextWarm?.icount ?? end, end) - p.icount) >= 4 * ADDED_POINT_SAVES;
  }

  /** The first usable point after `p`, if any. */
  nextUsableAfter(p: LadderPoint): LadderPoint | undefined {
    return this.points.find((x) => x.icount > p.icount && this.usable(x));
  }

  at(icount: TimePoint): LadderPoint | undefined {
    return this.points.find((p) => p.icount === icount);
  }

  /**
   * Where to leave an anchor on the way to `t`, when the nearest snapshot behind it is far (an idle
   * stretch replays at the wall clock's pace): a quiet point just before `t`. Undefined when near
   * enough, or when the engine adds no snapshots.
   */
  anchorFor(t: TimePoint): TimePoint | undefined {
    const near = this.quiet.atOrBefore(t - LADDER_NEAR);
    return this.maxAdded > 0 && near - this.startOf(this.nearest(t - 1)) > LADDER_GAP ? near : undefined;
  }

  /** A fresh name for a snapshot the engine adds. */
  nextName(): string {
    return `rw${++this.seq}`;
  }

  /**
   * Puts a point the engine saved on the ladder. Over the bound, the added snapshots farthest from
   * `position` go (never those created on request).
   */
  add(p: LadderPoint, position: TimePoint): void {
    this.points.push(p);
    this.points.sort((a, b) => a.icount - b.icount);
    const bound = Math.max(this.maxAdded, 1);
    const added = this.points.filter((x) => x.source === 'replay' && !x.pinned);
    if (added.length <= bound) return;
    added.sort((a, b) => Math.abs(b.icount - position) - Math.abs(a.icount - position));
    const drop = new Set(added.slice(0, added.length - bound));
    this.points = this.points.filter((x) => !drop.has(x));
  }

  /**
   * Puts the index's extra snapshots on the ladder (IndexAttachment): kept for the engine's life,
   * outside the bound of added snapshots, like recorded ones.
   */
  addIndexPoints(points: readonly LadderPoint[]): void {
    const have = new Set(this.points.map((p) => p.icount));
    this.points.push(...points.filter((p) => p.source === 'index' && !have.has(p.icount)));
    this.points.sort((a, b) => a.icount - b.icount);
  }

  /** Removes a snapshot the engine added. Recorded snapshots belong to the bundle and stay, and the index's to the index. */
  remove(name: string): boolean {
    const p = this.points.find((x) => x.name === name);
    if (!p) return false;
    if (p.source === 'record') throw new UserError(`snapshot ${name} was taken while recording and belongs to the bundle; it cannot be deleted`, 'snapshot-recorded');
    if (p.source === 'index') throw new UserError(`snapshot ${name} belongs to the recording's index (rewind index); it cannot be deleted`, 'snapshot-recorded');
    this.points = this.points.filter((x) => x !== p);
    return true;
  }

  /** Recorded snapshots that verification found bad are never started from. */
  applyVerdicts(verdicts: SnapshotVerdict[]): void {
    for (const v of verdicts) {
      const p = this.points.find((x) => x.name === v.name && x.icount === v.icount);
      if (p && v.verdict !== 'ok' && p.icount !== 0) this.unusable.add(p);
    }
  }

  /** Avoids `p` until judged (see suspects). False when it was suspect or unusable already, or is the initial snapshot. */
  suspect(p: LadderPoint): boolean {
    if (p.icount === 0 || this.suspects.has(p) || this.unusable.has(p)) return false;
    this.suspects.add(p);
    return true;
  }

  /** A re-verification's verdict on a suspect snapshot: usable again, or never again. */
  judge(p: LadderPoint, ok: boolean): void {
    this.suspects.delete(p);
    if (!ok) this.unusable.add(p);
  }
}
