/**
 * The replay engine on a long recording (more than 5e8 instructions, several recorded snapshots),
 * where time travel must cost in proportion to the distance from a snapshot, not to the length.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import { DEMO_KERNEL, requireDemoKernel, runRewind, tempDir } from './helpers';
import { symbolAddress } from './support/elf';
import { prng } from './support/prng';
import { qemuProcessesMentioning } from './support/procs';

describe('replay engine on a long recording', { timeout: 900_000 }, () => {
  const dir = tempDir(after);
  let engine: ReplayEngine;
  let kernel: string;

  before(async () => {
    requireDemoKernel();
    const bundle = join(dir, 'long.rewind');
    const script = join(dir, 'in.txt');
    // spin 60: about 5.4e8 instructions of computation, printing a progress line every 9e7.
    await fs.writeFile(script, 'expect ready\nexpect > \nsend spin 60\\n\nexpect spin done\nexpect > \nsend poweroff\\n\n');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', bundle, '--snapshot-every', '100M', '--quiet'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    kernel = join(bundle, 'guest', 'kernel');
    engine = await ReplayEngine.open(bundle);
    assert.ok(engine.end > 5e8, `only ${engine.end} instructions`);
    // What the recorder promises (docs/recording.md): no gap between snapshots over twice the
    // interval. Under load it takes fewer than one per interval (CI with two busy loops: init,
    // s1@190.5M, s2@370.5M), so the count is not exact; three or more give slices to cross.
    const at = [...engine.snapshots().map((s) => s.icount), engine.end];
    const listed = engine.snapshots().map((s) => `${s.name}@${s.icount}`).join(', ');
    for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! <= 200_000_000, `a gap of ${at[i]! - at[i - 1]!} instructions: ${listed}`);
    assert.ok(engine.snapshots().length >= 3, `snapshots: ${listed}`);
  });

  after(async () => {
    await engine?.close();
    assert.deepEqual(await qemuProcessesMentioning(dir), []);
  });

  it('100 random seeks across the whole recording, none hanging', { timeout: 600_000 }, async () => {
    const rand = prng(12345);
    for (let i = 0; i < 100; i++) {
      const t = Math.floor(rand() * engine.end);
      assert.equal(await engine.seek(t), t);
    }
  });

  it('steps back across every recorded snapshot boundary', async () => {
    for (const snap of engine.snapshots().slice(1)) {
      await engine.seek(snap.icount + 1);
      assert.equal(await engine.reverseStepi(), snap.icount);
      assert.equal(await engine.reverseStepi(), snap.icount - 1);
      const regs = await engine.registers();
      await engine.seek(snap.icount - 1);
      assert.deepEqual(await engine.registers(), regs);
    }
  });

  it('reverse-continues from the end to the last progress line, across slices', async () => {
    const putc = symbolAddress(kernel, 'serial_putc');
    const hits = await engine.hits(putc);
    // Progress lines are printed during the computation, so hits fall in several slices.
    const slicesWithHits = new Set(hits.map((h) => engine.snapshots().filter((x) => x.icount <= h.icount).length));
    assert.ok(slicesWithHits.size >= 3, `hits in ${slicesWithHits.size} slices`);
    // From the middle of the computation, reverse continue finds the last hit before it.
    const mid = Math.floor(engine.end / 2);
    await engine.seek(mid);
    const stop = await engine.reverseContinue({ breakpoints: [{ address: putc }] });
    assert.equal(stop.icount, hits.filter((h) => h.icount < mid).pop()!.icount);
  });
});
