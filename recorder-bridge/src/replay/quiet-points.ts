import type { TimePoint } from '../timepoint';

/**
 * Time points at which no event of the log happens. A replay stopped at one (by a replay-break) is
 * inside a run of instructions, with nothing of the log due: QEMU's main loop, which keeps running
 * while the VM is stopped, then has nothing it could replay in the wrong state, and a snapshot saved
 * there resumes however it is started (docs/replay-research.md). A stop exactly at an event's time
 * point leaves that event (and those at the same icount) for the stopped main loop.
 */
export class QuietPoints {
  /** Distinct event time points, ascending. */
  private readonly busy: Float64Array;

  // A typed array, not a Set: a guest spinning after a panic logs more than a Set holds (2^24).
  constructor(eventIcounts: Iterable<TimePoint>) {
    const all = Float64Array.from(eventIcounts).sort();
    let n = 0;
    for (let i = 0; i < all.length; i++) if (n === 0 || all[i] !== all[n - 1]) all[n++] = all[i]!;
    this.busy = all.subarray(0, n);
  }

  /** Whether no event happens at `t`. */
  isQuiet(t: TimePoint): boolean {
    const i = this.lowerBound(t);
    return i >= this.busy.length || this.busy[i] !== t;
  }

  /** The latest quiet time point at or before `t` (at least `min`; `min` itself when none is). */
  atOrBefore(t: TimePoint, min = 0): TimePoint {
    let q = t;
    for (let i = this.lowerBound(t); q > min && i >= 0 && this.busy[i] === q; i--) q--;
    return Math.max(q, min);
  }

  /** The earliest quiet time point strictly after `t`. */
  after(t: TimePoint): TimePoint {
    let q = t + 1;
    for (let i = this.lowerBound(q); i < this.busy.length && this.busy[i] === q; i++) q++;
    return q;
  }

  /** Index of the first busy time point >= t. */
  private lowerBound(t: TimePoint): number {
    let lo = 0;
    let hi = this.busy.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.busy[mid]! < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
