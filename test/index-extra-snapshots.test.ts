/**
 * The index pass's extra snapshots (issue 12 part 2, docs/index-design.md): on a demo recording
 * with an idle stretch at the prompt and only `init` recorded, replayed by Debian's QEMU (which paces
 * idle stretches with the wall clock; with patches/qemu-next/0002 Rewind's replays them at CPU speed),
 * `rewind index` saves verified snapshots where replay is slow, within its budget;
 * the engine starts from them (a time point after the idle stretch no longer replays it), and lands
 * in the same state as an engine without the index; a damaged image is refused and rebuilt.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import * as layout from '../recorder-bridge/src/bundle/layout';
import { UserError } from '../recorder-bridge/src/errors';
import { EXTRA_IDLE_MS, extraSnapshotBudget, SLOW_BUCKET_MS } from '../recorder-bridge/src/index/extra-snapshots';
import { idleBucket } from '../recorder-bridge/src/index/plugin-pass';
import { loadIndex, type IndexFile } from '../recorder-bridge/src/index/index-store';
import { chooseQemu } from '../recorder-bridge/src/qemu/qemu-binary';
import { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import type { InfoJson } from '@rewind/protocol';
import { DEMO_KERNEL, requireDemoKernel, runRewind, tempDir } from './helpers';
import { qemuProcessesMentioning } from './support/procs';

// Debian's QEMU for the whole file, the recorder and `rewind index` included (they inherit it):
// the slow idle stretch is what this test is about.
process.env['REWIND_QEMU'] = 'system';

/** A loaded machine (a CI run beside this test) can freeze a replay process for more than the default 1.5 s. */
const HANG_MS = 15_000;
const IDLE_SECONDS = 3;

describe('idle buckets: slow and asleep', () => {
  it('tells an idle stretch from busy code, slow translation and a loaded machine', () => {
    assert.equal(idleBucket(3_000, 40, SLOW_BUCKET_MS), true, 'the demo\'s 3 s at the prompt');
    assert.equal(idleBucket(300, 90, SLOW_BUCKET_MS), true);
    assert.equal(idleBucket(30, 0, SLOW_BUCKET_MS), false, 'a fast bucket is never idle');
    assert.equal(idleBucket(400, 380, SLOW_BUCKET_MS), false, 'code translated afresh: slow, on the CPU');
    assert.equal(idleBucket(600, 250, SLOW_BUCKET_MS), false, 'a busy bucket on a machine loaded two to one');
    assert.ok(EXTRA_IDLE_MS > SLOW_BUCKET_MS, 'one slow bucket alone is not worth a snapshot');
  });
});

describe('extra snapshots of the index', { timeout: 900_000 }, () => {
  const dir = tempDir(after);
  const path = join(dir, 'idle.rewind');
  let indexed: ReplayEngine | undefined;
  let plain: ReplayEngine | undefined;
  /** The time points of the prompt before the idle stretch and of the echo of the line typed after it. */
  let idleFrom = 0;
  let idleTo = 0;
  /** What `rewind index` printed. */
  let indexOutput = '';

  before(async () => {
    requireDemoKernel();
    assert.equal(chooseQemu('qemu-system-x86_64').build, 'debian');
    const script = join(dir, 'in.txt');
    await fs.writeFile(
      script,
      `expect ready\nexpect > \nsend spin 3\\n\nexpect spin done\nexpect > \nsleep ${IDLE_SECONDS}\nsend ticks\\n\nexpect ticks: \nexpect > \nsend spin 2\\n\nexpect spin done\nexpect > \nsend poweroff\\n\n`,
    );
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', path, '--snapshot-every', '0', '--no-index', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const ix = await runRewind(['index', path, '--quiet'], { timeoutMs: 300_000 });
    assert.equal(ix.code, 0, ix.stderr);
    indexOutput = ix.stdout;
    const lines = (await fs.readFile(join(path, layout.CONSOLE_LINES), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { icount: number; text: string });
    const spinDone = lines.find((l) => l.text.includes('spin done'));
    const ticks = lines.find((l) => l.text.includes('ticks:'));
    assert.ok(spinDone && ticks, `console: ${lines.map((l) => l.text).join(' | ')}`);
    idleFrom = spinDone.icount;
    idleTo = ticks.icount;
    indexed = await ReplayEngine.open(path, { index: 'use', hangTimeoutMs: HANG_MS });
    plain = await ReplayEngine.open(path, { index: 'off', hangTimeoutMs: HANG_MS });
    assert.equal(indexed.indexing.status.state, 'ready', JSON.stringify(indexed.indexing.status));
  });

  after(async () => {
    await indexed?.close();
    await plain?.close();
    assert.deepEqual(await qemuProcessesMentioning(dir), [], 'replay processes left behind');
  });

  async function indexFile(): Promise<IndexFile> {
    return JSON.parse(await fs.readFile(join(path, layout.INDEX_DIR, 'index.json'), 'utf8')) as IndexFile;
  }

  it('saves verified extra snapshots within the budget, one right after the idle stretch; rewind info counts them', async () => {
    const file = await indexFile();
    const extras = file.slices.flatMap((s) => s.extra?.snapshots ?? []);
    const recorded = (await Bundle.open(path)).manifest.snapshots.list;
    const budget = extraSnapshotBudget(recorded);
    const used = extras.reduce((n, x) => n + x.vmStateBytes, 0);
    process.stderr.write(`index-extra-snapshots: ${recorded.length} recorded, a budget of ${budget} bytes of machine state, ${extras.length} extra (${used} bytes): ${extras.map((x) => `${x.name}@${x.icount}`).join(' ')}; idle from ${idleFrom} to ${idleTo}\n`);
    assert.ok(extras.length > 0, 'no extra snapshot was saved');
    assert.ok(used <= budget, `the extra snapshots hold ${used} bytes of machine state, more than the budget of ${budget}`);
    for (const s of file.slices) for (const x of s.extra?.snapshots ?? []) assert.ok(x.icount > s.from && x.icount < s.to, `${x.name}@${x.icount} lies outside its slice [${s.from}, ${s.to})`);
    // One right after the idle stretch (at the first quiet point after the end of its bucket): a
    // replay to a time point after it no longer crosses the stretch, as it does without the index.
    const x = extras.find((e) => e.icount > idleFrom);
    assert.ok(x && x.icount - idleTo < 2_000_000, `no extra snapshot within 2M instructions after the idle stretch (${idleFrom}-${idleTo})`);
    assert.equal(indexed!.snapshotAtOrBefore(x.icount + 1), x.icount);
    assert.ok(plain!.snapshotAtOrBefore(x.icount + 1) <= idleFrom, 'without the index a recorded snapshot already skips the idle stretch: the recording tests nothing');
    assert.deepEqual(
      indexed!.listSnapshots().filter((s) => s.source === 'index').map((s) => s.name),
      extras.map((x) => x.name),
      'the engine lists the extra snapshots',
    );
    const info = await runRewind(['info', path, '--json']);
    assert.equal(info.code, 0, info.stderr);
    const ix = (JSON.parse(info.stdout) as InfoJson).index!;
    assert.equal(ix.extraSnapshots, extras.length, 'rewind info counts them');
    assert.match(indexOutput, new RegExp(`^saved +${extras.length} extra snapshots? \\(.+ on disk\\), verified$`, 'm'), 'rewind index says what it saved');
    assert.ok(ix.extraBytes! > 0 && ix.extraBytes! <= file.slices.reduce((n, s) => n + (s.extra?.bytes ?? 0), 0), `extraBytes ${ix.extraBytes}: on disk, at most the images' sizes`);
  });

  it('lands in the same state from an extra snapshot as without the index', async () => {
    const extras = (await indexFile()).slices.flatMap((s) => s.extra?.snapshots ?? []);
    for (const x of extras) {
      for (const t of [x.icount + 1, x.icount + 777_777]) {
        const a = await indexed!.seek(t);
        const b = await plain!.seek(t);
        assert.equal(a, t);
        assert.equal(b, t);
        assert.equal(await indexed!.gdbPacket('g'), await plain!.gdbPacket('g'), `registers at ${t} (after ${x.name})`);
      }
    }
  });

  it('keeps a blank process ready on the extra snapshots\' image, and a start from one of them takes it', async () => {
    const x = (await indexFile()).slices.flatMap((s) => s.extra?.snapshots ?? [])[0]!;
    const e2 = await ReplayEngine.open(path, { index: 'use', maxLadderSnapshots: 0, spares: 0, blanks: 1, hangTimeoutMs: HANG_MS });
    try {
      await e2.seek(1000);
      // One on the bundle's store, one on the index's image.
      for (let i = 0; i < 600 && e2.blankPids().length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      const blanks = e2.blankPids();
      assert.equal(blanks.length, 2, 'a blank process on the store and one on the extra snapshots\' image');
      const started: Array<{ pid: number | undefined; snapshot: string }> = [];
      const stop = e2.observe((ev) => {
        if (ev.type === 'worker-started') started.push({ pid: ev.pid, snapshot: ev.snapshot });
      });
      const target = x.icount + 5000;
      await e2.seek(target);
      stop();
      assert.equal(started.length, 1, JSON.stringify(started));
      assert.equal(started[0]!.snapshot, x.name, 'the seek started from the extra snapshot');
      assert.ok(blanks.includes(started[0]!.pid!), `the seek placed a blank process (${blanks.join(', ')}), it launched ${started[0]!.pid}`);
      await plain!.seek(target);
      assert.equal(await e2.gdbPacket('g'), await plain!.gdbPacket('g'), 'the same registers as a process started without the index');
    } finally {
      await e2.close();
    }
    assert.deepEqual(await qemuProcessesMentioning(e2.workspaceDir), [], 'no blank process outlives the engine');
  });

  it('an extra snapshot image changed on disk is refused, and `rewind index` rebuilds its slice', async () => {
    const file = await indexFile();
    const victim = file.slices.find((s) => s.extra)!;
    const image = join(path, layout.INDEX_DIR, victim.extra!.file);
    await fs.chmod(image, 0o644);
    const data = await fs.readFile(image);
    data[data.length - 100]! ^= 0x01;
    await fs.writeFile(image, data);
    await assert.rejects(loadIndex(await Bundle.open(path)), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.equal(e.code, 'index-damaged');
      assert.ok(e.message.includes(victim.extra!.file), e.message);
      return true;
    });
    const rebuilt = await runRewind(['index', path, '--quiet'], { timeoutMs: 300_000 });
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    const again = await loadIndex(await Bundle.open(path));
    assert.ok(again, 'a complete index after the rebuild');
    const slice = again.slices.find((s) => s.from === victim.from)!;
    assert.ok(slice.extra && slice.extra.snapshots.length > 0, 'the rebuilt slice has extra snapshots again');
  });

  it('rewind index --no-extra-snapshots builds the same index without them', async () => {
    const before = await indexFile();
    const r = await runRewind(['index', path, '--force', '--no-extra-snapshots', '--quiet'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /^extra /m);
    const file = await indexFile();
    assert.deepEqual(file.slices.map((s) => [s.from, s.to, s.sha256, s.extra]), before.slices.map((s) => [s.from, s.to, s.sha256, undefined]), 'the same buckets, no extra snapshots');
    const files = await fs.readdir(join(path, layout.INDEX_DIR));
    assert.deepEqual(files.filter((f) => f.endsWith('.qcow2')), [], 'no snapshot image left in the index folder');
    const info = JSON.parse((await runRewind(['info', path, '--json'])).stdout) as InfoJson;
    assert.equal(info.index!.extraSnapshots, 0);
  });
});
