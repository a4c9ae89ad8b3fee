/**
 * A forward continue with the recording's index: the stretches where no trap can trigger are gone
 * through by going to the next candidate bucket (a start from the nearest snapshot or process,
 * and no traps on the way, which make QEMU run their pages an instruction per block); the traps
 * are set only in the candidate buckets, whose hits the gdbstub then finds exactly.
 */
import type { IndexSpan } from '../index/recording-index';
import type { TimePoint } from '../timepoint';
import type { RunOptions, StopCause } from './worker-types';

export interface ForwardMoves {
  position(): TimePoint;
  end: TimePoint;
  /** Goes to a time point (no trap on the way); an aborted signal of the continue leaves it where it got. */
  goTo(t: TimePoint): Promise<unknown>;
  /** Runs the current process forward under the traps. */
  run(opts: RunOptions): Promise<StopCause>;
}

/** `runs`: the candidate stretches of [position, until), ascending (SliceSearch.forwardRuns). */
export async function continueByIndex(runs: readonly IndexSpan[], opts: RunOptions, until: TimePoint, m: ForwardMoves): Promise<StopCause> {
  // A write by a run's last instruction triggers at the run's end: one instruction more.
  const watching = (opts.watchpoints?.length ?? 0) > 0;
  for (const run of runs) {
    if (opts.signal?.aborted) break;
    // Arrived by going there: a breakpoint right at the run's first time point is a hit.
    const arrived = run.from > m.position();
    if (arrived) await m.goTo(run.from);
    if (opts.signal?.aborted) break;
    const stop = await m.run({ ...opts, until: Math.min(watching ? run.to + 1 : run.to, until), arrived });
    if (stop.kind !== 'time' || opts.signal?.aborted) return stop;
  }
  if (!opts.signal?.aborted && m.position() < until) await m.goTo(until);
  return { kind: m.position() >= m.end ? 'end' : 'time', icount: m.position() };
}
