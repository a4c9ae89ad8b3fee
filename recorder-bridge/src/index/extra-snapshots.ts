/**
 * The index pass's extra snapshots (docs/index-design.md, "Extra snapshots"): the
 * budget the lanes share, and what a slice keeps of the snapshots its pass saved: only those that,
 * started the way the engine starts one, replay to the next with the registers the pass saw at both
 * ends. The kept ones stay in the slice's image with `init`; the recorded snapshots are deleted
 * from it (the bundle's store has them).
 */
import { promises as fs } from 'node:fs';
import * as layout from '../bundle/layout';
import type { Bundle } from '../bundle/reader';
import { requireTool } from '../qemu/tools';
import { deleteSnapshot, listSnapshots } from '../record/snapshot-list';
import { replaySegment } from '../replay/snapshot-verify';
import type { QuietPoints } from '../replay/quiet-points';
import type { ReplayWorkspace } from '../replay/workspace';
import type { TimePoint } from '../timepoint';
import type { IndexFileExtra, IndexFileSlice } from './index-store';
import type { PassSnapshotOptions, SavedSnapshot } from './plugin-pass';

/**
 * A lane saves an extra snapshot once its idle buckets (replayed asleep, at the wall clock's pace)
 * since its slice's start or its last one add up to this: more than a start from a snapshot costs
 * (about 1 s for the Linux fixture, with its image copy and 50-70 MB of machine state to load)...
 */
export const EXTRA_IDLE_MS = 1_000;
/** ...where a bucket is slow from this (a 1M bucket of busy code replays in about 30 ms)... */
export const SLOW_BUCKET_MS = 250;
/**
 * ...or once this much replay time has passed since then, idle or not: the pass replays with the
 * plugin, up to several times slower than the engine in store-heavy code (the kernel's
 * decompression), so at 2 s the Linux fixture got snapshots that made seeks slower.
 */
export const EXTRA_EVERY_MS = 8_000;
/**
 * ...but never closer than this to the slice's start or its last one: the first buckets after a
 * process starts are slow too (QEMU translates every block afresh), and on the Linux fixture the
 * first rule (any slow bucket) saved one 1M instructions after a recorded snapshot.
 */
export const MIN_EXTRA_GAP = 10_000_000;
/**
 * The even rule never plans extra snapshots closer together than this: a start from a Linux
 * snapshot costs about what replaying this far does with Rewind's QEMU (about 0.35 s).
 */
export const MIN_EVEN_GAP = 50_000_000;
/** At most this many extra snapshots in a recording's index. */
export const MAX_EXTRA_SNAPSHOTS = 64;
/**
 * The smallest budget: a short recording has only `init` (0.5 MB for the demo guest, taken before
 * boot), and twice its store would allow no extra snapshot at all, yet it is the kind whose idle
 * stretches need one (docs/index-design.md).
 */
export const MIN_EXTRA_BYTES = 16 * 2 ** 20;

/** How much machine state the extra snapshots of a recording may hold: the recorded snapshots' (the store at most doubles), at least MIN_EXTRA_BYTES. */
export function extraSnapshotBudget(recorded: ReadonlyArray<{ vmStateBytes: number }>): number {
  return Math.max(MIN_EXTRA_BYTES, recorded.reduce((n, s) => n + s.vmStateBytes, 0));
}

/**
 * The options every lane's pass gets: one budget for the whole recording (extraSnapshotBudget),
 * first come first served, less what slices kept from an earlier pass already hold. Each is
 * counted at the size of the largest recorded one (a snapshot after boot holds more than `init`:
 * 0.76 MB against 0.46 MB on the demo guest, which the floor of the budget covers).
 */
export function extraSnapshotOptions(bundle: Bundle, quiet: QuietPoints, kept: readonly IndexFileSlice[], todo: ReadonlyArray<{ from: TimePoint; to: TimePoint }>): PassSnapshotOptions {
  const recorded = bundle.manifest.snapshots.list;
  const held = kept.flatMap((s) => s.extra?.snapshots ?? []);
  const each = Math.max(1, ...recorded.map((s) => s.vmStateBytes), ...held.map((x) => x.vmStateBytes));
  let bytes = extraSnapshotBudget(recorded) - held.reduce((n, x) => n + x.vmStateBytes, 0);
  let count = MAX_EXTRA_SNAPSHOTS - held.length;
  let seq = Math.max(0, ...held.map((x) => (/^x(\d+)$/.exec(x.name) ? Number(x.name.slice(1)) : 0)));
  // Half the snapshots the budget affords (rounded down) are set aside for the even rule; the idle
  // and time rules share the rest, first come first served. The time rule finds the stretches that
  // replay slowly (the Linux boot's timer calibration: 10M instructions in 2.4 s at 390M, where
  // busy code replays 10M in 30-60 ms), which instructions alone do not show.
  const affordable = Math.max(0, Math.min(count, Math.floor(bytes / each)));
  const gaps = evenGaps(todo, Math.floor(affordable / 2));
  let evenLeft = [...gaps.values()].reduce((n, g) => n + g.count, 0);
  bytes -= evenLeft * each;
  count -= evenLeft;
  const take = (even: boolean): string | undefined => {
    if (even && evenLeft > 0) evenLeft--;
    else if (bytes >= each && count > 0) {
      bytes -= each;
      count--;
    } else return undefined;
    return `x${++seq}`;
  };
  return {
    everyMs: EXTRA_EVERY_MS,
    idleMs: EXTRA_IDLE_MS,
    slowBucketMs: SLOW_BUCKET_MS,
    minGap: MIN_EXTRA_GAP,
    evenPlan: (from) => gaps.get(from),
    quiet,
    reserve: take,
  };
}

/**
 * The even rule's plan (issue 12: no two snapshots more than a set distance apart, within the
 * budget): `count` snapshots go one by one to the slice whose parts are longest (a slice with k of
 * them is cut in k + 1 equal parts), so that the longest stretch without a snapshot is as short as
 * the budget allows, never parts shorter than MIN_EVEN_GAP. Per slice start: how many, and the
 * distance between them (from the slice's start, or the last snapshot any rule saved).
 */
export function evenGaps(slices: ReadonlyArray<{ from: TimePoint; to: TimePoint }>, count: number): Map<TimePoint, { count: number; gap: number }> {
  const shares = slices.map(() => 0);
  const part = (i: number, k: number) => (slices[i]!.to - slices[i]!.from) / (k + 1);
  for (let n = 0; n < count; n++) {
    let best = -1;
    for (let i = 0; i < slices.length; i++) if (best < 0 || part(i, shares[i]!) > part(best, shares[best]!)) best = i;
    if (best < 0 || part(best, shares[best]! + 1) < MIN_EVEN_GAP) break;
    shares[best]!++;
  }
  const out = new Map<TimePoint, { count: number; gap: number }>();
  slices.forEach((s, i) => {
    if (shares[i]! > 0) out.set(s.from, { count: shares[i]!, gap: Math.ceil(part(i, shares[i]!)) });
  });
  return out;
}

/**
 * Verifies what a slice's pass saved, keeps what passed in its image and deletes the rest; returns
 * the image and what it holds, or undefined (and no image) when nothing passed.
 */
export async function keepVerified(
  bundle: Bundle,
  ws: ReplayWorkspace,
  saved: { image: string; snapshots: SavedSnapshot[]; endRegisters: string },
  sliceEnd: TimePoint,
  replayEnd: TimePoint,
  signal?: AbortSignal,
): Promise<{ image: string; snapshots: IndexFileExtra['snapshots'] } | undefined> {
  // Most slices save none: their image goes at once (deleting the recorded snapshots from it with
  // qemu-img took 2-7 s a slice on the demo's long recording, and made its pass 5x slower).
  if (saved.snapshots.length === 0) {
    await fs.rm(saved.image, { force: true });
    return undefined;
  }
  try {
    const ok = new Set<string>();
    for (const [i, x] of saved.snapshots.entries()) {
      const next = saved.snapshots[i + 1];
      const from = { name: x.name, icount: x.icount, vmClockNs: 0, vmStateBytes: 0, image: saved.image, source: 'replay' as const };
      const seg = await replaySegment(bundle, ws, from, { start: x.icount, end: next?.icount ?? sliceEnd }, { mode: 'engine', replayEnd, ...(signal ? { signal } : {}) });
      if (seg.error === undefined && seg.startRegisters === x.registers && seg.endRegisters === (next ? next.registers : saved.endRegisters)) ok.add(x.name);
    }
    const qemuImg = requireTool('qemu-img');
    for (const s of await listSnapshots(qemuImg, saved.image)) {
      if (s.name !== layout.INITIAL_SNAPSHOT && !ok.has(s.name)) await deleteSnapshot(qemuImg, saved.image, s.name);
    }
    const held = (await listSnapshots(qemuImg, saved.image)).filter((s) => ok.has(s.name));
    if (held.length === 0) {
      await fs.rm(saved.image, { force: true });
      return undefined;
    }
    return { image: saved.image, snapshots: held.map((s) => ({ name: s.name, icount: s.icount, vmStateBytes: s.vmStateBytes })) };
  } catch (e) {
    await fs.rm(saved.image, { force: true });
    throw e;
  }
}
