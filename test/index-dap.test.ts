/**
 * The index's queries over DAP, on a demo recording of the overflow bug with its index (built by
 * `rewind index`), against the real engine and gdb: rewind/indexStatus, rewind/valueHistory of
 * cfg.heartbeat_interval (its corrupting write in config_set_name's copy loop, each write's bytes
 * before and after, the last one equal to rewind/lastWrite's), rewind/hitCounts of source lines
 * and functions (equal to the number of rewind/hits of the same line, which replays).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEMO_INPUTS, DEMO_KERNEL, requireDemoKernel, ROOT, runRewind, tempDir } from './helpers';
import { RewindDapClient } from './support/dap-client';
import { assertNoLeftovers } from './support/procs';

const CONFIG_C = join(ROOT, 'guests', 'demo', 'config.c');

function lineOf(text: string): number {
  const i = readFileSync(CONFIG_C, 'utf8').split('\n').findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `${text} not found in config.c`);
  return i + 1;
}

describe('index queries over DAP', { timeout: 900_000 }, () => {
  const dir = tempDir(after, 'rewind-index-dap-');
  const bundle = join(dir, 'overflow.rewind');
  let c: RewindDapClient | undefined;

  before(async () => {
    requireDemoKernel();
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(DEMO_INPUTS, 'overflow.txt'), '--out', bundle, '--quiet', '--snapshot-every', '2M']);
    assert.equal(r.code, 0, r.stderr);
    const ix = await runRewind(['index', bundle]);
    assert.equal(ix.code, 0, ix.stderr);
    c = new RewindDapClient();
    await c.start();
    await c.launch({ recording: bundle });
  });

  after(async () => {
    await c?.stop().catch(() => undefined);
    await assertNoLeftovers(dir);
  });

  it('says the index is ready', async () => {
    const st = await c!.custom('rewind/indexStatus', {});
    assert.equal(st.state, 'ready', JSON.stringify(st));
    assert.ok((st.buckets ?? 0) > 0);
  });

  it('gives the value history of a field: every write, its bytes, and the code that wrote it', async () => {
    const frame = (await c!.stack())[0]!;
    const h = await c!.custom('rewind/valueHistory', { expression: 'cfg.heartbeat_interval', frameId: frame.id });
    assert.equal(h.size, 4);
    assert.ok(h.writes.length >= 2, `writes: ${JSON.stringify(h.writes)}`);
    for (let k = 1; k < h.writes.length; k++) assert.equal(h.writes[k]!.before, h.writes[k - 1]!.after, `write ${k}'s old value is the previous one's new value`);
    const copy = lineOf('cfg.machine_name[i] = name[i];');
    const corrupting = h.writes.filter((w) => w.at.function === 'config_set_name');
    assert.ok(corrupting.length > 0, `a write from config_set_name: ${JSON.stringify(h.writes.map((w) => w.at))}`);
    assert.ok(corrupting.every((w) => Math.abs((w.at.line ?? 0) - copy) <= 1), `at the copy loop (line ${copy}): ${JSON.stringify(corrupting.map((w) => w.at))}`);
    // The newest write before now is the one rewind/lastWrite finds.
    const last = await c!.custom('rewind/lastWrite', { expression: 'cfg.heartbeat_interval', frameId: frame.id });
    const now = (await c!.position()).icount;
    const before = h.writes.filter((w) => w.icount <= now);
    assert.equal(before[before.length - 1]!.icount, last.icount);
  });

  it('counts how often lines and functions ran, as rewind/hits finds them', async () => {
    const copy = lineOf('cfg.machine_name[i] = name[i];');
    const counts = await c!.custom('rewind/hitCounts', { source: { path: CONFIG_C }, lines: [copy], functions: ['config_set_name'] });
    assert.equal(counts.indexed, true);
    const [line, fn] = counts.counts;
    const hits = await c!.custom('rewind/hits', { source: { path: CONFIG_C }, line: copy });
    assert.equal(line!.count, hits.hits.length, `line ${copy}`);
    assert.ok(line!.count > 1, 'the copy loop ran more than once');
    const calls = await c!.custom('rewind/hits', { function: 'config_set_name' });
    assert.equal(fn!.count, calls.hits.length, 'config_set_name');
    assert.ok(fn!.count >= 1);
  });

  it('refuses hit counts of a source without lines, saying what to give', async () => {
    await assert.rejects(c!.custom('rewind/hitCounts', { source: { path: CONFIG_C } }), /needs "lines"/);
  });
});
