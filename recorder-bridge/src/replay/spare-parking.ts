/**
 * Where the engine parks idle replay processes after a move, in the background (engine.ts,
 * afterMove): `count` at the nearest snapshot behind the current time (an anchor saved just behind
 * it when the nearest is far: ladder.ts), so that a step back starts without waiting for a process;
 * and one at each of FAR_SPARES behind it, where a reverse continue or a last write whose answer
 * lies a few million instructions back starts its scan and its landing there, instead of at a snapshot
 * up to 200M instructions back (1-3 s of replay on the Linux fixture, for an answer 0.6M back).
 */
import type { TimePoint } from '../timepoint';
import type { SnapshotLadder } from './ladder';
import type { LadderPoint } from './worker-types';
import type { WorkerPool } from './worker-pool';

/**
 * Distances behind the current time of the far spares, and how many at each: two at the first, for
 * a last write's scan and its landing (a watchpoint has no counts to land by: search.ts).
 */
export const FAR_SPARES = [
  { distance: 4_000_000, count: 2 },
  { distance: 32_000_000, count: 1 },
];
/** A far spare is parked only where the nearest snapshot or idle process behind its place is farther than this. */
const FAR_SPARE_SLACK = 2_000_000;

export interface SpareParking {
  pool: WorkerPool;
  ladder: SnapshotLadder;
  /** Spares at the nearest snapshot (0: none, and no far ones either). */
  count: number;
  /** Saves an anchor snapshot at a time point (undefined: not saved). */
  saveAnchor(at: TimePoint): Promise<LadderPoint | undefined>;
  /** Whether the engine still stands at the time point the parking is for, and is open. */
  still(): boolean;
}

export async function parkSpares(p: SpareParking, t: TimePoint): Promise<void> {
  if (p.count === 0) return;
  let point = p.ladder.nearest(t - 1);
  const anchorAt = p.ladder.anchorFor(t);
  if (anchorAt !== undefined) point = (await p.saveAnchor(anchorAt)) ?? point;
  while (p.still() && p.pool.parkedIn(p.ladder.startOf(point), t) < p.count) await p.pool.start(point);
  for (const { distance, count } of FAR_SPARES) {
    const at = t - distance;
    if (at <= 0 || at - p.ladder.startOf(p.ladder.nearest(at)) <= FAR_SPARE_SLACK) continue;
    for (let n = p.pool.parkedIn(at - FAR_SPARE_SLACK, at + 1); n < count && p.still(); n++) {
      // A new process from the snapshot behind, or an idle one between it and the spares' place
      // (not one there already), claimed while it goes there.
      const w = await p.pool.claimAtOrBefore(at - FAR_SPARE_SLACK - 1);
      try {
        if (w.icount < at) await p.pool.withRecovery(w, () => w.runTo(at));
      } finally {
        p.pool.release(w);
      }
    }
  }
}
