/**
 * The index plugin on the Linux fixture (test/linux-fixture.ts: Debian's cloud kernel, about 1.5e9
 * instructions), against one straight gdbstub replay: per-bucket counts of kernel functions equal
 * the breakpoint hits (among them the page-fault entry, whose callers' faulting instructions are
 * attempted twice), the grain of jiffies_64 is marked exactly where a grain watchpoint triggers, and a
 * memory diff of the start of the kernel's .data (init_task's stack and page tables included) at
 * every boundary finds no unmarked change but those no instruction made at that address: interrupt
 * frames, accessed/dirty bits set by the page walker, and stores through another mapping of the same
 * memory (the index is by virtual address). How far the counts exceed the instruction count
 * (attempts) is printed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import type { IndexBucket } from '../recorder-bridge/src/index/plugin-pass';
import { ReplayWorker, type LadderPoint } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { symbolAddress } from './support/elf';
import { bucketOf, changedChunks, excessAttempts, hitsPerBucket, indexBySlices, GRAIN, grainWritten, watchBuckets, writtenBuckets } from './support/index-slices';
import { qemuProcessesMentioning } from './support/procs';
import { linuxFixtureOrSkip, type LinuxFixture } from './linux-fixture';

const BUCKET = 4_000_000;
const HANG_MS = 30_000;
/** The memory compared at every boundary: this much of the kernel's .data from its start (init_task's stack and the kernel's page tables in it). */
const DATA_SAMPLE = 256 * 1024;
/** __START_KERNEL_map: the kernel image's mapping (x86_64). */
const KERNEL_TEXT = 0xffffffff80000000n;
/** Page-table entry bits the CPU's page walker sets itself (not a store of any instruction), in an entry's lowest byte. */
const ACCESSED_DIRTY = 0x60;

/** Whether two copies of the grain at `at` differ only in the accessed and dirty bits of the 64-bit entries it overlaps (a grain may be smaller than an entry). */
function onlyAccessedDirty(at: bigint, was: Buffer, is: Buffer): boolean {
  for (let j = 0; j < was.length; j++) if ((was[j]! ^ is[j]!) & ~((at + BigInt(j)) % 8n === 0n ? ACCESSED_DIRTY : 0)) return false;
  return true;
}

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
    const picked = [...totals].filter(([a, c]) => a >= KERNEL_TEXT && c >= 200 && c <= 3000).sort((x, y) => y[1] - x[1])[0]![0];
    const addresses = new Map<string, bigint>([
      ['ksys_write', symbolAddress(fixture.vmlinux, 'ksys_write')],
      ['asm_exc_page_fault', symbolAddress(fixture.vmlinux, 'asm_exc_page_fault')],
      ['handle_mm_fault', symbolAddress(fixture.vmlinux, 'handle_mm_fault')],
      [`0x${picked.toString(16)} (from the index)`, picked],
    ]);
    const { hits } = await straight((w) => w.collect({ breakpoints: [...addresses.values()].map((address) => ({ address })) }));
    console.log(`runs over the recording: ${[...addresses].map(([name, a]) => `${name} ${totals.get(a) ?? 0}`).join(', ')}`);
    for (const [name, address] of addresses) {
      const truth = hitsPerBucket(buckets, hits, address);
      assert.ok(truth.some((n) => n > 0), `${name} ran`);
      assert.deepEqual(buckets.map((b) => b.counts.get(address) ?? 0), truth, `${name}: plugin counts per bucket (first) against gdbstub hits (second)`);
    }
  });

  it('marks the buckets in which the grain of jiffies_64 was written, as a grain watchpoint sees them', async (t) => {
    if (!fixture) return t.skip(skip);
    const grain = symbolAddress(fixture.vmlinux, 'jiffies_64') / GRAIN;
    const { hits } = await straight((w) => w.collect({ watchpoints: [{ address: grain * GRAIN, size: Number(GRAIN), access: 'write' }] }));
    assert.ok(hits.length > 0);
    assert.deepEqual(writtenBuckets(buckets, grain), watchBuckets(buckets, hits), 'buckets marked by the plugin (first), where the watchpoint triggered (second)');
  });

  it("marks every grain of the start of the kernel's .data whose bytes changed within a bucket, but for what no instruction stored there", async (t) => {
    if (!fixture) return t.skip(skip);
    const sym = (name: string) => symbolAddress(fixture!.vmlinux, name);
    const base = sym('_sdata');
    const stack = [sym('init_stack'), sym('__end_init_task')];
    const delivered = new Set((await bundle.readIndex()).events.filter((e) => e.kind === 'interrupt' || e.kind === 'exception').map((e) => bucketOf(buckets, e.icount)));
    const missed: string[] = [];
    const why = { frame: 0, accessedDirty: 0, alias: 0 };
    let changed = 0;
    await straight(async (w) => {
      // The kernel's .data is in place once the kernel runs (the first bucket is the firmware's and the decompressor's).
      const first = buckets.findIndex((b) => [...b.counts.keys()].some((a) => a >= KERNEL_TEXT)) + 1;
      await w.runTo(buckets[first]!.from);
      let before = await w.readMemory(base, DATA_SAMPLE);
      for (const [k, b] of buckets.entries()) {
        if (k < first) continue;
        await w.runTo(b.to);
        const now = await w.readMemory(base, DATA_SAMPLE);
        // The same memory through the direct map and the physical address (as early boot code writes it).
        const physOf = (v: bigint) => v - KERNEL_TEXT + (now.readBigUInt64LE(Number(sym('phys_base') - base)));
        const directMap = (await w.readMemory(sym('page_offset_base'), 8)).readBigUInt64LE();
        for (const off of changedChunks(before, now, Number(GRAIN))) {
          const [was, is] = [before.subarray(off, off + Number(GRAIN)), now.subarray(off, off + Number(GRAIN))];
          changed++;
          const at = base + BigInt(off);
          if (grainWritten(b, at / GRAIN)) continue;
          if (at >= stack[0]! && at < stack[1]! && delivered.has(k)) why.frame++;
          else if (onlyAccessedDirty(at, was, is)) why.accessedDirty++;
          else if (grainWritten(b, physOf(at) / GRAIN) || grainWritten(b, (directMap + physOf(at)) / GRAIN)) why.alias++;
          else missed.push(`0x${at.toString(16)} in [${b.from}, ${b.to})`);
        }
        before = now;
      }
    });
    console.log(`memory check: ${changed} grain changes not marked at their address: ${why.frame} on init_task's stack by interrupt or exception frames, ${why.accessedDirty} page-table grains whose accessed/dirty bits the CPU set, ${why.alias} stored through another mapping`);
    assert.ok(changed > 0);
    assert.deepEqual(missed, [], `grains that changed but were not marked (of ${changed} changes)`);
  });
});
