/**
 * The index's queries over DAP, on a demo recording of the overflow bug with its index (built by
 * `rewind index`), against the real engine and gdb: rewind/indexStatus, rewind/valueHistory of
 * cfg.heartbeat_interval (its corrupting write in config_set_name's copy loop, each write's bytes
 * before and after, the last one equal to rewind/lastWrite's), the Value History panel's rows made
 * from that answer (extension/novsc/value-history.ts: what the panel shows), rewind/hitCounts of
 * source lines and functions (equal to the number of rewind/hits of the same line, which replays).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { changeText, rowOfValueAt, sortRows, summaryText, valueHistoryError, valueHistoryTable, whereText, writeMarkers } from '../extension/novsc/value-history';
import { recordIndexedOverflow, requireDemoKernel, ROOT, tempDir } from './helpers';
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
  let bundle = '';
  let c: RewindDapClient | undefined;

  before(async () => {
    requireDemoKernel();
    bundle = await recordIndexedOverflow(dir);
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

  it('shows the Value History panel\'s rows of the real answer: the corrupting write in config_set_name\'s copy loop, old -> new chained', async (t) => {
    const frame = (await c!.stack())[0]!;
    const answer = await c!.custom('rewind/valueHistory', { expression: 'cfg.heartbeat_interval', frameId: frame.id });
    const threads = (await c!.dc.threadsRequest()).body.threads;
    const now = await c!.position();
    const table = valueHistoryTable('cfg.heartbeat_interval', answer, { session: 'demo', end: now.end, threadCount: threads.length });
    const rows = table.rows;
    for (const r of rows) t.diagnostic(`row ${r.n}: icount ${r.icount} cpu ${r.cpu} ${whereText(r)} ${changeText(r)}`);
    assert.equal(table.type, 'uint32_t');
    assert.match(summaryText(table), new RegExp(`^cfg\\.heartbeat_interval \\(4 bytes at 0x[0-9a-f]+, uint32_t\\): ${rows.length} writes? in the recording$`));
    // The demo has one vCPU: the CPU column says 0 on every row.
    assert.equal(threads.length, 1);
    assert.equal(table.hasCpu, true);
    assert.ok(rows.every((r) => r.cpu === '0'));
    assert.ok(rows.length >= 2, `rows: ${rows.length}`);
    // Time order, each row a click just before its write; old -> new chained from row to row, all numbers.
    for (let k = 0; k < rows.length; k++) {
      const r = rows[k]!;
      assert.equal(r.n, k + 1);
      assert.equal(r.seekTo, r.icount - 1);
      assert.ok(r.old?.number !== undefined && r.new?.number !== undefined, `row ${r.n} has both values as numbers: ${changeText(r)}`);
      assert.equal(r.old.text, r.old.number, 'a uint32_t is shown in decimal');
      assert.match(r.new.title, /^0x[0-9a-f]+ · bytes( [0-9a-f]{2}){4} in memory \(little-endian\)/);
      if (k > 0) {
        assert.ok(r.icount > rows[k - 1]!.icount);
        assert.equal(r.old.text, rows[k - 1]!.new!.text, `row ${r.n}'s old value is row ${r.n - 1}'s new value`);
      }
    }
    // The corrupting writes: config_set_name, config.c, the copy loop's line.
    const copy = lineOf('cfg.machine_name[i] = name[i];');
    const corrupting = rows.filter((r) => r.function === 'config_set_name');
    assert.ok(corrupting.length > 0, `a row of config_set_name: ${rows.map(whereText).join(', ')}`);
    for (const r of corrupting) {
      // The writing instruction (the store of the loop's body), not the increment after it.
      assert.equal(r.atWriter, true, `row ${r.n} names the writing instruction`);
      assert.equal(r.source, `config.c:${copy}`, `row ${r.n} at the copy loop: ${whereText(r)}`);
      assert.ok(r.path!.endsWith('/guests/demo/config.c'), r.path);
      const w = answer.writes[r.n - 1]!;
      assert.ok(BigInt(w.writer!.address) < BigInt(w.at.address) && BigInt(w.at.address) - BigInt(w.writer!.address) <= 15n, `the writer just before ${w.at.address}: ${w.writer!.address}`);
    }
    // The last write leaves the value gdb reads at the end of the recording: "k-42" as a number.
    const last = rows[rows.length - 1]!;
    assert.equal(last.function, 'config_set_name');
    assert.equal(last.new!.text, '842280299');
    assert.match(last.new!.title, /as text "k-42"/);
    assert.equal(rowOfValueAt(rows, now.icount)!.new!.text, String(Number(await c!.evaluate('cfg.heartbeat_interval'))));
    // Sorted by new value (descending), the corrupting write's value comes first; the timeline's markers are the rows' seek targets.
    assert.equal(sortRows(rows, 'new', 'desc')[0]!.new!.text, '842280299');
    assert.deepEqual(writeMarkers(table).map((m) => m.icount), rows.map((r) => r.seekTo));
  });

  it('says clearly why an expression gdb cannot evaluate has no value history', async () => {
    const frame = (await c!.stack())[0]!;
    const e = await c!.custom('rewind/valueHistory', { expression: 'no_such_symbol', frameId: frame.id }).then(
      () => assert.fail('a value history of a symbol that does not exist'),
      (x: Error) => x,
    );
    assert.match(valueHistoryError('no_such_symbol', e.message), /^Cannot show the value history of no_such_symbol: it is not in memory \(No symbol "no_such_symbol" in current context\.\)$/);
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
