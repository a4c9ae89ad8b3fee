/**
 * A slice's scan as a probe replay: one replay process from the slice's snapshot with the probe
 * plugin (probe-plugin.ts) runs through the slice's runs without a stop; the plugin records every
 * hit and every write with its time point, and the pc and value a gdbstub stop would have read.
 * The answers are the gdbstub scan's (search.ts scanSliceOnce), hit for hit: test/probe-scan.test.ts
 * (demo) and test/index-queries-linux.test.ts (Linux, with tasks) compare them.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CancelledError } from '../errors';
import type { RecordingIndex } from '../index/recording-index';
import { parseProbeOutput, probeArgs, type ProbeEvent } from './probe-plugin';
import type { TimePoint } from '../timepoint';
import type { Hit, Slice, Traps } from './scan-types';
import type { ReplayWorker } from './worker';
import type { MemoryRange } from './worker-types';
import { ReplayWorkerLost, type WorkerPool } from './worker-pool';

/**
 * A probe replay needs a process with the plugin loaded (a probe blank, or one launched for it; no
 * parked process has it), about what this many gdbstub stops cost (each about 5-10 ms on a Linux
 * guest: a resume, the stop, the time point, the pc, and the sample): fewer hits, and the gdbstub
 * scan is as fast.
 */
export const PROBE_MIN_STOPS = 32;
/**
 * The index holds which buckets write, not how often: a candidate bucket is taken for this many
 * writes. Measured on the Linux fixture (writes per candidate bucket of nine globals): 2.3
 * (`tick_next_period`), 4.5 (`jiffies_seq`), 4.9, 8.4, 11.8, 18.8, 23.5, 93 (`pgd_lock`), 313
 * (`kernfs_idr_lock`); below their median, so that a slice of few buckets stays with the gdbstub.
 */
export const WRITES_PER_BUCKET = 8;

/**
 * Whether a probe replay of the slice finds what the gdbstub would. Writes: only within the
 * index's candidate buckets. Neither the plugin nor the index sees the exception and interrupt
 * frames QEMU pushes between instructions (a gdbstub watchpoint on the stack does): a probe then
 * never misses more than the index does.
 */
export function probeFinds(index: RecordingIndex | undefined, what: Traps, slice: Slice): boolean {
  return (index !== undefined && slice.runs !== undefined) || (what.watchpoints ?? []).length === 0;
}

/**
 * Whether a probe replay of the slice finds what the gdbstub would (probeFinds) and saves more than
 * its start costs. Without an index the hits are unknown (a whole slice may hold thousands); with
 * one, a breakpoint's are its counts, and a write watch's are taken as WRITES_PER_BUCKET in each
 * candidate bucket.
 */
export function probeWorthIt(index: RecordingIndex | undefined, what: Traps, slice: Slice): boolean {
  if (!probeFinds(index, what, slice)) return false;
  if (!index || !slice.runs) return true;
  let stops = 0;
  for (const run of slice.runs) {
    for (const b of what.breakpoints ?? []) for (const c of index.countsOf(b.address, run.from, run.to)) stops += c.count;
    for (const w of what.watchpoints ?? []) stops += WRITES_PER_BUCKET * index.writing(w.address, w.size, run.from, run.to).length;
    if (stops >= PROBE_MIN_STOPS) return true;
  }
  return false;
}

export async function probeSliceOnce(pool: WorkerPool, plugin: string, slice: Slice, what: Traps, signal?: AbortSignal, sample?: MemoryRange): Promise<Hit[]> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'rewind-probe-'));
  const out = join(dir, 'events.txt');
  let worker: ReplayWorker;
  try {
    worker = await pool.start(slice.snapshot, { path: plugin, args: probeArgs(out, what, sample) });
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
  pool.claim(worker);
  const onAbort = () => worker.interrupt();
  signal?.addEventListener('abort', onAbort);
  const watching = (what.watchpoints?.length ?? 0) > 0;
  try {
    const runs = slice.runs ?? [slice];
    const first = runs[0]!;
    const last = runs[runs.length - 1]!;
    // One run from the first run's start to the last one's end, without a stop between runs: the
    // plugin records what runs in between too, and only what lies in the runs is kept.
    if (first.from > worker.icount) await worker.runTo(first.from);
    if (signal?.aborted) throw new CancelledError('query');
    // The first write's old value is read where the first run starts; each later one's is the write
    // before it, which the plugin saw (a gdbstub scan reads it where each run starts: the same bytes,
    // since the index saw no store to them between runs).
    const old = sample && sample.length > 0 ? await worker.readMemory(sample.address, sample.length).catch(() => undefined) : undefined;
    // As the gdbstub scan: an indexed run with watchpoints goes one instruction past its end.
    const stop = await worker.run({ until: slice.runs && watching ? last.to + 1 : last.to, ...(signal ? { signal } : {}) });
    if (signal?.aborted) throw new CancelledError('query');
    const hits: Hit[] = [];
    for (const h of hitsInRuns(parseProbeOutput(await fs.readFile(out, 'latin1'), out), runs, sample !== undefined, old)) {
      let address = h.address;
      if (address === undefined) {
        // The write ended its block and nothing ran after it: the replay stands right after it.
        if (h.icount !== worker.icount) throw new Error(`the probe plugin left the pc after the write at ${h.icount} unknown, and the replay is at ${worker.icount}${stop.kind === 'end' ? ' (the end)' : ''}`);
        address = await worker.pc();
      }
      hits.push({ ...h, address });
    }
    return hits;
  } catch (e) {
    if (worker.alive || signal?.aborted || pool.closed) throw e;
    throw new ReplayWorkerLost(e as Error, worker.snapshot);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // Its plugin stays loaded as long as it lives: it never serves another operation.
    pool.discard(worker, worker.alive ? 'used' : 'lost');
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * The probe's events that lie in the runs (ascending, disjoint) as hits, in time order: an
 * execution in [from, to), a write ending in [from, to + 1) (as the gdbstub scan keeps them). With
 * `sampled`, each write's old value is the one before it (the first's: `first`, read where the
 * first run starts), chained through every write the plugin saw, kept or not. A write whose pc the
 * plugin could not tell has `address` undefined (the caller reads it where the replay stopped).
 */
export function hitsInRuns(events: ProbeEvent[], runs: ReadonlyArray<{ from: TimePoint; to: TimePoint }>, sampled: boolean, first: Buffer | undefined): Array<Omit<Hit, 'address'> & { address: bigint | undefined }> {
  const hits: Array<Omit<Hit, 'address'> & { address: bigint | undefined }> = [];
  let old = first;
  let i = 0;
  for (const e of events) {
    const end = (k: number) => runs[k]!.to + (e.kind === 'write' ? 1 : 0);
    while (i < runs.length && e.icount >= end(i)) i++;
    const kept = i < runs.length && e.icount >= runs[i]!.from;
    const task = e.task ? { task: e.task } : {};
    if (e.kind === 'exec') {
      if (kept) hits.push({ icount: e.icount, address: e.pc, ...task });
      continue;
    }
    const before = old;
    old = e.value;
    if (kept) hits.push({ icount: e.icount, address: e.pc, dataAddress: e.watch, ...(sampled ? { ...(before ? { before } : {}), ...(e.value ? { value: e.value } : {}) } : {}), ...task });
  }
  return hits;
}
