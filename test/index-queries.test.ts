/**
 * Queries that go by the recording's index (issue 12) against the same queries without it, on one
 * demo recording with several snapshots, through the real engine: all hits of code addresses, all
 * writes of variables (with their values before and after), reverse continue to a breakpoint and
 * the last write, and forward continue to a breakpoint or a write, from random time points. Addresses and time points are drawn with a fixed seed,
 * some rarely run or written. The answers must be equal time point by time point. Also: a damaged
 * index is not used (the queries then go without it, with the same answers).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { coverage, hitCounts } from '../recorder-bridge/src/replay/counts';
import { ReplayEngine, type Hit } from '../recorder-bridge/src/replay/engine';
import { DIRECT_LANDING_MAX_HITS } from '../recorder-bridge/src/replay/search';
import { copyBundle, DEMO_KERNEL, requireDemoKernel, runRewind, tempDir } from './helpers';
import { symbolTable } from './support/elf';
import { prng } from './support/prng';
import { qemuProcessesMentioning } from './support/procs';

/** A loaded machine (a CI run beside this test) can freeze a replay process for more than the default 1.5 s. */
const HANG_MS = 15_000;
const SEED = 1204;
/** The index's bucket: `rewind index`'s default, 1M instructions. */
const BUCKET = 1_000_000;

const key = (h: Hit) => `${h.icount}:${h.address.toString(16)}:${h.dataAddress?.toString(16) ?? ''}`;

describe('index-backed queries', { timeout: 1_200_000 }, () => {
  const dir = tempDir(after);
  const path = join(dir, 'q.rewind');
  let plain: ReplayEngine | undefined;
  let fast: ReplayEngine | undefined;
  const random = prng(SEED);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;

  before(async () => {
    requireDemoKernel();
    const script = join(dir, 'in.txt');
    await fs.writeFile(script, 'expect ready\nexpect > \nsend hello\\n\nexpect hello, world\nexpect > \nsend work 3\\n\nexpect work done\nexpect > \nsend spin 3\\n\nexpect spin done\nexpect > \nsend set name abcdefghij\\n\nexpect > \nsend ticks\\n\nexpect ticks: \nexpect > \nsend poweroff\\n\n');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', path, '--snapshot-every', '5M', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const ix = await runRewind(['index', path]);
    assert.equal(ix.code, 0, ix.stderr);
    plain = await ReplayEngine.open(path, { index: 'off', hangTimeoutMs: HANG_MS });
    fast = await ReplayEngine.open(path, { index: 'use', hangTimeoutMs: HANG_MS });
    assert.equal(fast.indexing.status.state, 'ready', JSON.stringify(fast.indexing.status));
  });

  after(async () => {
    await plain?.close();
    await fast?.close();
    assert.deepEqual(await qemuProcessesMentioning(dir), [], 'replay processes left behind');
  });

  /** The kernel's code addresses that ran, with their counts over the recording. */
  function kernelCode(): Array<[bigint, number]> {
    // Only the kernel's code: what runs before it (QEMU's multiboot loader, in real mode, at
    // 0x38000) is counted by the index but never stops a gdbstub breakpoint (docs/index-design.md).
    const kernelStart = [...symbolTable(DEMO_KERNEL).values()].reduce((m, s) => (s.address > 0n && s.address < m ? s.address : m), 1n << 64n);
    return [...fast!.indexing.index!.totals()].filter(([a]) => a >= kernelStart);
  }

  /** Code addresses that ran: a few rare (1-3 times), a few middling, a few frequent (up to 2000), and function entries. */
  function sampleCode(): bigint[] {
    const totals = kernelCode().filter(([, n]) => n <= 2000);
    const rare = totals.filter(([, n]) => n <= 3);
    const middling = totals.filter(([, n]) => n > 3 && n <= 100);
    const frequent = totals.filter(([, n]) => n > 100);
    const entries = [...symbolTable(DEMO_KERNEL).values()].map((s) => s.address).filter((a) => totals.some(([b]) => b === a));
    const out = new Set<bigint>();
    for (const [group, n] of [[rare, 3], [middling, 3], [frequent, 2], [entries.map((a) => [a, 0] as [bigint, number]), 3]] as const) {
      for (let i = 0; i < n && group.length > 0; i++) out.add(pick(group as Array<[bigint, number]>)[0]);
    }
    return [...out];
  }

  /**
   * `n` (time point, code address) pairs whose last hit before the point lies in a bucket that starts
   * more than a bucket after the snapshot before it (no snapshot inside): the point is that bucket's
   * end, so the reverse continue lands in it.
   */
  function farPoints(n: number): Array<[number, bigint]> {
    const index = fast!.indexing.index!;
    const candidates: Array<[number, bigint]> = [];
    for (const [address, spans] of index.countsOfMany(kernelCode().map(([a]) => a))) {
      for (const b of spans) {
        const snapshot = fast!.snapshotAtOrBefore(b.from);
        if (b.from - snapshot > BUCKET && fast!.snapshotAtOrBefore(b.to) === snapshot && b.to < fast!.end) candidates.push([b.to, address]);
      }
    }
    assert.ok(candidates.length >= n, `only ${candidates.length} buckets with code hits lie more than a bucket after a snapshot`);
    return Array.from({ length: n }, () => pick(candidates));
  }

  /** Variables of the demo kernel: often written (ticks), rarely (cfg, the shell's line), and their sizes. */
  function variables(): Array<{ name: string; address: bigint; size: number }> {
    const t = symbolTable(DEMO_KERNEL);
    return ['ticks', 'cfg', 'next_heartbeat', 'line_len', 'last_char', 'line'].map((name) => {
      const s = t.get(name);
      assert.ok(s, `the demo kernel has no symbol ${name}`);
      return { name, address: s.address, size: Math.max(1, Math.min(Number(s.size), 16)) };
    });
  }

  it('all hits of code addresses equal those without the index, and the index counts them; so does the first hit from a time point', async () => {
    for (const a of sampleCode()) {
      assert.ok(fast!.usesIndex({ breakpoints: [{ address: a }] }), 'the indexed engine goes by the index');
      // The bridge asks for the range up to MAX_SAFE_INTEGER when the client gives no end.
      assert.ok(fast!.usesIndex({ breakpoints: [{ address: a }] }, 0, Number.MAX_SAFE_INTEGER), 'a range past the end goes by the index too');
      const want = await plain!.hits(a);
      const got = await fast!.hits(a);
      assert.deepEqual(got.map(key), want.map(key), `hits of 0x${a.toString(16)}`);
      assert.equal(fast!.indexing.index!.totals().get(a) ?? 0, want.length, `the index's count of 0x${a.toString(16)}`);
      // The first hit from a random time point (the language server's next lens): the next of all the hits, by the index or not.
      const from = Math.floor(fast!.end * random());
      const first = want.find((h) => h.icount >= from);
      assert.deepEqual((await fast!.firstHit([{ address: a }], from))?.icount, first?.icount, `first hit of 0x${a.toString(16)} from ${from}`);
      assert.deepEqual((await plain!.firstHit([{ address: a }], from))?.icount, first?.icount, `first hit of 0x${a.toString(16)} from ${from}, without the index`);
    }
  });

  it('all writes of variables equal those without the index, with each value before and after', async () => {
    for (const v of variables()) {
      const want = await plain!.writes(v.address, v.size);
      const got = await fast!.writes(v.address, v.size, { sample: { address: v.address, length: v.size } });
      assert.deepEqual(got.map(key), want.map(key), `writes of ${v.name}`);
      // Each write's old value is the previous one's new value.
      for (let k = 1; k < got.length; k++) assert.deepEqual(got[k]!.before, got[k - 1]!.value, `${v.name}: write ${k}'s old value`);
      // And both are what the memory holds just before and just after, for a few writes.
      for (let n = 0; n < 2 && got.length > 0; n++) {
        const h = pick(got);
        await plain!.seek(h.icount - 1);
        assert.deepEqual(await plain!.readMemory(v.address, v.size), h.before, `${v.name} before the write at ${h.icount}`);
        await plain!.seek(h.icount);
        assert.deepEqual(await plain!.readMemory(v.address, v.size), h.value, `${v.name} after the write at ${h.icount}`);
      }
    }
  });

  it('reverse continue and last write from random time points land where they do without the index', async () => {
    const code = sampleCode();
    const vars = variables();
    let farLandings = 0;
    let byCounts = 0;
    // Ten random points, then two chosen so that the hit lies more than a bucket after the snapshot
    // before it, wherever the index pass put its snapshots (that placement depends on the machine's
    // load: CI run R drew no such point among the ten).
    const far = farPoints(2);
    for (let i = 0; i < 12; i++) {
      const [at, address] = i < 10 ? [Math.floor(fast!.end * (0.2 + 0.8 * random())), pick(code)] : far[i - 10]!;
      await plain!.seek(at);
      await fast!.seek(at);
      const want = await plain!.reverseContinue({ breakpoints: [{ address }] });
      const runs: Array<{ from: number; to: number; traps: boolean }> = [];
      let scans = 0;
      const stop = fast!.observe((ev) => {
        if (ev.type === 'run') runs.push(ev);
        if (ev.type === 'slice-scanned') scans++;
      });
      const got = await fast!.reverseContinue({ breakpoints: [{ address }] }).finally(stop);
      assert.deepEqual(got, want, `reverse continue to 0x${address.toString(16)} from ${at}`);
      // A hit in the newest candidate bucket (the search's first window): the landing starts at that
      // bucket, not at the snapshot before it. Either the process that counted its way to the hit by
      // the index's counts is already there (one run with the breakpoint from the bucket's start, no
      // scan: search.ts, landByCounts), or a process was parked at the bucket during the scan and
      // lands from there (park()). A hit further back (the newest bucket ran the code only after
      // `at`) has no lander.
      const newest = fast!.indexing.index!.executing([address], 0, at).pop();
      if (got.kind !== 'start' && newest && got.icount >= newest.from) {
        // The run that got there; a zero-length one when an idle process stood at the hit already
        // (left there by an earlier landing on the same hit: nothing to replay).
        const ending = runs.filter((r) => r.to === got.icount);
        const landingRun = ending.filter((r) => r.from < r.to).pop() ?? ending.pop();
        assert.ok(landingRun, `a run ended at the landing ${got.icount}`);
        assert.ok(got.icount - landingRun.from <= BUCKET, `the landing at ${got.icount} replayed from ${landingRun.from}, more than a bucket`);
        if (got.icount - fast!.snapshotAtOrBefore(got.icount) > BUCKET) farLandings++;
        const inBucket = fast!.indexing.index!.countsOf(address, newest.from, newest.to).reduce((n, c) => n + c.count, 0);
        if (newest.to <= at && inBucket <= DIRECT_LANDING_MAX_HITS) {
          assert.equal(scans, 0, `a hit in a bucket wholly before ${at} is found by the index's counts, without a scan`);
          assert.ok(ending.some((r) => r.traps), 'the counted landing runs with the breakpoint');
          byCounts++;
        }
      }
      const v = pick(vars);
      await plain!.seek(at);
      await fast!.seek(at);
      const w1 = await plain!.lastWrite(v.address, v.size);
      const w2 = await fast!.lastWrite(v.address, v.size);
      assert.deepEqual(w2 && key(w2), w1 && key(w1), `last write of ${v.name} before ${at}`);
    }
    assert.ok(farLandings > 0, 'some hits lay more than a bucket after the snapshot before them (else the landing check above proves nothing)');
    assert.ok(byCounts > 0, 'some reverse continues landed by the index\'s counts (else that check proves nothing)');
  });

  it('forward continue from random time points stops where it does without the index, replaying only candidate buckets under traps', async () => {
    const code = sampleCode();
    const vars = variables();
    let skipped = 0;
    for (let i = 0; i < 10; i++) {
      const at = Math.floor(fast!.end * 0.8 * random());
      const address = pick(code);
      const v = pick(vars);
      for (const traps of [{ breakpoints: [{ address }] }, { watchpoints: [{ address: v.address, size: v.size, access: 'write' as const }] }]) {
        await plain!.seek(at);
        await fast!.seek(at);
        const want = await plain!.continueForward(traps);
        const trapped: Array<{ from: number; to: number }> = [];
        const stop = fast!.observe((ev) => {
          if (ev.type === 'run' && ev.traps) trapped.push(ev);
        });
        const got = await fast!.continueForward(traps).finally(stop);
        assert.deepEqual(got, want, `continue to ${JSON.stringify(traps, (_k, x: unknown) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x))} from ${at}`);
        // Under traps only inside candidate buckets: a stretch of at least a bucket before the stop went without them.
        const replayedUnderTraps = trapped.reduce((n, r) => n + (r.to - r.from), 0);
        if (got.icount - at - replayedUnderTraps >= BUCKET) skipped++;
      }
    }
    assert.ok(skipped > 0, 'some forward continues went through a bucket or more without traps');
  });

  it('a watch for changes (gdb\'s `watch`) stops where the bytes change, as every write followed until one changes them, with and without the index', async () => {
    // work_unit() stores pending_ticks - handled, the value already there when no tick came.
    const t = symbolTable(DEMO_KERNEL);
    const watched = ['pending_ticks', 'ticks'].map((name) => ({ address: t.get(name)!.address, size: 4, access: 'write' as const }));
    // Start points next to writes of the value already there (so that there is one to skip), and random ones.
    const points: Array<{ w: (typeof watched)[number]; back: number; forward: number }> = [];
    for (const w of watched) {
      const same = (await fast!.writes(w.address, w.size, { sample: { address: w.address, length: w.size } })).filter((h) => h.before && h.value?.equals(h.before));
      if (same.length > 0) points.push({ w, back: pick(same).icount + 1, forward: pick(same).icount - 2 });
      const at = Math.floor(fast!.end * (0.3 + 0.6 * random()));
      points.push({ w, back: at, forward: at });
    }
    let skipped = 0;
    for (const { w, ...from } of points) {
      for (const direction of ['back', 'forward'] as const) {
        const at = from[direction];
        // The truth: every write (a plain watchpoint), followed until one leaves other bytes than it found.
        await plain!.seek(at);
        let was = await plain!.readMemory(w.address, w.size);
        let want;
        for (;;) {
          want = direction === 'back' ? await plain!.reverseContinue({ watchpoints: [w] }) : await plain!.continueForward({ watchpoints: [w] });
          if (want.kind !== 'watchpoint') break;
          const now = await plain!.readMemory(w.address, w.size);
          if (!now.equals(was)) break;
          skipped++;
          was = now;
        }
        for (const e of [fast!, plain!]) {
          await e.seek(at);
          const changes = { watchpoints: [{ ...w, changes: true }] };
          const got = direction === 'back' ? await e.reverseContinue(changes) : await e.continueForward(changes);
          assert.deepEqual(got, want, `${direction === 'back' ? 'reverse continue' : 'continue'} to a change of 0x${w.address.toString(16)} from ${at}, ${e === fast ? 'with' : 'without'} the index`);
        }
      }
    }
    assert.ok(skipped > 0, 'some writes kept the value (else the filter was not put to the test)');
  });

  it('counts hits over ranges that cut buckets exactly, and tells the code that ran', async () => {
    const ix = fast!.indexing.index!;
    for (const a of sampleCode().slice(0, 4)) {
      const from = Math.floor(fast!.end * random() * 0.5);
      const to = from + Math.floor((fast!.end - from) * random());
      const want = (await plain!.hits(a, { from, to })).length;
      const got = await hitCounts(fast!, [a], { from, to });
      assert.equal(got.indexed, true);
      assert.equal(got.counts.get(a), want, `runs of 0x${a.toString(16)} in [${from}, ${to})`);
      const none = await hitCounts(plain!, [a], { from, to });
      assert.deepEqual([none.indexed, none.counts.get(a)], [false, want], 'without an index: replayed, same count');
    }
    const all = coverage(fast!, 0n, 1n << 63n);
    assert.deepEqual([all.from, all.to], [0, ix.end]);
    assert.equal(all.counts.size, [...ix.totals().keys()].length);
    assert.throws(() => coverage(plain!, 0n, 1n << 63n), /rewind index/);
  });

  it('builds a missing index in the background while queries go without it, then uses it', async () => {
    const copy = await copyBundle(path, join(dir, 'copy.rewind'));
    await fs.rm(join(copy, 'index'), { recursive: true, force: true });
    const building = await ReplayEngine.open(copy, { index: 'build', hangTimeoutMs: HANG_MS });
    try {
      assert.equal(building.indexing.status.state, 'building');
      const a = sampleCode()[0]!;
      const want = (await plain!.hits(a)).map(key);
      assert.deepEqual((await building.hits(a)).map(key), want, 'hits while the index builds');
      await building.indexing.settled();
      assert.equal(building.indexing.status.state, 'ready', JSON.stringify(building.indexing.status));
      assert.ok(building.usesIndex({ breakpoints: [{ address: a }] }));
      assert.deepEqual((await building.hits(a)).map(key), want, 'hits by the new index');
    } finally {
      await building.close();
    }
  });

  it('a damaged index is not used, and the queries answer the same without it', async () => {
    const folder = fast!.indexing.status.state === 'ready' ? fast!.indexing.status.where : assert.fail('no index');
    const files = (await fs.readdir(folder)).filter((f) => f !== 'index.json');
    assert.ok(files.length > 0, `no slice files in ${folder}`);
    const victim = join(folder, files[0]!);
    const bytes = await fs.readFile(victim);
    bytes[bytes.length >> 1] ^= 0xff;
    await fs.chmod(victim, 0o644);
    await fs.writeFile(victim, bytes);
    const damaged = await ReplayEngine.open(path, { index: 'use', hangTimeoutMs: HANG_MS });
    try {
      const st = damaged.indexing.status;
      assert.equal(st.state, 'damaged');
      assert.match(st.state === 'damaged' ? st.message : '', /rewind index/);
      const a = sampleCode()[0]!;
      assert.equal(damaged.usesIndex({ breakpoints: [{ address: a }] }), false);
      assert.deepEqual((await damaged.hits(a)).map(key), (await plain!.hits(a)).map(key));
    } finally {
      await damaged.close();
    }
  });
});
