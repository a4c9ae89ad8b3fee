/**
 * Counts over the recording: how often code ran, from the index where it has the answer (whole
 * buckets), with the edges of a range that cut a bucket replayed exactly; without an index, by
 * replaying the range (every hit). And the code that ran in a range (coverage), from the index.
 */
import { UserError } from '../errors';
import type { TimePoint } from '../timepoint';
import type { ReplayEngine, ScanRange } from './engine';

export interface CountsResult {
  counts: Map<bigint, number>;
  /** Whether the index answered (else every hit was replayed). */
  indexed: boolean;
}

/** Executions of each address in [from, to) (the whole recording by default), exactly. */
export async function hitCounts(engine: ReplayEngine, addresses: bigint[], range: ScanRange = {}): Promise<CountsResult> {
  const from = Math.max(0, range.from ?? 0);
  const to = Math.min(range.to ?? engine.end, engine.end);
  const counts = new Map(addresses.map((a) => [a, 0]));
  const ix = engine.indexing.index;
  const breakpoints = addresses.map((address) => ({ address }));
  if (!ix || !engine.usesIndex({ breakpoints }, from, to)) {
    for (const h of await engine.hits(breakpoints, { ...range, from, to })) counts.set(h.address, (counts.get(h.address) ?? 0) + 1);
    return { counts, indexed: false };
  }
  // Whole buckets from the index; the parts of the edge buckets inside the range by replay.
  const edges: Array<[TimePoint, TimePoint]> = [];
  for (const [a, buckets] of ix.countsOfMany(addresses, from, to)) {
    for (const b of buckets) {
      if (b.from >= from && b.to <= to) counts.set(a, counts.get(a)! + b.count);
      else edges.push([Math.max(b.from, from), Math.min(b.to, to)]);
    }
  }
  for (const [a, b] of uniqueSpans(edges)) {
    for (const h of await engine.hits(breakpoints, { ...range, from: a, to: b })) counts.set(h.address, (counts.get(h.address) ?? 0) + 1);
  }
  return { counts, indexed: true };
}

/**
 * The code addresses in [lo, hi) that ran in the buckets overlapping [from, to), with their
 * counts there, and the span those buckets cover (the range rounded out to bucket boundaries).
 */
export function coverage(engine: ReplayEngine, lo: bigint, hi: bigint, range: { from?: TimePoint; to?: TimePoint } = {}): { counts: Map<bigint, number>; from: TimePoint; to: TimePoint } {
  const ix = engine.indexing.index;
  if (!ix) throw new UserError(`coverage needs the recording's index (${engine.indexing.status.state}): run \`rewind index BUNDLE\``, 'index-missing');
  const from = Math.max(ix.start, range.from ?? 0);
  const to = Math.min(ix.end, range.to ?? ix.end);
  return { counts: ix.countsInRange(lo, hi, from, to), from: ix.bucketAt(from)?.from ?? from, to: ix.bucketAt(to - 1)?.to ?? to };
}

function uniqueSpans(spans: Array<[TimePoint, TimePoint]>): Array<[TimePoint, TimePoint]> {
  const seen = new Map(spans.map((s) => [`${s[0]}-${s[1]}`, s]));
  return [...seen.values()].sort((x, y) => x[0] - y[0]);
}
