import { join } from 'node:path';
import type { SnapshotEntry, SnapshotVerificationSummary } from '../bundle/manifest';
import * as layout from '../bundle/layout';
import { Bundle } from '../bundle/reader';
import { CancelledError } from '../errors';
import type { ReplayLogIndex } from '../replay-log';
import { replayEnd } from '../replay/replay-end';
import { QuietPoints } from '../replay/quiet-points';
import { probeOf, verifySnapshots, VERIFY_IDLE_SILENCE_MS, type SnapshotVerdict } from '../replay/snapshot-verify';
import { ReplayWorker, type LadderPoint } from '../replay/worker';
import { ReplayWorkspace } from '../replay/workspace';
import type { TimePoint } from '../timepoint';
import { deleteSnapshot, listSnapshots } from './snapshot-list';

/** Verify, repair, verify again: a replaced snapshot is checked like any other before it is kept. */
const ROUNDS = 3;
/**
 * Snapshots added to fill gaps: as many as the interval asks for over the recording, at least
 * MIN_FILL_BUDGET and at most MAX_FILL_BUDGET, within MAX_ADDED_BYTES of machine state. Each costs
 * a verification replay (about 0.3-0.9 s for the demo guest on 2 cores) and its machine state in
 * the store (0.8 MB for the demo guest, about 76 MB for a 256 MB Linux guest). Past the budget, the
 * gaps are filled at a wider spacing.
 */
export const MIN_FILL_BUDGET = 64;
export const MAX_FILL_BUDGET = 128;
export const MAX_ADDED_BYTES = 2 ** 30;

export interface VerifiedSnapshots {
  list: SnapshotEntry[];
  summary: SnapshotVerificationSummary;
  warnings: string[];
}

/**
 * Checks every snapshot of a new recording (in `work`, whose manifest is written but whose folder
 * is not yet renamed into place) the way QEMU's own replay starts one, and repairs the store: a
 * snapshot that does not resume is replaced by one saved during a replay at the first quiet time
 * point after it (which resumes however it is started: replay/quiet-points.ts), or dropped when that
 * fails. Never keeps a snapshot that failed. Cancelling (`signal`) leaves the unchecked snapshots
 * with `verified: false`, to be checked on first open.
 */
export async function verifyNewRecording(
  work: string,
  index: ReplayLogIndex,
  qemuImg: string,
  opts: { interval: TimePoint; signal?: AbortSignal; onProgress?: (done: TimePoint, total: TimePoint) => void; hangMs?: number },
): Promise<VerifiedSnapshots> {
  const started = Date.now();
  const store = join(work, layout.SNAPSHOTS);
  const end = replayEnd(index);
  const quiet = new QuietPoints(index.events.map((e) => e.icount));
  const bundle = await Bundle.open(work, { unfinished: true });
  const summary: SnapshotVerificationSummary = { method: 'qemu-rrsnapshot', seconds: 0, replaced: [], dropped: [], added: [], complete: false };
  const warnings: string[] = [];
  let verdicts: SnapshotVerdict[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const list = await listSnapshots(qemuImg, store);
      const ws = await ReplayWorkspace.create(bundle);
      try {
        const points = list.map((s): LadderPoint => ({ ...s, image: ws.snapshots, source: 'record' }));
        verdicts = await verifySnapshots(bundle, ws, points, quiet, {
          mode: 'qemu',
          replayEnd: end,
          ...(opts.hangMs !== undefined ? { hangMs: opts.hangMs } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        });
        const init = verdicts.find((v) => v.icount === 0);
        if (init && init.verdict === 'bad') {
          warnings.push(`the recording does not replay from its start: ${init.why}`);
          break;
        }
        const failed = verdicts.filter((v) => v.icount > 0 && v.verdict !== 'ok');
        if (round === ROUNDS - 1) {
          for (const v of failed) await dropSnapshot(qemuImg, store, summary, v.name, v.icount, `${v.why ?? 'not verified'} (still after ${ROUNDS} rounds)`);
          break;
        }
        // 'unknown' ones are compared again next round, once the snapshot before them is repaired.
        const bad = failed.filter((v) => v.verdict === 'bad');
        // Gaps are planned again each round: a repair replay that failed partway left some unfilled.
        const targets = await planRepairs(qemuImg, store, summary, list, bad, quiet, end, opts.interval);
        if (targets.length === 0 && failed.length === 0) break;
        await repair(bundle, ws, store, qemuImg, points, verdicts, targets, quiet, end, summary, opts.hangMs);
      } finally {
        await ws.dispose();
      }
    }
    summary.complete = true;
  } catch (e) {
    if (!(e instanceof CancelledError)) throw e;
    warnings.push('snapshot verification was cancelled: the unchecked snapshots are checked when the recording is first opened');
  }
  const ok = new Set(summary.complete ? verdicts.filter((v) => v.verdict === 'ok').map((v) => v.name) : []);
  const list = (await listSnapshots(qemuImg, store)).map((s) => ({ ...s, verified: ok.has(s.name) }));
  summary.seconds = Math.round((Date.now() - started) / 100) / 10;
  return { list, summary, warnings };
}

interface Target {
  name: string;
  at: TimePoint;
  /** The bad snapshot it replaces (same name); absent for one that fills a gap. */
  replaces?: SnapshotVerdict;
}

/**
 * What the repair replay saves: each bad snapshot again at the first quiet time point after it
 * (dropped when there is none before the end), and, with an `interval`, new snapshots where the
 * kept ones (and the end) lie more than twice the interval apart.
 */
async function planRepairs(
  qemuImg: string,
  store: string,
  summary: SnapshotVerificationSummary,
  list: SnapshotEntry[],
  bad: SnapshotVerdict[],
  quiet: QuietPoints,
  end: TimePoint,
  interval: TimePoint,
): Promise<Target[]> {
  const targets: Target[] = [];
  for (const v of bad) {
    const at = quiet.after(v.icount);
    if (at >= end) await dropSnapshot(qemuImg, store, summary, v.name, v.icount, `${v.why}; no time point after it to replace it with`);
    else targets.push({ name: v.name, at, replaces: v });
  }
  if (interval > 0) {
    const badNames = new Set(bad.map((v) => v.name));
    const kept = [...list.filter((s) => !badNames.has(s.name)).map((s) => s.icount), ...targets.map((t) => t.at), end];
    const stateBytes = Math.max(1, ...list.map((s) => s.vmStateBytes));
    let n = Math.max(0, ...list.map((s) => (/^v(\d+)$/.exec(s.name) ? Number(s.name.slice(1)) : 0)));
    // The budget covers every round: what earlier rounds added counts against it.
    const budget = fillBudget(end, interval, stateBytes) - summary.added.length;
    for (const at of planFills(kept, interval, budget, quiet, end)) targets.push({ name: `v${++n}`, at });
  }
  return targets.sort((a, b) => a.at - b.at);
}

/**
 * How many snapshots may be added to fill gaps: what the interval asks for over the recording, even
 * when the recorder took few (under load it takes one per tick at best, after savevm's refusals),
 * between MIN_FILL_BUDGET and MAX_FILL_BUDGET, within MAX_ADDED_BYTES of machine state.
 */
export function fillBudget(end: TimePoint, interval: TimePoint, stateBytes: number): number {
  const asked = Math.min(MAX_FILL_BUDGET, Math.max(MIN_FILL_BUDGET, Math.ceil(end / interval)));
  return Math.max(1, Math.min(asked, Math.floor(MAX_ADDED_BYTES / Math.max(1, stateBytes))));
}

/**
 * The time points to add so that no two of `kept` (which includes the end) lie more than twice
 * the interval apart: each gap gets a snapshot every interval (at the first quiet point from there),
 * the last piece being one to two intervals long. Over `budget`, the spacing grows by steps of a
 * quarter until the fills fit.
 */
export function planFills(kept: readonly TimePoint[], interval: TimePoint, budget: number, quiet: QuietPoints, end: TimePoint): TimePoint[] {
  if (budget <= 0) return [];
  const sorted = [...kept].sort((a, b) => a - b);
  const fills = (every: number) => sorted.slice(1).reduce((n, b, i) => n + Math.max(0, Math.ceil((b - sorted[i]!) / every) - 2), 0);
  let every = interval;
  while (fills(every) > budget) every = Math.ceil(every * 1.25);
  const out: TimePoint[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    for (let t = sorted[i]! + every; sorted[i + 1]! - t > every; t += every) {
      // At or after t: shifted later, a fill only shortens the piece after it, the longest one.
      const at = quiet.after(t - 1);
      if (at < sorted[i + 1]! && at < end) out.push(at);
    }
  }
  return out;
}

/**
 * Saves the targets in one replay process running on the store itself, from the last good snapshot
 * before the first of them. A target it cannot save is dropped (a bad snapshot) or skipped (a fill).
 */
async function repair(
  bundle: Bundle,
  ws: ReplayWorkspace,
  store: string,
  qemuImg: string,
  points: LadderPoint[],
  verdicts: SnapshotVerdict[],
  targets: Target[],
  quiet: QuietPoints,
  end: TimePoint,
  summary: SnapshotVerificationSummary,
  hangMs: number | undefined,
): Promise<void> {
  if (targets.length === 0) return;
  const good = new Set(verdicts.filter((v) => v.verdict === 'ok').map((v) => v.name));
  const first = targets[0]!.at;
  const from = [...points].reverse().find((p) => p.icount === 0 || (probeOf(p, quiet) <= first && good.has(p.name)))!;
  let w: ReplayWorker | undefined;
  let k = 0;
  try {
    w = await ReplayWorker.start(bundle, ws, { ...from, image: store }, end, { image: store, startAt: probeOf(from, quiet), idleSilenceMs: VERIFY_IDLE_SILENCE_MS, ...(hangMs !== undefined ? { hangMs } : {}) });
    for (; k < targets.length; k++) {
      const t = targets[k]!;
      if (t.at < w.icount) break;
      await w.runTo(t.at);
      // savevm overwrites the snapshot of the same name.
      if (!(await w.saveSnapshot(t.name))) break;
      if (t.replaces) summary.replaced.push({ name: t.name, icount: t.replaces.icount, newIcount: t.at, why: t.replaces.why ?? 'did not resume' });
      else summary.added.push({ name: t.name, icount: t.at });
    }
    await w.quit();
  } catch {
    await w?.kill();
  }
  for (const t of targets.slice(k)) {
    if (t.replaces) await dropSnapshot(qemuImg, store, summary, t.name, t.replaces.icount, `${t.replaces.why}; replacing it failed`);
  }
}

/** Deletes a snapshot from the store and says so in the summary. */
async function dropSnapshot(qemuImg: string, store: string, summary: SnapshotVerificationSummary, name: string, icount: TimePoint, why: string): Promise<void> {
  await deleteSnapshot(qemuImg, store, name);
  summary.replaced = summary.replaced.filter((r) => r.name !== name);
  summary.added = summary.added.filter((a) => a.name !== name);
  if (!summary.dropped.some((d) => d.name === name)) summary.dropped.push({ name, icount, why });
}
