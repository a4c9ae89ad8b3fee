/**
 * One slice of the index pass: a replay process from one snapshot with the index plugin loaded,
 * run from bucket boundary to bucket boundary with replay-break (exact time points), and told to
 * "mark" at each stop. The plugin keeps no clock: the buckets' time points are the engine's, and
 * drift in the plugin's own counting cannot move them (docs/index-design.md).
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from '../bundle/reader';
import { CancelledError, UserError } from '../errors';
import type { TimePoint } from '../timepoint';
import { ReplayWorker } from '../replay/worker';
import type { LadderPoint } from '../replay/worker-types';
import type { ReplayWorkspace } from '../replay/workspace';
import type { QuietPoints } from '../replay/quiet-points';
import { PluginControl } from './plugin-control';
import { parsePluginOutput } from './plugin-output';
import { nativeFile } from '../util/native-file';
import { busiestThreadWaitMs, cpuMsBetween, threadTimes } from '../util/run-queue-wait';

/**
 * The pass is batch work, often beside other replays: a process is taken for hung only after this
 * long without an answer (the engine's interactive default, 1.5 s, was exceeded on a loaded 2-core
 * machine by a Linux slice with the plugin).
 */
const PASS_HANG_MS = 10_000;

/** The plugin's shared object, as scripts/setup.sh builds it. */
const PLUGIN_FILE = 'rewind-index.so';

/** One bucket of the index: [from, to) in instructions. */
export interface IndexBucket {
  from: TimePoint;
  to: TimePoint;
  /** Executions (attempts) per guest virtual address of an instruction. */
  counts: Map<bigint, number>;
  /** Written 4-byte grains as runs [first grain, number of grains] (grain n covers [n << 2, (n + 1) << 2)). */
  writes: Array<[bigint, number]>;
}

export interface PluginPassOptions {
  bundle: Bundle;
  /** Where the replay process gets its log and its copy of the snapshot store. */
  workspace: ReplayWorkspace;
  snapshot: LadderPoint;
  /** Where the pass starts: the snapshot's start point (0 for init; ReplayEngine/ladder startOf). */
  from: TimePoint;
  /** Where it ends (exclusive); a recording that ends earlier ends the pass there. */
  to: TimePoint;
  /** Bucket size in instructions: boundaries fall on its multiples (the first bucket may be shorter). */
  bucket: number;
  signal?: AbortSignal;
  /** Instructions done of the total: 0 first, then after each bucket. */
  onProgress?: (done: TimePoint, total: TimePoint) => void;
  /** Told after each bucket how long its replay (run to the boundary) and its mark took, in ms (benchmarks). */
  onBucket?: (timing: { runMs: number; markMs: number }) => void;
  /** The plugin's .so (default: pluginPath()). */
  plugin?: string;
  /** Default PASS_HANG_MS. */
  hangMs?: number;
  /** Snapshots to save on the way (docs/index-design.md, "Extra snapshots"). */
  snapshots?: PassSnapshotOptions;
}

/**
 * The extra snapshots a slice's pass saves, at the first quiet point after a bucket boundary: once
 * the idle buckets since the slice's start (or its last saved snapshot) add up to `idleMs` (a
 * stretch the replay spent waiting for the wall clock, which a start from the snapshot skips), or
 * the replay time since then reached `everyMs` (an even distance elsewhere); never within
 * `minGap` instructions of those.
 */
export interface PassSnapshotOptions {
  everyMs: number;
  idleMs: number;
  /** A bucket is idle when it took this long or more, mostly asleep (idleBucket). */
  slowBucketMs: number;
  /** Instructions from the slice's start or its last saved snapshot before the next may be saved, and before the slice's end after it. */
  minGap: number;
  /**
   * The even rule's plan for the slice starting at `from`: up to `count` snapshots, each saved once
   * `gap` instructions passed since its start or its last saved snapshot, idle or not.
   */
  evenPlan(from: TimePoint): { count: number; gap: number } | undefined;
  quiet: QuietPoints;
  /** Takes one snapshot from the budget the lanes share (`even`: from the even rule's share): its name, or undefined once it is spent. */
  reserve(even: boolean): string | undefined;
}

/**
 * Whether a bucket that took `wallMs` of replay, `cpuMs` of it on the CPU, was an idle stretch:
 * slow, and mostly asleep. Slow buckets on the CPU are code QEMU translates afresh (after a start,
 * or a new program), which a start from a snapshot pays again; a loaded machine slows busy
 * buckets too, but leaves them on the CPU or waiting for it, not asleep for two thirds.
 */
export function idleBucket(wallMs: number, cpuMs: number, slowBucketMs: number): boolean {
  return wallMs >= slowBucketMs && cpuMs < wallMs / 3;
}

/** A snapshot the pass saved, with the registers (gdb 'g') the replay had there. */
export interface SavedSnapshot {
  name: string;
  icount: TimePoint;
  registers: string;
}

export interface PluginPassResult {
  buckets: IndexBucket[];
  /** The plugin's output file as it wrote it (plugin-output.ts reads it). */
  output: Buffer;
  /**
   * With `snapshots`: the image file they were saved into (a copy of the store the caller now owns:
   * it still holds the recorded snapshots), what was saved, and the registers at the slice's end.
   */
  saved?: { image: string; snapshots: SavedSnapshot[]; endRegisters: string };
}

/** Where the plugin is: $REWIND_INDEX_PLUGIN, else out/native/rewind-index.so of this checkout. */
export function pluginPath(): string {
  const p = process.env['REWIND_INDEX_PLUGIN'] || nativeFile(PLUGIN_FILE);
  if (p) return p;
  throw new UserError(`the index plugin (out/native/${PLUGIN_FILE}) is not built: run scripts/setup.sh (it needs gcc)`, 'tool-missing');
}

/** The bucket boundaries after `from` up to `to`: the multiples of `bucket`, then `to`. */
export function bucketBoundaries(from: TimePoint, to: TimePoint, bucket: number): TimePoint[] {
  if (!(bucket > 0 && Number.isSafeInteger(bucket))) throw new Error(`bucket size ${bucket} is not a positive integer`);
  const out: TimePoint[] = [];
  for (let b = (Math.floor(from / bucket) + 1) * bucket; b < to; b += bucket) out.push(b);
  if (to > from) out.push(to);
  return out;
}

/** Replays [from, to) from `snapshot` with the plugin and returns its buckets. The process is gone when this returns or throws. */
export async function runPluginPass(opts: PluginPassOptions): Promise<PluginPassResult> {
  const { from, to, signal } = opts;
  const bounds = bucketBoundaries(from, to, opts.bucket);
  const dir = await fs.mkdtemp(join(tmpdir(), 'rewind-index-'));
  const out = join(dir, 'buckets.bin');
  let worker: ReplayWorker | undefined;
  let control: PluginControl | undefined;
  // Saved snapshots go into an image the pass owns (the worker's private copies go with it).
  const image = opts.snapshots ? await opts.workspace.newImage(opts.snapshot.image) : undefined;
  let handedOver = false;
  try {
    if (signal?.aborted) throw new CancelledError('index pass');
    worker = await ReplayWorker.start(opts.bundle, opts.workspace, opts.snapshot, to, {
      startAt: from,
      plugin: { path: opts.plugin ?? pluginPath(), args: [`out=${out}`, `ctl=${join(dir, 'ctl.sock')}`] },
      hangMs: opts.hangMs ?? PASS_HANG_MS,
      ...(image ? { image } : {}),
    });
    if (worker.icount !== from) throw new UserError(`the index pass's replay started at ${worker.icount}, not at ${from}`, 'replay-failed');
    control = await PluginControl.connect(join(dir, 'ctl.sock'));
    // What ran before `from` (the run from the snapshot to its start point) belongs to no bucket.
    await control.drop();
    opts.onProgress?.(0, to - from);
    const spans: Array<[TimePoint, TimePoint]> = [];
    const saved: SavedSnapshot[] = [];
    let sinceSaved = 0;
    let idleSinceSaved = 0;
    let evenSaved = 0;
    let written = 8;
    let at = from;
    for (let k = 0; k < bounds.length; k++) {
      const b = bounds[k]!;
      // An aborted signal interrupts the run where it is.
      const t0 = performance.now();
      const cpu0 = opts.snapshots ? worker.cpuTicks() : 0;
      const threads0 = opts.snapshots ? threadTimes(worker.processIds()) : undefined;
      const stop = await worker.run({ until: b, ...(signal ? { signal } : {}) });
      if (signal?.aborted) throw new CancelledError('index pass');
      if (stop.icount === at) break; // the recording ended at the previous boundary
      const t1 = performance.now();
      written += await control.mark();
      opts.onBucket?.({ runMs: t1 - t0, markMs: performance.now() - t1 });
      spans.push([at, stop.icount]);
      at = stop.icount;
      opts.onProgress?.(at - from, to - from);
      if (stop.kind === 'end' || stop.icount !== b) break;
      const sx = opts.snapshots;
      if (!sx) continue;
      // The bucket's cost as on an idle machine: its wall time less the replay thread's wait for a CPU
      // when it slept (an idle stretch: the replay waited for the wall clock), else its CPU time.
      const threads1 = threadTimes(worker.processIds());
      const replayMs = Math.max(0, t1 - t0 - busiestThreadWaitMs(threads0!, threads1));
      // Clock ticks are 10 ms (schedstat's nanoseconds where the kernel has them).
      const cpuMs = threads1.size > 0 ? cpuMsBetween(threads0!, threads1) : (worker.cpuTicks() - cpu0) * 10;
      const idle = idleBucket(replayMs, cpuMs, sx.slowBucketMs);
      sinceSaved += idle ? replayMs : Math.min(replayMs, cpuMs);
      if (idle) idleSinceSaved += replayMs;
      const next = bounds[k + 1];
      const since = at - (saved.length ? saved[saved.length - 1]!.icount : from);
      const plan = sx.evenPlan(from);
      const even = plan !== undefined && evenSaved < plan.count && since >= plan.gap;
      // Not near the slice's end either: the next slice's snapshot, or the recording's end, is there.
      if (since >= sx.minGap && to - at >= sx.minGap && next !== undefined && (even || idleSinceSaved >= sx.idleMs || sinceSaved >= sx.everyMs)) {
        const s = await saveAtQuietPoint(worker, sx, at, next, even);
        if (s) {
          if (even) evenSaved++;
          saved.push(s);
          sinceSaved = 0;
          idleSinceSaved = 0;
        }
      }
    }
    const endRegisters = image ? await worker.gdbPacket('g') : '';
    // Every record is in the file already (the plugin writes it before it answers).
    control.close();
    control = undefined;
    await worker.kill();
    worker = undefined;
    const buf = await fs.readFile(out);
    if (buf.length !== written) throw new UserError(`the index plugin's output has ${buf.length} bytes, its answers add up to ${written}`, 'replay-failed');
    const records = parsePluginOutput(buf, out);
    if (records.length !== spans.length) throw new UserError(`the index plugin wrote ${records.length} buckets for ${spans.length} marks`, 'replay-failed');
    const buckets = records.map((r, i) => ({ from: spans[i]![0], to: spans[i]![1], counts: r.counts, writes: r.writes }));
    handedOver = true;
    return { buckets, output: buf, ...(image ? { saved: { image, snapshots: saved, endRegisters } } : {}) };
  } finally {
    control?.close();
    await worker?.kill();
    await fs.rm(dir, { recursive: true, force: true });
    if (image && !handedOver) await fs.rm(image, { force: true });
  }
}

/**
 * Saves one extra snapshot at the first quiet point at or after `at` (a stop at an event's time
 * point leaves that event to the stopped main loop: replay/quiet-points.ts), if that lies before the
 * next boundary and the budget allows; undefined otherwise (the next boundary tries again).
 */
async function saveAtQuietPoint(worker: ReplayWorker, o: PassSnapshotOptions, at: TimePoint, next: TimePoint, even: boolean): Promise<SavedSnapshot | undefined> {
  const q = o.quiet.isQuiet(at) ? at : o.quiet.after(at);
  if (q >= next) return undefined;
  const name = o.reserve(even);
  if (name === undefined) return undefined;
  if (q > at) await worker.runTo(q);
  const registers = await worker.gdbPacket('g');
  return (await worker.saveSnapshot(name)) ? { name, icount: q, registers } : undefined;
}
