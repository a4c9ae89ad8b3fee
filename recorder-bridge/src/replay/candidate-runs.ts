/**
 * Span arithmetic for the runs a scan replays with its traps: the index's candidate buckets joined
 * into runs, and runs clipped to a slice (search.ts). Joining buckets a little apart as well (one
 * trapped run instead of a stop and a start between them) was measured and not kept: the value
 * history of `jiffies_seq` on the Linux fixture (1,808 writes in 401 buckets) took 17.0 s with runs
 * of adjacent buckets and 17.1 s with gaps under 3M instructions joined; its time is in the stops.
 */
import type { IndexSpan } from '../index/recording-index';
import type { TimePoint } from '../timepoint';

/** Adjacent spans joined: one run with traps instead of two (and no boundary between them to miss a trigger at). */
export function mergeAdjacent(spans: IndexSpan[]): IndexSpan[] {
  const out: IndexSpan[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && last.to >= s.from) last.to = Math.max(last.to, s.to);
    else out.push({ ...s });
  }
  return out;
}

/** The parts of the spans inside [from, to). */
export function clip(spans: IndexSpan[], from: TimePoint, to: TimePoint): IndexSpan[] {
  return spans.filter((s) => s.to > from && s.from < to).map((s) => ({ from: Math.max(s.from, from), to: Math.min(s.to, to) }));
}
