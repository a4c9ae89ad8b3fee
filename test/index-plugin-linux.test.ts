/**
 * The index plugin on the Linux fixture (test/linux-fixture.ts: Debian's cloud kernel, about 1.5e9
 * instructions), against one straight gdbstub replay: per-bucket counts of kernel functions equal
 * the breakpoint hits (among them the page-fault entry, whose callers' faulting instructions are
 * attempted twice), the line of jiffies_64 is marked exactly where a line watchpoint triggers, and a
 * memory diff of the start of the kernel's .data (init_task's stack included) at every boundary
 * finds no unmarked change but interrupt frames. How far the counts exceed the instruction count
 * (attempts) is printed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import type { IndexBucket } from '../recorder-bridge/src/index/plugin-pass';
import { ReplayWorker, type LadderPoint } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { symbolAddress } from './support/elf';
import { bucketOf, excessAttempts, hitsPerBucket, indexBySlices, LINE, lineWritten, watchBuckets, writtenBuckets } from './support/index-slices';
import { qemuProcessesMentioning } from './support/procs';
import { linuxFixtureOrSkip, type LinuxFixture } from './linux-fixture';

const BUCKET = 4_000_000;
const HANG_MS = 30_000;
/** The memory compared at every boundary: this much of the kernel's .data from its start. */
const DATA_SAMPLE = 256 * 1024;

describe('index plugin on Linux', { timeout: 3_600_000 }, () => {
  let fixture: LinuxFixture | undefined;
  let skip: string | undefined;
  let bundle: Bundle;
  let ws: ReplayWorkspace | undefined;
  let end: number;
  let points: LadderPoint[];
  let buckets: IndexBucket[];

  async function straight<T>(fn: (w: ReplayWorker) => Promise<T>): Promise<T> {
    const w = await ReplayWorker.start(bundle, ws!, points[0]!, end, { hangMs: HANG_MS });
    try {
      return await fn(w);
    } finally {
      await w.kill();
    }
  }

  before(async () => {
    ({ fixture, skip } = await linuxFixtureOrSkip());
    if (!fixture) return;
    bundle = await Bundle.open(fixture.bundle);
    ws = await ReplayWorkspace.create(bundle);
    ({ end, points, buckets } = await indexBySlices(bundle, ws, { bucket: BUCKET, hangMs: HANG_MS }));
    const excess = excessAttempts(buckets);
    console.log(`counts minus instructions: ${excess.reduce((a, d) => a + d, 0)} over ${end} instructions, in ${excess.filter((d) => d !== 0).length} of ${buckets.length} buckets (min ${Math.min(...excess)}, max ${Math.max(...excess)})`);
  });

  after(async () => {
    await ws?.dispose();
    if (ws) assert.deepEqual(await qemuProcessesMentioning(ws.dir, { graceMs: 5000 }), [], 'replay processes left behind');
  });

  it('counts executions of kernel functions exactly as gdbstub breakpoints hit them, bucket by bucket', async (t) => {
    if (!fixture) return t.skip(skip);
    const totals = new Map<bigint, number>();
    for (const b of buckets) for (const [a, c] of b.counts) totals.set(a, (totals.get(a) ?? 0) + c);
    const picked = [...totals].filter(([a, c]) => a >= 0xffffffff80000000n && c >= 200 && c <= 3000).sort((x, y) => y[1] - x[1])[0]![0];
    const addresses = new Map<string, bigint>([
      ['ksys_write', symbolAddress(fixture.vmlinux, 'ksys_write')],
      ['asm_exc_page_fault', symbolAddress(fixture.vmlinux, 'asm_exc_page_fault')],
      ['handle_mm_fault', symbolAddress(fixture.vmlinux, 'handle_mm_fault')],
      [`0x${picked.toString(16)} (from the index)`, picked],
    ]);
    const { hits } = await straight((w) => w.collect({ breakpoints: [...addresses.values()].map((address) => ({ address })) }));
    for (const [name, address] of addresses) {
      const truth = hitsPerBucket(buckets, hits, address);
      assert.ok(truth.some((n) => n > 0), `${name} ran`);
      assert.deepEqual(buckets.map((b) => b.counts.get(address) ?? 0), truth, `${name}: plugin counts per bucket (first) against gdbstub hits (second)`);
    }
  });

  it('marks the buckets in which the line of jiffies_64 was written, as a line watchpoint sees them', async (t) => {
    if (!fixture) return t.skip(skip);
    const line = symbolAddress(fixture.vmlinux, 'jiffies_64') / LINE;
    const { hits } = await straight((w) => w.collect({ watchpoints: [{ address: line * LINE, size: Number(LINE), access: 'write' }] }));
    assert.ok(hits.length > 0);
    assert.deepEqual(writtenBuckets(buckets, line), watchBuckets(buckets, hits), 'buckets marked by the plugin (first), where the watchpoint triggered (second)');
  });

  it("marks every line of the start of the kernel's .data whose bytes changed within a bucket, but for interrupt frames", async (t) => {
    if (!fixture) return t.skip(skip);
    const base = symbolAddress(fixture.vmlinux, '_sdata');
    const stack = [symbolAddress(fixture.vmlinux, 'init_stack'), symbolAddress(fixture.vmlinux, '__end_init_task')];
    const delivered = new Set((await bundle.readIndex()).events.filter((e) => e.kind === 'interrupt' || e.kind === 'exception').map((e) => bucketOf(buckets, e.icount)));
    const missed: string[] = [];
    const frames: string[] = [];
    let changed = 0;
    await straight(async (w) => {
      // The kernel's .data is in place once the kernel runs (the first bucket is the firmware's and the decompressor's).
      const first = buckets.findIndex((b) => [...b.counts.keys()].some((a) => a >= 0xffffffff80000000n)) + 1;
      await w.runTo(buckets[first]!.from);
      let before = await w.readMemory(base, DATA_SAMPLE);
      for (const [k, b] of buckets.entries()) {
        if (k < first) continue;
        await w.runTo(b.to);
        const now = await w.readMemory(base, DATA_SAMPLE);
        for (let off = 0; off < DATA_SAMPLE; off += Number(LINE)) {
          if (now.subarray(off, off + Number(LINE)).equals(before.subarray(off, off + Number(LINE)))) continue;
          changed++;
          const at = base + BigInt(off);
          if (lineWritten(b, at / LINE)) continue;
          const onStack = at >= stack[0]! && at < stack[1]!;
          (onStack && delivered.has(k) ? frames : missed).push(`0x${at.toString(16)} in [${b.from}, ${b.to})`);
        }
        before = now;
      }
    });
    console.log(`memory check: ${changed} line changes, ${frames.length} on init_task's stack by interrupt or exception frames only`);
    assert.ok(changed > 0);
    assert.deepEqual(missed, [], `lines that changed but were not marked (of ${changed} changes)`);
  });
});
