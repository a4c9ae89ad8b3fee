/** What scans over the recording stop for, what they find, and the stretches they replay (search.ts, probe-scan.ts). */
import type { IndexSpan } from '../index/recording-index';
import type { TimePoint } from '../timepoint';
import type { SampledTask } from './task-sample';
import type { Breakpoint, LadderPoint, Watchpoint } from './worker-types';

/** What a scan stops for. */
export interface Traps {
  breakpoints?: Breakpoint[];
  watchpoints?: Watchpoint[];
}

export interface Hit {
  icount: TimePoint;
  /** Code address: the breakpoint's, or the pc after a watched access. */
  address: bigint;
  dataAddress?: bigint;
  /**
   * The write was the frame the CPU pushed while delivering an interrupt or exception: no
   * instruction made it, `icount` is the time point where the delivery happened (seek there: the
   * frame is not written yet), and `address` is the handler's first instruction.
   */
  delivery?: true;
  /** With a `sample`: the sampled memory just before and just after the write. */
  before?: Buffer;
  value?: Buffer;
  /** With a sample's `task`: the Linux task and CPU that wrote. */
  task?: SampledTask;
}

/** A stretch of the recording between two snapshots: a replay process can start at `from`. */
export interface Slice {
  snapshot: LadderPoint;
  from: TimePoint;
  to: TimePoint;
  /**
   * With an index: the only stretches of [from, to) that can hold a trigger (ascending, disjoint,
   * not adjacent). The replay runs plainly between them and with traps inside them.
   */
  runs?: IndexSpan[];
}
