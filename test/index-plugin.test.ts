/**
 * The index plugin (recorder-bridge/native/rewind-index.c) against the real engine, on one demo
 * recording with several snapshots: one plugin pass per slice (1M-instruction buckets), checked
 * bucket by bucket against what the gdbstub finds in one straight replay (the engine's way):
 *  - executions of code addresses equal the breakpoint hits, exactly;
 *  - the grains the plugin says were written are exactly the buckets where a write
 *    watchpoint on the grain triggers (and cover those of the variable in it);
 *  - every grain of the kernel's memory whose bytes changed within a bucket is among its written
 *    grains (memory read through the gdbstub at every boundary);
 *  - the counts of a bucket add up to its length in instructions.
 * And: a cancelled pass leaves no process behind; a cut output file is refused.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { CancelledError, UserError } from '../recorder-bridge/src/errors';
import { parsePluginOutput, PLUGIN_OUTPUT_MAGIC } from '../recorder-bridge/src/index/plugin-output';
import { runPluginPass, type IndexBucket } from '../recorder-bridge/src/index/plugin-pass';
import { ReplayWorker, type LadderPoint } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { DEMO_KERNEL, requireDemoKernel, runRewind, tempDir } from './helpers';
import { disassemble, symbolAddress } from './support/elf';
import { bucketOf as bucketIn, excessAttempts, hitsPerBucket, indexBySlices, GRAIN, grainWritten as written, watchBuckets, writtenBuckets } from './support/index-slices';
import { qemuProcessesMentioning } from './support/procs';

const BUCKET = 1_000_000;
/** A loaded machine (a CI run beside this test) can freeze a replay process for more than the default 1.5 s. */
const HANG_MS = 15_000;

describe('index plugin', { timeout: 900_000 }, () => {
  const dir = tempDir(after);
  let bundle: Bundle;
  let ws: ReplayWorkspace;
  let kernel: string;
  let end: number;
  let points: LadderPoint[];
  let buckets: IndexBucket[];

  /** One replay process from the initial snapshot, killed whatever happens. */
  async function straight<T>(fn: (w: ReplayWorker) => Promise<T>): Promise<T> {
    const w = await ReplayWorker.start(bundle, ws, points[0]!, end, { hangMs: HANG_MS });
    try {
      return await fn(w);
    } finally {
      await w.kill();
    }
  }

  const bucketOf = (t: number) => bucketIn(buckets, t);

  /** When the plugin says `address` ran: the buckets' starts (enough to find the first bucket). */
  function hitsOf(address: bigint): number[] {
    return buckets.filter((b) => (b.counts.get(address) ?? 0) > 0).map((b) => b.from);
  }

  before(async () => {
    requireDemoKernel();
    const path = join(dir, 'index.rewind');
    const script = join(dir, 'in.txt');
    // Output, work units (crunch's loop), a computation (so that snapshots fall inside it), idle time, power-off.
    await fs.writeFile(script, 'expect ready\nexpect > \nsend hello\\n\nexpect hello, world\nexpect > \nsend work 3\\n\nexpect work done\nexpect > \nsend spin 3\\n\nexpect spin done\nexpect > \nsend ticks\\n\nexpect ticks: \nexpect > \nsend poweroff\\n\n');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', path, '--snapshot-every', '5M', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    kernel = join(path, 'guest', 'kernel');
    bundle = await Bundle.open(path);
    ws = await ReplayWorkspace.create(bundle);
    ({ end, points, buckets } = await indexBySlices(bundle, ws, { bucket: BUCKET, hangMs: HANG_MS }));
    assert.ok(points.length >= 4, `need several snapshots, got ${points.map((s) => s.name)}`);
  });

  after(async () => {
    await ws?.dispose();
    assert.deepEqual(await qemuProcessesMentioning(dir), [], 'replay processes left behind');
  });

  it('counts of a bucket add up to its length in instructions', () => {
    assert.deepEqual(excessAttempts(buckets).filter((d) => d !== 0), [], 'no instruction is counted twice or missed on the demo guest');
  });

  it('counts executions of code addresses exactly as gdbstub breakpoints hit them, bucket by bucket', async () => {
    const crunch = disassemble(kernel, 'crunch');
    const loopHead = crunch
      .map((i) => /^j\w+\s+([0-9a-f]+)\b/.exec(i.text))
      .map((m, k) => (m && BigInt('0x' + m[1]) < crunch[k]!.address ? BigInt('0x' + m[1]) : undefined))
      .find((a) => a !== undefined);
    assert.ok(loopHead !== undefined, 'crunch has a loop');
    // An I/O instruction: icount re-executes it when it is not last in its block (cpu_io_recompile).
    const outb = disassemble(kernel, 'serial_putc').filter((i) => i.text.startsWith('out')).pop()?.address;
    assert.ok(outb !== undefined, 'serial_putc has an out instruction');
    // And one picked from the index itself: the kernel address run most often, up to 3000 times.
    const totals = new Map<bigint, number>();
    for (const b of buckets) for (const [a, c] of b.counts) totals.set(a, (totals.get(a) ?? 0) + c);
    const [start, loadEnd] = [symbolAddress(kernel, '_start'), symbolAddress(kernel, '_load_end')];
    const picked = [...totals].filter(([a, c]) => a >= start && a < loadEnd && c <= 3000).sort((x, y) => y[1] - x[1])[0]![0];
    const addresses = new Map<string, bigint>([
      ['kprintf', symbolAddress(kernel, 'kprintf')],
      ['serial_putc', symbolAddress(kernel, 'serial_putc')],
      ['work_timer_tick (called by the inlined timer_irq)', symbolAddress(kernel, 'work_timer_tick')],
      ['isr_dispatch', symbolAddress(kernel, 'isr_dispatch')],
      ['the loop of crunch', loopHead],
      ['the out of serial_putc', outb],
      [`0x${picked.toString(16)} (from the index)`, picked],
    ]);
    const { hits } = await straight((w) => w.collect({ breakpoints: [...addresses.values()].map((address) => ({ address })) }));
    for (const [name, address] of addresses) {
      const truth = hitsPerBucket(buckets, hits, address);
      const counted = buckets.map((b) => b.counts.get(address) ?? 0);
      assert.ok(truth.some((n) => n > 0), `${name} ran`);
      assert.deepEqual(counted, truth, `${name}: plugin counts per bucket (first) against gdbstub hits (second)`);
    }
  });

  for (const variable of ['ticks', 'work_hash']) {
    it(`marks the buckets in which ${variable} and its grain were written, as gdbstub watchpoints see them`, async () => {
      const address = symbolAddress(kernel, variable);
      const grain = address / GRAIN;
      const watched = (size: number, at: bigint) => straight((w) => w.collect({ watchpoints: [{ address: at, size, access: 'write' }] }));
      const ofVariable = watchBuckets(buckets, (await watched(8, address)).hits);
      const ofGrain = watchBuckets(buckets, (await watched(Number(GRAIN), grain * GRAIN)).hits);
      const marked = writtenBuckets(buckets, grain);
      assert.ok(ofVariable.length > 0, `${variable} was written`);
      assert.deepEqual(marked, ofGrain, 'buckets marked by the plugin (first), where a watchpoint on the grain triggered (second)');
      assert.ok(ofVariable.every((k) => marked.includes(k)), 'every bucket that wrote the variable is marked');
    });
  }

  it('a watchpoint triggers on a write of the value already there (so "written" means a write happened)', async () => {
    const address = symbolAddress(kernel, 'pending_ticks');
    let same = 0;
    let writes = 0;
    await straight(async (w) => {
      let value = (await w.readMemory(address, 4)).readUInt32LE();
      for (;;) {
        const stop = await w.run({ watchpoints: [{ address, size: 4, access: 'write' }] });
        if (stop.kind !== 'watchpoint') break;
        writes++;
        const now = (await w.readMemory(address, 4)).readUInt32LE();
        if (now === value) same++;
        value = now;
      }
    });
    // work_unit() stores pending_ticks - handled, the same value when no tick was pending.
    assert.ok(same > 0, `${same} of ${writes} writes of pending_ticks kept its value`);
  });

  it('marks every grain of the kernel\'s memory whose bytes changed within a bucket, but for interrupt frames', async () => {
    const base = symbolAddress(kernel, '_load_start');
    const length = Number(symbolAddress(kernel, '_bss_end') - base);
    const stack = [symbolAddress(kernel, 'boot_stack'), symbolAddress(kernel, 'boot_stack_top')];
    const interrupts = new Set((await bundle.readIndex()).events.filter((e) => e.kind === 'interrupt' || e.kind === 'exception').map((e) => bucketOf(e.icount)));
    // Before the kernel's first instruction QEMU's loader copies it in (not a CPU store): start after that bucket.
    const first = bucketOf(Math.min(...hitsOf(symbolAddress(kernel, '_start')))) + 1;
    let changed = 0;
    let extra = 0;
    const missed: string[] = [];
    const frames: string[] = [];
    await straight(async (w) => {
      await w.runTo(buckets[first]!.from);
      let before = await w.readMemory(base, length);
      for (const [k, b] of buckets.entries()) {
        if (k < first) continue;
        await w.runTo(b.to);
        const now = await w.readMemory(base, length);
        for (let off = 0; off < length; off += Number(GRAIN)) {
          const grain = (base + BigInt(off)) / GRAIN;
          const differs = !now.subarray(off, off + Number(GRAIN)).equals(before.subarray(off, off + Number(GRAIN)));
          if (differs) changed++;
          if (!differs && written(b, grain)) extra++;
          if (!differs || written(b, grain)) continue;
          // The CPU's pushes of an interrupt frame reach a plugin only sometimes (docs/index-design.md).
          const onStack = grain * GRAIN >= stack[0]! && grain * GRAIN < stack[1]!;
          (onStack && interrupts.has(k) ? frames : missed).push(`0x${(grain * GRAIN).toString(16)} in [${b.from}, ${b.to})`);
        }
        before = now;
      }
    });
    assert.ok(changed > 0);
    assert.deepEqual(missed, [], `grains that changed but were not marked (of ${changed} changes; ${extra} marked grains kept their bytes; ${frames.length} stack grains in buckets with interrupts)`);
    console.log(`memory check: ${changed} grain changes, ${extra} marked grains kept their bytes, ${frames.length} stack grains changed by interrupt frames only: ${frames.join(', ')}`);
  });

  it('a cancelled pass stops and leaves no process behind', async () => {
    const stop = new AbortController();
    const pass = runPluginPass({
      bundle,
      workspace: ws,
      snapshot: points[0]!,
      from: 0,
      to: end,
      bucket: 100_000,
      signal: stop.signal,
      onProgress: (done) => {
        if (done > 0) stop.abort();
      },
    });
    await assert.rejects(pass, CancelledError);
    // A QEMU killed with SIGKILL may take a moment to be gone (tearing down its memory).
    assert.deepEqual(await qemuProcessesMentioning(ws.dir, { graceMs: 5000 }), [], 'no replay process left');
  });

  it('parses the output format, and refuses a file that is cut or damaged', () => {
    // seq 0; one address, 128 (varint 80 01), run twice; one run of 3 grains from grain 5.
    const body = [0x00, 0x01, 0x80, 0x01, 0x02, 0x01, 0x05, 0x03];
    const file = (b: number[]) => Buffer.concat([Buffer.from(PLUGIN_OUTPUT_MAGIC, 'latin1'), Buffer.from([b.length, ...b])]);
    const [r] = parsePluginOutput(file(body), 'good.bin');
    assert.deepEqual(r, { seq: 0, counts: new Map([[128n, 2]]), writes: [[5n, 3]] });
    assert.throws(() => parsePluginOutput(file(body).subarray(0, -1), 'cut.bin'), UserError);
    assert.throws(() => parsePluginOutput(file([0x01, ...body.slice(1)]), 'misnumbered.bin'), UserError);
    assert.throws(() => parsePluginOutput(Buffer.from('RWNDIX01'), 'older.bin'), UserError);
    assert.throws(() => parsePluginOutput(Buffer.from('RWNDIX02'), 'older-8-byte-grains.bin'), UserError);
  });
});
