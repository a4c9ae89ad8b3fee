/**
 * The ground truth of replay tests: one replay process from a bundle's initial snapshot, run
 * forward through sorted time points and never back, reading the registers at each.
 */
import type { Bundle } from '../../recorder-bridge/src/bundle/reader';
import { prng } from './prng';
import { ReplayWorker } from '../../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../../recorder-bridge/src/replay/workspace';

export interface StraightStop {
  /** Where the replay stopped (the point asked for, unless the replay went wrong). */
  icount: number;
  registers: Record<string, bigint>;
}

export async function straightReplay(bundle: Bundle, end: number, sortedPoints: readonly number[]): Promise<StraightStop[]> {
  const ws = await ReplayWorkspace.create(bundle);
  const initial = bundle.manifest.snapshots.list.find((s) => s.icount === 0)!;
  const worker = await ReplayWorker.start(bundle, ws, { ...initial, image: ws.snapshots, source: 'record' }, end);
  const seen: StraightStop[] = [];
  try {
    for (const t of sortedPoints) {
      const r = await worker.runTo(t);
      seen.push({ icount: r.icount, registers: { ...(await worker.registers()) } as Record<string, bigint> });
    }
  } finally {
    await worker.kill();
    await ws.dispose();
  }
  return seen;
}

/** `n` time points drawn uniformly from (0, end - 1) with a fixed seed, without repeats, ascending. */
export function seededPoints(seed: number, n: number, end: number): number[] {
  const rnd = prng(seed);
  return [...new Set(Array.from({ length: n }, () => 1 + Math.floor(rnd() * (end - 2))))].sort((x, y) => x - y);
}
