/**
 * Queries by the index on the Linux fixture (Debian's cloud kernel, 1.48e9 instructions) against
 * the same queries without it, through the real engine: all hits of kernel functions that ran
 * rarely, all writes of a rarely written global with its values, reverse continue and last write
 * from random time points; probe replays against gdbstub scans, with the Linux task of each hit.
 * Functions, globals and time points are drawn with a fixed seed from
 * what the index says ran or was written. The index is built beside the cached fixture (additive:
 * the recorded files stay as they are) and removed again if this test made it: the other Linux
 * tests (a cancelled scan, the soak) are about the fixture as recorded.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { buildIndex } from '../recorder-bridge/src/index/index-pass';
import { ReplayEngine, type Hit } from '../recorder-bridge/src/replay/engine';
import { probeFor } from '../recorder-bridge/src/replay/probe-plugin';
import { symbolTable } from './support/elf';
import { linuxTaskProbe } from './support/linux-task-probe';
import { prng } from './support/prng';
import { qemuProcessesMentioning } from './support/procs';
import { RewindDapClient } from './support/dap-client';
import { linuxFixtureOrSkip, type LinuxFixture } from './linux-fixture';

const HANG_MS = 30_000;
const SEED = 1483;
/** __START_KERNEL_map: the kernel image's mapping (x86_64); what lies below is user space or the direct map. */
const KERNEL_TEXT = 0xffffffff80000000n;

const key = (h: Hit) => `${h.icount}:${h.address.toString(16)}:${h.dataAddress?.toString(16) ?? ''}`;

/**
 * The last write of `g` before `at` without the index (gdbstub watchpoints), with QEMU's false
 * reports skipped. QEMU's gdbstub now and then reports a write watchpoint for a store elsewhere on
 * the watched page (docs/replay-research.md, "Write watchpoints that QEMU reports for other
 * addresses"). A report is false when the index, whose plugin saw every store, has none to the
 * watched bytes' grains in that bucket; the bytes must then be unchanged across it (else the
 * index missed a store, and this fails). The search goes on from just before a false report.
 */
async function plainLastWrite(plain: ReplayEngine, indexed: ReplayEngine, g: { name: string; address: bigint; size: number }, at: number, falseReports: Hit[]): Promise<Hit | undefined> {
  const ix = indexed.indexing.index!;
  let from = at;
  for (let i = 0; i < 50; i++) {
    await plain.seek(from);
    const w = await plain.lastWrite(g.address, g.size);
    if (!w) return undefined;
    const bucket = ix.bucketAt(w.icount - 1)!;
    if (ix.writing(g.address, g.size, bucket.from, bucket.to).length > 0) return w;
    await plain.seek(w.icount - 1);
    const before = await plain.readMemory(g.address, g.size).catch(() => undefined);
    await plain.seek(w.icount);
    const after = await plain.readMemory(g.address, g.size).catch(() => undefined);
    if (before && after) assert.deepEqual(after, before, `${g.name} changed at ${w.icount}, in a bucket where the index saw no store to it`);
    falseReports.push(w);
    from = w.icount - 1;
  }
  throw new Error(`more than 50 false write reports of ${g.name} in a row before ${at}`);
}

describe('index-backed queries on Linux', { timeout: 3_600_000 }, () => {
  let fixture: LinuxFixture | undefined;
  let skip: string | undefined;
  let plain: ReplayEngine | undefined;
  let fast: ReplayEngine | undefined;
  const random = prng(SEED);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  let functions: Array<{ name: string; address: bigint; runs: number }> = [];
  let globals: Array<{ name: string; address: bigint; size: number; buckets: number }> = [];
  let madeIndex: string | undefined;
  /** Probe replays wherever they can scan (replay/probe-scan.ts), with the index. */
  let probing: ReplayEngine | undefined;

  before(async () => {
    ({ fixture, skip } = await linuxFixtureOrSkip());
    if (!fixture) return;
    if (!existsSync(join(fixture.bundle, 'index'))) madeIndex = join(fixture.bundle, 'index');
    await buildIndex(await Bundle.open(fixture.bundle));
    // The truth: gdbstub scans without the index (no probe replays either).
    plain = await ReplayEngine.open(fixture.bundle, { index: 'off', probe: 'off', hangTimeoutMs: HANG_MS });
    fast = await ReplayEngine.open(fixture.bundle, { index: 'use', hangTimeoutMs: HANG_MS });
    assert.equal(fast.indexing.status.state, 'ready', JSON.stringify(fast.indexing.status));
    const ix = fast.indexing.index!;
    const totals = ix.totals();
    const symbols = [...symbolTable(fixture.vmlinux)].filter(([, s]) => s.address >= KERNEL_TEXT);
    // Functions entered 1 to 50 times in the whole recording (rare: their scans are the slow kind).
    functions = symbols.map(([name, s]) => ({ name, address: s.address, runs: totals.get(s.address) ?? 0 })).filter((f) => f.runs >= 1 && f.runs <= 50);
    // Globals of 1 to 8 bytes whose line was written in 1 to 10 buckets.
    globals = symbols
      .filter(([, s]) => s.size >= 1n && s.size <= 8n && !totals.has(s.address))
      .map(([name, s]) => ({ name, address: s.address, size: Number(s.size), buckets: ix.writing(s.address, Number(s.size), 0, ix.end).length }))
      .filter((g) => g.buckets >= 1 && g.buckets <= 10);
    assert.ok(functions.length > 20 && globals.length > 20, `${functions.length} functions, ${globals.length} globals to draw from`);
  });

  after(async () => {
    await plain?.close();
    await fast?.close();
    await probing?.close();
    if (madeIndex) await fs.rm(madeIndex, { recursive: true, force: true });
    if (fixture) assert.deepEqual(await qemuProcessesMentioning(fixture.bundle, { graceMs: 20_000 }), [], 'replay processes left behind');
  });

  it('all hits of rarely run functions equal those without the index', async (t) => {
    if (!fixture) return t.skip(skip);
    for (let i = 0; i < 2; i++) {
      const f = pick(functions);
      const want = await plain!.hits(f.address);
      const got = await fast!.hits(f.address);
      assert.deepEqual(got.map(key), want.map(key), `hits of ${f.name}`);
      assert.equal(want.length, f.runs, `the index's count of ${f.name}`);
    }
  });

  it('all writes of a rarely written global equal those without the index, with the values', async (t) => {
    if (!fixture) return t.skip(skip);
    const g = pick(globals);
    const want = await plain!.writes(g.address, g.size);
    const got = await fast!.writes(g.address, g.size, { sample: { address: g.address, length: g.size } });
    assert.deepEqual(got.map(key), want.map(key), `writes of ${g.name}`);
    for (let k = 1; k < got.length; k++) assert.deepEqual(got[k]!.before, got[k - 1]!.value, `${g.name}: write ${k}'s old value`);
  });

  it('reverse continue and last write from random time points land where they do without the index', async (t) => {
    if (!fixture) return t.skip(skip);
    for (let i = 0; i < 2; i++) {
      const at = Math.floor(fast!.end * (0.5 + 0.5 * random()));
      const f = pick(functions);
      await plain!.seek(at);
      await fast!.seek(at);
      assert.deepEqual(await fast!.reverseContinue({ breakpoints: [{ address: f.address }] }), await plain!.reverseContinue({ breakpoints: [{ address: f.address }] }), `reverse continue to ${f.name} from ${at}`);
      const g = pick(globals);
      const falseReports: Hit[] = [];
      const w1 = await plainLastWrite(plain!, fast!, g, at, falseReports);
      await fast!.seek(at);
      const w2 = await fast!.lastWrite(g.address, g.size);
      if (falseReports.length > 0) t.diagnostic(`QEMU reported ${falseReports.length} write(s) of ${g.name} that did not happen (stores elsewhere on its page): ${falseReports.map(key).join(', ')}`);
      assert.deepEqual(w2 && key(w2), w1 && key(w1), `last write of ${g.name} before ${at}`);
    }
  });

  it('probe replays find what gdbstub scans find, hit for hit, with the Linux task of each: all hits of a hot function, the value history of a hot global', async (t) => {
    if (!fixture) return t.skip(skip);
    assert.ok(probeFor('qemu-system-x86_64'), "the probe plugin and Rewind's QEMU are built (npm run setup)");
    probing = await ReplayEngine.open(fixture.bundle, { index: 'use', probe: 'always', hangTimeoutMs: HANG_MS });
    const task = linuxTaskProbe(fixture.vmlinux);
    assert.ok(task, 'the vmlinux gives the task layout');
    const symbols = symbolTable(fixture.vmlinux);
    const show = (h: Hit) => `${key(h)}:${h.before?.toString('hex') ?? ''}:${h.value?.toString('hex') ?? ''}:${h.task ? `${h.task.task.toString(16)},${h.task.pid},${h.task.tgid},${h.task.cpu},${h.task.comm}` : ''}`;
    let probes = 0;
    const stop = probing.observe((ev) => {
      if (ev.type === 'slice-scanned' && ev.probe) probes++;
    });
    try {
      // Every task switch (about a thousand), with the task that was switched from.
      const entry = symbols.get('__switch_to')!.address;
      const want = await plain!.hits(entry, { sample: { address: 0n, length: 0, task } });
      const got = await probing.hits(entry, { sample: { address: 0n, length: 0, task } });
      assert.ok(want.length > 500, `${want.length} task switches`);
      assert.deepEqual(got.map(show), want.map(show), 'hits of __switch_to');
      assert.ok(got.filter((h) => h.task && h.task.comm.length > 0).length > want.length / 2, 'most switches name their task');
      // Every write of jiffies_seq (about 2,000: each tick), with old and new values and the writer.
      const g = { name: 'jiffies_seq', address: symbols.get('jiffies_seq')!.address, size: 4 };
      const sample = { address: g.address, length: g.size, task };
      const writes = await probing.writes(g.address, g.size, { sample });
      const truth = await plain!.writes(g.address, g.size, { sample });
      // The gdbstub's false reports (stores elsewhere on the page, see plainLastWrite) are in the
      // truth only: each leaves the bytes as they were, in a bucket where the index saw no store to them.
      const seen = new Set(writes.map(key));
      const ix = probing.indexing.index!;
      for (const h of truth.filter((x) => !seen.has(key(x)))) {
        const bucket = ix.bucketAt(h.icount - 1)!;
        assert.equal(ix.writing(g.address, g.size, bucket.from, bucket.to).length, 0, `the probe missed the write at ${h.icount}`);
      }
      const real = truth.filter((x) => seen.has(key(x)));
      assert.ok(real.length > 1000, `${real.length} writes of jiffies_seq`);
      // Old values: the probe's first write in a run reads them where the run starts, the gdbstub's
      // where its slice starts; the same bytes either way (the index saw no store in between), but
      // at the recording's start the kernel's address is not mapped yet: the gdbstub has none there.
      const comparable = writes.map((h, i) => (real[i]?.before === undefined ? { ...h, before: undefined } : h));
      assert.deepEqual(comparable.map(show), real.map(show), 'writes of jiffies_seq');
      assert.ok(probes > 0, 'some slices were probe replays');
    } finally {
      stop();
    }
  });

  it('the kernel-event scan over DAP tells the problems and module events first, then the task switches', async (t) => {
    if (!fixture) return t.skip(skip);
    const c = new RewindDapClient({ timeoutMs: 300_000 });
    try {
      await c.start();
      await c.launch({ recording: fixture.bundle, symbols: [fixture.vmlinux], stopOnEntry: true });
      const t0 = Date.now();
      assert.equal((await c.custom('rewind/events', { limit: 0 })).kernelScan, 'scanning');
      await c.kernelScanReaches('partial', 300_000);
      const partialMs = Date.now() - t0;
      const told = await c.kernelScanReaches('done', 300_000);
      t.diagnostic(`kernel events: the first part after ${partialMs} ms, the task switches after ${Date.now() - t0} ms`);
      assert.deepEqual(told.map((b) => b.kernelScan), ['partial', 'done']);
      const [first, last] = [told[0]!, told[1]!];
      assert.equal(first.counts['kernel-panic'], 1, JSON.stringify(first.counts));
      assert.equal(first.counts['kernel-task-switch'], undefined, 'the task switches come second');
      assert.equal(last.counts['kernel-panic'], 1);
      assert.ok((last.counts['kernel-task-switch'] ?? 0) > 100, JSON.stringify(last.counts));
      // The first part's events keep their numbers: a client may have shown them already.
      const all = await c.custom('rewind/kernelEvents', {});
      const panic = all.events.find((e) => e.kind === 'panic')!;
      assert.equal(panic.message, 'sysrq triggered crash');
      const listed = await c.custom('rewind/events', { kinds: ['kernel-panic', 'kernel-task-switch'], limit: 100_000 });
      assert.equal(listed.kernelScan, 'done');
      assert.equal(listed.events.find((e) => e.kind === 'kernel-panic')?.index, panic.eventIndex);
      assert.ok(all.events.filter((e) => e.kind === 'task-switch').every((e) => e.eventIndex > panic.eventIndex), 'task switches numbered after the first part');
    } finally {
      await c.stop().catch(() => undefined);
    }
  });
});
