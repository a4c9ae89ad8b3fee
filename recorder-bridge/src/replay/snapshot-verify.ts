import { cpus } from 'node:os';
import type { Bundle } from '../bundle/reader';
import { CancelledError } from '../errors';
import type { SnapshotVerdict } from '@rewind/protocol';
import type { ReplayLogIndex } from '../replay-log';
import type { TimePoint } from '../timepoint';
import { QuietPoints } from './quiet-points';
import { replayEnd } from './replay-end';
import { ReplayWorker, type LadderPoint } from './worker';
import { ReplayWorkspace } from './workspace';

export type { SnapshotVerdict };

/**
 * How long a verification replay may stay silent at no CPU before it is taken for deadlocked: longer
 * than an interactive replay's hang timeout, because a false alarm here condemns a good snapshot (or
 * leaves a recording's init unverified) and no user waits on a 2 s answer (replay/hang-watch.ts).
 */
export const VERIFY_IDLE_SILENCE_MS = 30_000;

/*
 * Snapshot verification: does a replay started from a snapshot resume, and does it replay the same
 * machine as the replay that came from the snapshot before it? QEMU 7.2 saves, now and then, a
 * snapshot from which its own replay (`rrsnapshot=NAME`, paused after the load) livelocks a few
 * instructions later (docs/replay-research.md). Every snapshot is checked by one replay segment:
 * from the snapshot to the next one's probe point, where the registers must equal those of the
 * segment that starts there.
 */

/**
 * How a segment's replay starts. 'qemu': as QEMU's own replay does (rrsnapshot=NAME, paused after
 * the load, then continued): kept snapshots must resume that way, whoever starts them. 'engine': as
 * Rewind's replay engine does (ReplayWorker.start: replay-seek from init, past the snapshot).
 */
export type StartMode = 'qemu' | 'engine';

/** One replay from a snapshot to a time point, and what it found on the way. */
export interface SegmentResult {
  snapshot: string;
  /** Where it stopped first (the snapshot's probe point), and the registers there (gdb 'g' reply). */
  start: TimePoint;
  startRegisters?: string;
  /** Where it was to stop, where it stopped, and the registers there. */
  end: TimePoint;
  reached?: TimePoint;
  endRegisters?: string;
  /** Why it did not get there (a hang, an early stop). */
  error?: string;
  seconds: number;
}

/**
 * Where a check of snapshot `p` compares registers: the first quiet time point after it (for a
 * snapshot saved at a quiet point, the point itself), the first stop of an engine replay from it.
 */
export function probeOf(p: { icount: TimePoint }, quiet: QuietPoints): TimePoint {
  if (p.icount === 0) return 0;
  return quiet.isQuiet(p.icount) ? p.icount : quiet.after(p.icount);
}

/** Replays from `from` to `end` in a process of its own; never throws for a replay that fails (that is the finding). */
export async function replaySegment(
  bundle: Bundle,
  ws: ReplayWorkspace,
  from: LadderPoint,
  range: { start: TimePoint; end: TimePoint },
  opts: { mode: StartMode; replayEnd: TimePoint; hangMs?: number; signal?: AbortSignal; image?: string },
): Promise<SegmentResult> {
  const started = Date.now();
  const result: SegmentResult = { snapshot: from.name, start: range.start, end: range.end, seconds: 0 };
  let w: ReplayWorker | undefined;
  const onAbort = () => w?.interrupt();
  opts.signal?.addEventListener('abort', onAbort);
  try {
    w = await ReplayWorker.start(bundle, ws, from, opts.replayEnd, {
      ...(opts.hangMs !== undefined ? { hangMs: opts.hangMs } : {}),
      idleSilenceMs: VERIFY_IDLE_SILENCE_MS,
      ...(opts.mode === 'qemu' ? { loadAtStart: true } : { startAt: range.start }),
    });
    if (w.icount < range.start) await w.runTo(range.start);
    if (opts.signal?.aborted) throw new CancelledError('snapshot verification');
    if (w.icount !== range.start) throw new Error(`stopped at icount ${w.icount} instead of ${range.start}`);
    result.startRegisters = await w.gdbPacket('g');
    const stop = await w.runTo(range.end);
    if (opts.signal?.aborted) throw new CancelledError('snapshot verification');
    result.reached = stop.icount;
    if (stop.icount !== range.end) throw new Error(`the replay ended at icount ${stop.icount}, before ${range.end}`);
    result.endRegisters = await w.gdbPacket('g');
  } catch (e) {
    if (e instanceof CancelledError) throw e;
    result.error = (e as Error).message;
    result.reached ??= w?.icount;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await w?.kill();
    result.seconds = (Date.now() - started) / 1000;
  }
  return result;
}

/**
 * Verifies every snapshot of `snapshots` (ascending, init first): one segment each, `parallelism`
 * at a time. Snapshots at or past the end of the replay are 'bad' (nothing replays from there).
 */
export async function verifySnapshots(
  bundle: Bundle,
  ws: ReplayWorkspace,
  snapshots: LadderPoint[],
  quiet: QuietPoints,
  opts: { mode: StartMode; replayEnd: TimePoint; parallelism?: number; hangMs?: number; signal?: AbortSignal; onProgress?: (done: TimePoint, total: TimePoint) => void },
): Promise<SnapshotVerdict[]> {
  const end = opts.replayEnd;
  const live = snapshots.filter((s) => s.icount === 0 || probeOf(s, quiet) < end);
  const probes = live.map((s) => probeOf(s, quiet));
  const segments: Array<SegmentResult | undefined> = new Array(live.length);
  let next = 0;
  let done = 0;
  const runner = async () => {
    while (next < live.length) {
      if (opts.signal?.aborted) throw new CancelledError('snapshot verification');
      const k = next++;
      const range = { start: probes[k]!, end: k + 1 < live.length ? probes[k + 1]! : end };
      segments[k] = await replaySegment(bundle, ws, live[k]!, range, {
        mode: opts.mode,
        replayEnd: end,
        ...(opts.hangMs !== undefined ? { hangMs: opts.hangMs } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      done += range.end - range.start;
      opts.onProgress?.(done, end);
    }
  };
  const parallelism = Math.max(1, Math.min(opts.parallelism ?? cpus().length, live.length));
  await Promise.all(Array.from({ length: parallelism }, runner));

  const verdicts: SnapshotVerdict[] = [];
  for (const s of snapshots) {
    const k = live.indexOf(s);
    if (k < 0) {
      verdicts.push({ name: s.name, icount: s.icount, verdict: 'bad', probe: end, why: `it lies at or past the end of the replay (icount ${end})` });
      continue;
    }
    const seg = segments[k]!;
    const v: SnapshotVerdict = { name: s.name, icount: s.icount, verdict: 'ok', probe: probes[k]! };
    const prev = k > 0 ? segments[k - 1] : undefined;
    if (seg.error !== undefined) {
      v.verdict = 'bad';
      v.why = `a replay started from it did not reach icount ${seg.end}: ${seg.error}`;
    } else if (prev && prev.error !== undefined) {
      v.verdict = 'unknown';
      v.why = `the snapshot before it (${prev.snapshot}) does not replay to icount ${v.probe}, so nothing to compare with`;
    } else if (prev && prev.endRegisters !== seg.startRegisters) {
      v.verdict = 'bad';
      v.why = `at icount ${v.probe} its registers differ from those of the replay from ${prev.snapshot}`;
    }
    verdicts.push(v);
  }
  return verdicts;
}

/**
 * The engine's re-check of one snapshot a replay process was lost while starting from: the
 * previous snapshot's replay to its start point, then its own replay from there to `end`, with the
 * same registers at the start point.
 */
export async function checkSnapshot(
  bundle: Bundle,
  ws: ReplayWorkspace,
  s: { previous: LadderPoint; startPrevious: TimePoint; snapshot: LadderPoint; start: TimePoint; end: TimePoint },
  opts: { replayEnd: TimePoint; hangMs?: number; signal?: AbortSignal },
): Promise<{ ok: boolean; why?: string }> {
  const common = { mode: 'engine' as const, replayEnd: opts.replayEnd, ...(opts.hangMs !== undefined ? { hangMs: opts.hangMs } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
  const own = await replaySegment(bundle, ws, s.snapshot, { start: s.start, end: Math.max(s.start, s.end) }, common);
  if (own.error !== undefined) return { ok: false, why: `a replay started from it did not reach icount ${own.end}: ${own.error}` };
  const before = await replaySegment(bundle, ws, s.previous, { start: s.startPrevious, end: s.start }, common);
  // Nothing to compare with when the snapshot before it does not replay: it resumed, which is what was in doubt.
  if (before.error === undefined && own.startRegisters !== before.endRegisters) return { ok: false, why: `at icount ${s.start} its registers differ from those of the replay from ${s.previous.name}` };
  return { ok: true };
}

/**
 * Verifies the snapshots a bundle lists (`rewind check`, first open of an older bundle), on private
 * copies: the bundle is not changed.
 */
export async function verifyBundleSnapshots(
  bundle: Bundle,
  index: ReplayLogIndex,
  opts: { mode: StartMode; parallelism?: number; hangMs?: number; signal?: AbortSignal; onProgress?: (done: TimePoint, total: TimePoint) => void },
): Promise<SnapshotVerdict[]> {
  const ws = await ReplayWorkspace.create(bundle);
  try {
    const points = bundle.manifest.snapshots.list.map((s): LadderPoint => ({ ...s, image: ws.snapshots, source: 'record' }));
    return await verifySnapshots(bundle, ws, points, new QuietPoints(index.events.map((e) => e.icount)), { ...opts, replayEnd: replayEnd(index) });
  } finally {
    await ws.dispose();
  }
}
