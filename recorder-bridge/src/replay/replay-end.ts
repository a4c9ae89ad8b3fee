import type { ReplayLogIndex } from '../replay-log';
import type { TimePoint } from '../timepoint';

/**
 * Where a replay of a recording ends: at its first shutdown event (the guest's power-off or the
 * recorder's quit). The log's total can exceed it by the few instructions QEMU ran while stopping.
 */
export function replayEnd(index: ReplayLogIndex): TimePoint {
  return index.events.find((e) => e.kind === 'shutdown')?.icount ?? index.totalIcount;
}
