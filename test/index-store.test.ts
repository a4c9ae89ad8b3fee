/**
 * The index pass and its store (recorder-bridge/src/index/index-pass.ts, index-store.ts) against the
 * real engine, on a demo recording with several snapshots, built as a user builds it (`rewind index`,
 * `rewind record`):
 *  - the stored slices cover [0, end), and their buckets equal a direct plugin pass of each slice;
 *  - the bundle's recorded files are byte-identical before and after;
 *  - a slice file flipped by one byte, or cut short, is refused ('index-damaged', with the rebuild
 *    hint), and `rewind index` replays only that slice;
 *  - a cancelled pass leaves no QEMU behind, and the next run replays only the slices left;
 *  - a read-only bundle folder sends the index to the state folder;
 *  - `rewind record --no-index` makes no index, plain `rewind record` a complete one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IndexInfoJson, InfoJson } from '@rewind/protocol';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { CancelledError, UserError } from '../recorder-bridge/src/errors';
import { planSlices } from '../recorder-bridge/src/index/index-plan';
import { buildIndex } from '../recorder-bridge/src/index/index-pass';
import { indexStatus, loadIndex, type StoredIndex } from '../recorder-bridge/src/index/index-store';
import { loadParsedIndex } from '../recorder-bridge/src/index/loaded-indexes';
import { parsePluginOutput } from '../recorder-bridge/src/index/plugin-output';
import { runPluginPass } from '../recorder-bridge/src/index/plugin-pass';
import { replayEnd } from '../recorder-bridge/src/replay/replay-end';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { copyBundle, DEMO_INPUTS, DEMO_KERNEL, fingerprint, REWIND_BIN, requireDemoKernel, ROOT, runRewind, tempDir, type CliResult } from './helpers';
import { qemuProcessesMentioning } from './support/procs';

const BUCKET = 1_000_000;
/** A loaded machine (a CI run beside this test) can freeze a replay process for more than the default. */
const HANG_MS = 15_000;

describe('index pass and store', { timeout: 900_000 }, () => {
  const dir = tempDir(after);
  let path: string;
  let end: number;
  const savedState = process.env.XDG_STATE_HOME;

  /** A copy of the recording without its index, for a test that changes things. */
  async function freshCopy(name: string): Promise<string> {
    const copy = await copyBundle(path, join(dir, name));
    await fs.rm(join(copy, 'index'), { recursive: true, force: true });
    return copy;
  }

  /** The slice files of an index folder, with their mtimes and inodes. */
  async function sliceFiles(folder: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const name of (await fs.readdir(folder)).filter((n) => n.startsWith('slice-')).sort()) {
      const st = await fs.stat(join(folder, name));
      out.set(name, `${st.mtimeMs}:${st.ino}`);
    }
    return out;
  }

  function assertCovers(stored: StoredIndex): void {
    assert.equal(stored.bucket, BUCKET);
    assert.equal(stored.slices[0]!.from, 0);
    for (let k = 1; k < stored.slices.length; k++) assert.equal(stored.slices[k]!.from, stored.slices[k - 1]!.to, 'the slices follow each other');
    assert.equal(stored.slices[stored.slices.length - 1]!.to, end);
  }

  async function info(bundle: string): Promise<IndexInfoJson> {
    const r = await runRewind(['info', bundle, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as InfoJson).index!;
  }

  /** Damages one slice file with `damage`, checks that it is refused, and that `rewind index` replays only it. */
  async function damageAndRebuild(name: string, damage: (file: string) => Promise<void>): Promise<void> {
    const copy = await freshCopy(name);
    const built = await runRewind(['index', copy, '--quiet'], { timeoutMs: 300_000 });
    assert.equal(built.code, 0, built.stderr);
    const bundle = await Bundle.open(copy);
    const good = (await loadIndex(bundle))!;
    // A second engine of the recording in this process takes the index parsed by the first...
    const parsedFirst = await loadParsedIndex(bundle);
    assert.ok(parsedFirst);
    assert.equal(await loadParsedIndex(await Bundle.open(copy)), parsedFirst, 'loaded once, parsed once');
    const folder = join(copy, 'index');
    const victim = good.slices[1]!;
    const victimFile = (await fs.readdir(folder)).find((n) => n.startsWith(`slice-${victim.from}-${victim.to}-`))!;
    await fs.chmod(join(folder, victimFile), 0o644);
    await damage(join(folder, victimFile));

    await assert.rejects(loadIndex(bundle), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.equal(e.code, 'index-damaged');
      assert.ok(e.message.includes(victimFile), e.message);
      assert.ok(e.message.includes(`run \`rewind index ${copy}\` to rebuild it`), e.message);
      return true;
    });
    assert.equal((await info(copy)).state, 'damaged');
    // ...but never once a file changed: the damage is found as by a new process.
    await assert.rejects(loadParsedIndex(bundle), (e: unknown) => e instanceof UserError && e.code === 'index-damaged' && e.message.includes(victimFile));

    const others = await sliceFiles(folder);
    const victimStamp = others.get(victimFile);
    others.delete(victimFile);
    const rebuilt = await runRewind(['index', copy, '--quiet'], { timeoutMs: 300_000 });
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    const now = await sliceFiles(folder);
    assert.notEqual(now.get(victimFile), victimStamp, 'the damaged slice was written again');
    now.delete(victimFile);
    assert.deepEqual(now, others, 'the other slice files were kept as they were');

    const again = (await loadIndex(await Bundle.open(copy)))!;
    assertCovers(again);
    const parsedAgain = await loadParsedIndex(await Bundle.open(copy));
    assert.ok(parsedAgain && parsedAgain !== parsedFirst, 'the rebuilt index is loaded afresh');
    const parsed = (s: StoredIndex) => s.slices.map((x) => parsePluginOutput(x.output, x.snapshot));
    assert.deepEqual(parsed(again), parsed(good), 'the rebuilt slice holds the same buckets');
    assert.deepEqual(
      again.slices.map((s) => s.spans),
      good.slices.map((s) => s.spans),
    );
  }

  before(async () => {
    requireDemoKernel();
    // Nothing of these tests goes to the user's state folder.
    process.env.XDG_STATE_HOME = join(dir, 'state');
    path = join(dir, 'demo.rewind');
    const script = join(dir, 'in.txt');
    await fs.writeFile(script, 'expect ready\nexpect > \nsend hello\\n\nexpect hello, world\nexpect > \nsend work 3\\n\nexpect work done\nexpect > \nsend spin 3\\n\nexpect spin done\nexpect > \nsend poweroff\\n\n');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', path, '--snapshot-every', '5M', '--quiet', '--no-index'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    end = replayEnd(await (await Bundle.open(path)).readIndex());
  });

  after(async () => {
    if (savedState === undefined) delete process.env.XDG_STATE_HOME;
    else process.env.XDG_STATE_HOME = savedState;
    assert.deepEqual(await qemuProcessesMentioning(dir, { graceMs: 5000 }), [], 'replay processes left behind');
  });

  it('`rewind record --no-index` makes no index', async () => {
    await assert.rejects(fs.stat(join(path, 'index')), { code: 'ENOENT' });
    assert.equal(await loadIndex(await Bundle.open(path)), undefined);
    assert.deepEqual(await info(path), { state: 'none' });
  });

  it('`rewind index` stores slices covering the recording, equal to direct plugin passes, and leaves the recorded files as they were', async () => {
    const recorded = await fingerprint(path);
    const r = await runRewind(['index', path], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^index +${join(path, 'index').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d`, 'm'));
    assert.match(r.stdout, /^buckets +\d+ of 1\.0M instructions, in \d+ slices$/m);
    assert.match(r.stdout, /^wall time +\d+\.\d s$/m);
    assert.match(r.stderr, /indexing .* replayed .* instructions/, 'progress on stderr');

    const after_ = await fingerprint(path);
    for (const name of Object.keys(after_)) if (name.startsWith('index/')) delete after_[name];
    assert.deepEqual(after_, recorded, 'every file of the bundle but index/ is byte-identical (and keeps its mode)');

    const bundle = await Bundle.open(path);
    const stored = (await loadIndex(bundle))!;
    assert.ok(stored, 'a complete index');
    assert.equal(stored.where, join(path, 'index'));
    assertCovers(stored);
    const plan = (await planSlices(bundle, await bundle.readIndex())).slices;
    assert.ok(plan.length >= 4, `several slices: ${plan.map((s) => s.snapshot.name)}`);
    assert.deepEqual(
      stored.slices.map((s) => [s.snapshot, s.from, s.to]),
      plan.map((s) => [s.snapshot.name, s.from, s.to]),
      'one slice per verified snapshot',
    );
    const st = await info(path);
    assert.equal(st.state, 'complete');
    assert.equal(st.buckets, stored.slices.reduce((n, s) => n + s.spans.length, 0));

    const ws = await ReplayWorkspace.create(bundle);
    try {
      for (const [k, s] of plan.entries()) {
        const direct = await runPluginPass({ bundle, workspace: ws, snapshot: { ...s.snapshot, image: ws.snapshots, source: 'record' }, from: s.from, to: s.to, bucket: BUCKET, hangMs: HANG_MS });
        const mine = stored.slices[k]!;
        assert.deepEqual(mine.spans, direct.buckets.map((b) => [b.from, b.to]), `slice ${k}: the stored time points are those of the pass`);
        assert.deepEqual(
          parsePluginOutput(mine.output, `stored slice ${k}`).map((b) => ({ counts: b.counts, writes: b.writes })),
          direct.buckets.map((b) => ({ counts: b.counts, writes: b.writes })),
          `slice ${k}: stored buckets (first) against a direct plugin pass (second)`,
        );
      }
    } finally {
      await ws.dispose();
    }
  });

  it('a slice file with one byte flipped is refused, and `rewind index` rebuilds only it', async () => {
    await damageAndRebuild('flipped.rewind', async (file) => {
      const data = await fs.readFile(file);
      data[Math.floor(data.length / 2)]! ^= 0x01;
      await fs.writeFile(file, data);
    });
  });

  it('a slice file cut short is refused, and `rewind index` rebuilds only it', async () => {
    await damageAndRebuild('cut.rewind', async (file) => {
      const { size } = await fs.stat(file);
      await fs.truncate(file, size - 3);
    });
  });

  it('a cancelled pass leaves no replay process and keeps its finished slice; the next run replays only the rest', async () => {
    const copy = await freshCopy('cancelled.rewind');
    const bundle = await Bundle.open(copy);
    const plan = (await planSlices(bundle, await bundle.readIndex())).slices;
    const first = plan[0]!.to - plan[0]!.from;
    const stop = new AbortController();
    // One slice at a time: the first one's last bucket is reported, then stored, before the next starts.
    const pass = buildIndex(bundle, { parallelism: 1, hangMs: HANG_MS, signal: stop.signal, onProgress: (done) => done >= first && stop.abort() });
    await assert.rejects(pass, (e: unknown) => {
      assert.ok(e instanceof CancelledError, String(e));
      assert.match(e.message, /1 of \d+ slices are done and kept/);
      return true;
    });
    assert.deepEqual(await qemuProcessesMentioning(copy, { graceMs: 5000 }), [], 'no replay process left');
    assert.equal(await loadIndex(bundle), undefined, 'an incomplete index is not used');
    const partial = await indexStatus(bundle);
    assert.equal(partial.state, 'incomplete');
    assert.equal(partial.slices, 1);
    assert.equal(partial.covered, first);
    const kept = await sliceFiles(join(copy, 'index'));
    assert.equal(kept.size, 1);

    let total: number | undefined;
    const stored = await buildIndex(bundle, { hangMs: HANG_MS, onProgress: (_done, t) => (total = t) });
    assert.equal(total, end - first, 'the second run replays only the slices left');
    assertCovers(stored);
    const now = await sliceFiles(join(copy, 'index'));
    for (const [name, stamp] of kept) assert.equal(now.get(name), stamp, `${name} was kept`);
  });

  it('the index of a bundle whose folder is read-only goes to the state folder', async (t) => {
    const copy = await freshCopy('read-only.rewind');
    const state = join(dir, 'ro-state');
    await fs.mkdir(state);
    await fs.chmod(copy, 0o555);
    t.after(() => fs.chmod(copy, 0o755));
    const r = await runAsUser(['index', copy, '--quiet'], { ...process.env, XDG_STATE_HOME: state });
    assert.equal(r.code, 0, r.stderr);
    await assert.rejects(fs.stat(join(copy, 'index')), { code: 'ENOENT' });
    const saved = process.env.XDG_STATE_HOME;
    process.env.XDG_STATE_HOME = state;
    try {
      const stored = (await loadIndex(await Bundle.open(copy)))!;
      assert.ok(stored, 'a complete index');
      assert.ok(stored.where.startsWith(join(state, 'rewind', 'index') + '/'), stored.where);
      assertCovers(stored);
      assert.match(r.stdout, new RegExp(`^index +${stored.where} `, 'm'));
    } finally {
      process.env.XDG_STATE_HOME = saved;
    }
  });

  it('an index whose folder became read-only moves to the state folder when a slice must be rebuilt', async (t) => {
    const copy = await freshCopy('moved.rewind');
    const built = await runRewind(['index', copy, '--quiet'], { timeoutMs: 300_000 });
    assert.equal(built.code, 0, built.stderr);
    const folder = join(copy, 'index');
    const names = [...(await sliceFiles(folder)).keys()];
    const victim = join(folder, names[2]!);
    await fs.chmod(victim, 0o644);
    const data = await fs.readFile(victim);
    data[0]! ^= 0x01;
    await fs.writeFile(victim, data);
    await fs.chmod(folder, 0o555);
    await fs.chmod(copy, 0o555);
    t.after(async () => {
      await fs.chmod(copy, 0o755);
      await fs.chmod(folder, 0o755);
    });
    const state = join(dir, 'moved-state');
    const env = { ...process.env, XDG_STATE_HOME: state };
    const r = await runAsUser(['index', copy, '--quiet'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^replayed +[\d.]+M of [\d.]+M instructions \(the other slices were there already\)$/m, 'only the damaged slice was replayed');
    const saved = process.env.XDG_STATE_HOME;
    process.env.XDG_STATE_HOME = state;
    try {
      const stored = (await loadIndex(await Bundle.open(copy)))!;
      assert.ok(stored, 'the good index is used, not the damaged one left in the bundle folder');
      assert.ok(stored.where.startsWith(join(state, 'rewind', 'index') + '/'), stored.where);
      assertCovers(stored);
      assert.deepEqual([...(await sliceFiles(stored.where)).keys()], names, 'the kept slices were copied over');
    } finally {
      process.env.XDG_STATE_HOME = saved;
    }
    const again = await runAsUser(['index', copy, '--quiet'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^replayed +nothing: every slice was there already$/m);
  });

  it('bad input: not a bundle, the plugin not built', async () => {
    const none = await runRewind(['index', join(dir, 'nothing.rewind')]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^rewind: no recording at .*nothing\.rewind; pass a bundle directory made by `rewind record`\n$/);
    const copy = await freshCopy('no-plugin.rewind');
    const noPlugin = await runRewind(['index', copy], { env: { ...process.env, REWIND_INDEX_PLUGIN: join(dir, 'missing.so') } });
    assert.equal(noPlugin.code, 2);
    assert.match(noPlugin.stderr, /^rewind: the index plugin .*missing\.so does not exist: run scripts\/setup\.sh to build it/m);
    await assert.rejects(fs.stat(join(copy, 'index')), { code: 'ENOENT' });
    const badBucket = await runRewind(['index', copy, '--bucket', 'lots']);
    assert.equal(badBucket.code, 2);
    assert.match(badBucket.stderr, /--bucket needs a positive instruction count/);
  });

  it('plain `rewind record` builds a complete index', async () => {
    const out = join(dir, 'basic.rewind');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', join(DEMO_INPUTS, 'basic.txt'), '--out', out, '--snapshot-every', '2M', '--json'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /indexing .* replayed .* instructions/, 'the pass shows its progress');
    const shown = (JSON.parse(r.stdout) as InfoJson).index!;
    assert.equal(shown.state, 'complete');
    assert.equal(shown.where, join(out, 'index'));
    const bundle = await Bundle.open(out);
    const stored = (await loadIndex(bundle))!;
    assert.ok(stored, 'a complete index');
    assert.equal(stored.slices[0]!.from, 0);
    assert.equal(stored.slices[stored.slices.length - 1]!.to, replayEnd(await bundle.readIndex()));
    assert.ok(stored.slices.length > 1, 'cut at its snapshots');
  });
});

/**
 * `rewind ARGS` with file permissions enforced: as root (which writes into read-only folders), with
 * the capabilities that override them dropped (setpriv, util-linux).
 */
function runAsUser(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const argv = process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search', process.execPath, REWIND_BIN, ...args] : [process.execPath, REWIND_BIN, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // setpriv execs node in its own process: a PID to kill if it never ends.
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
