/**
 * The index plugin over a whole recording, the way the tests check it: one plugin pass per slice
 * (recorded snapshot to the next one's start point, one after the other), and the helpers that
 * put gdbstub hits into the same buckets.
 */
import assert from 'node:assert/strict';
import type { Bundle } from '../../recorder-bridge/src/bundle/reader';
import { GRAIN_SHIFT } from '../../recorder-bridge/src/index/plugin-output';
import { runPluginPass, type IndexBucket } from '../../recorder-bridge/src/index/plugin-pass';
import { QuietPoints } from '../../recorder-bridge/src/replay/quiet-points';
import { replayEnd } from '../../recorder-bridge/src/replay/replay-end';
import { probeOf } from '../../recorder-bridge/src/replay/snapshot-verify';
import type { LadderPoint, Trigger } from '../../recorder-bridge/src/replay/worker';
import type { ReplayWorkspace } from '../../recorder-bridge/src/replay/workspace';

/** The plugin's write granularity in bytes (GRAIN_SHIFT). */
export const GRAIN = 1n << GRAIN_SHIFT;

export interface IndexedRecording {
  end: number;
  /** The recorded snapshots, on the workspace's copy of the store. */
  points: LadderPoint[];
  buckets: IndexBucket[];
}

/** Plugin passes over every slice of `bundle`, checked to follow each other from 0 to the end. */
export async function indexBySlices(bundle: Bundle, ws: ReplayWorkspace, opts: { bucket: number; hangMs: number }): Promise<IndexedRecording> {
  const index = await bundle.readIndex();
  const end = replayEnd(index);
  const points = bundle.manifest.snapshots.list.filter((s) => s.icount < end).map((s) => ({ ...s, image: ws.snapshots, source: 'record' as const }));
  const quiet = new QuietPoints(index.events.map((e) => e.icount));
  const starts = points.map((p) => probeOf(p, quiet));
  const buckets: IndexBucket[] = [];
  for (let i = 0; i < points.length; i++) {
    const to = i + 1 < points.length ? starts[i + 1]! : end;
    buckets.push(...(await runPluginPass({ bundle, workspace: ws, snapshot: points[i]!, from: starts[i]!, to, ...opts })).buckets);
  }
  for (let k = 1; k < buckets.length; k++) assert.equal(buckets[k]!.from, buckets[k - 1]!.to, "the slices' buckets follow each other");
  assert.equal(buckets[0]!.from, 0);
  assert.equal(buckets[buckets.length - 1]!.to, end);
  return { end, points, buckets };
}

/** The bucket holding instruction number `t` (the one executed when `t` instructions were done). */
export function bucketOf(buckets: IndexBucket[], t: number): number {
  const k = buckets.findIndex((b) => b.from <= t && t < b.to);
  assert.ok(k >= 0, `no bucket holds ${t}`);
  return k;
}

/** Whether the plugin says grain `grain` (GRAIN bytes) was written in bucket `b`. */
export function grainWritten(b: IndexBucket, grain: bigint): boolean {
  return b.writes.some(([first, n]) => grain >= first && grain < first + BigInt(n));
}

/** The offsets of the `step`-byte chunks in which two equal-length copies of memory differ (equal 4 KiB blocks skipped whole: a bucket changes few). */
export function* changedChunks(was: Buffer, is: Buffer, step: number): Generator<number> {
  const block = 4096;
  for (let at = 0; at < was.length; at += block) {
    const end = Math.min(at + block, was.length);
    if (is.subarray(at, end).equals(was.subarray(at, end))) continue;
    for (let off = at; off < end; off += step) if (!is.subarray(off, off + step).equals(was.subarray(off, off + step))) yield off;
  }
}

/** Breakpoint hits of `address` per bucket. */
export function hitsPerBucket(buckets: IndexBucket[], hits: Trigger[], address: bigint): number[] {
  const out = new Array<number>(buckets.length).fill(0);
  for (const h of hits) if (h.address === address) out[bucketOf(buckets, h.icount)]!++;
  return out;
}

/** The buckets of watchpoint hits, ascending: a watchpoint stops after the writing instruction, number icount - 1. */
export function watchBuckets(buckets: IndexBucket[], hits: Trigger[]): number[] {
  return [...new Set(hits.map((h) => bucketOf(buckets, h.icount - 1)))].sort((a, b) => a - b);
}

/** The buckets in which the plugin says `grain` was written, ascending. */
export function writtenBuckets(buckets: IndexBucket[], grain: bigint): number[] {
  return buckets.flatMap((b, k) => (grainWritten(b, grain) ? [k] : []));
}

/** Per bucket, the sum of its counts minus its length in instructions (0 when nothing was attempted twice). */
export function excessAttempts(buckets: IndexBucket[]): number[] {
  return buckets.map((b) => [...b.counts.values()].reduce((a, c) => a + c, 0) - (b.to - b.from));
}
