/**
 * The hang watch (recorder-bridge/src/replay/hang-watch.ts): a replay whose QMP goes silent is taken
 * for hung only when it also uses no CPU and waits on no disk (a deadlock), or after the silence
 * cap; a silent one that keeps a core busy is left alone (a replay of Linux stalls QMP for 0.12 s
 * alone, over 1.5 s on a loaded machine, at two points of its boot). First on a scripted QMP and
 * process group, then on a real replay of the Linux fixture through both stalls with a hang
 * timeout below them (the old rule killed that replay: "did not answer QMP within 0.06 s").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { watchForHang, type GroupState, type HangWatchOptions } from '../recorder-bridge/src/replay/hang-watch';
import { ReplayWorker } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { linuxFixtureOrSkip } from './linux-fixture';

/** A QMP whose query-replay answers only once `release()` is called (or never). */
function silentQmp(): { qmp: HangWatchOptions['qmp']; release(): void; asked: () => number } {
  let asked = 0;
  const waiting: Array<() => void> = [];
  const qmp = {
    isClosed: false,
    execute<T>(_command: string, _args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
      asked++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
        waiting.push(() => {
          clearTimeout(timer);
          resolve({ icount: asked } as T);
        });
      });
    },
  };
  return { qmp: qmp as unknown as HangWatchOptions['qmp'], release: () => waiting.splice(0).forEach((f) => f()), asked: () => asked };
}

/** A process group that uses `share` of a core from now on (ticks follow the wall clock), and may have a thread that waits (on the disk, or runnable without a CPU). */
function group(share: number, waiting = false): (pgid: number) => GroupState {
  const t0 = Date.now();
  return () => ({ cpuTicks: Math.floor(((Date.now() - t0) / 10) * share), stopped: false, waits: () => waiting });
}

/** Watches for `ms` and says why it declared a hang, if it did. */
async function watch(opts: Omit<HangWatchOptions, 'onHung' | 'pgid' | 'frozenMs'> & { ms: number }): Promise<string | undefined> {
  let why: string | undefined;
  const stop = watchForHang({ ...opts, pgid: 4242, frozenMs: Infinity, onHung: (w) => (why = w) });
  await new Promise((r) => setTimeout(r, opts.ms));
  stop();
  return why;
}

describe('hang watch: a silent replay', () => {
  it('that uses no CPU and waits on no disk is a deadlock: declared hung', async () => {
    const q = silentQmp();
    const why = await watch({ qmp: q.qmp, noAnswerMs: 200, probeGroup: group(0), ms: 1500 });
    assert.match(why ?? 'not declared hung', /^it did not answer QMP for \d+\.\d s, using 0% CPU, no thread runnable or waiting on the disk$/);
  });

  it('that keeps a core busy is running a long instruction: left alone, and watched again once it answers', async () => {
    const q = silentQmp();
    let why: string | undefined;
    const stop = watchForHang({ qmp: q.qmp, pgid: 4242, noAnswerMs: 200, frozenMs: Infinity, probeGroup: group(1), onHung: (w) => (why = w) });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(why, undefined, 'a busy silent process was declared hung');
      assert.equal(q.asked(), 1, 'one probe stays pending: no second one while it is silent');
      q.release();
      await new Promise((r) => setTimeout(r, 600));
      assert.ok(q.asked() >= 2, 'probing goes on after the answer');
    } finally {
      stop();
    }
  });

  it('that uses no CPU is given idleSilenceMs where set (verification replays), then declared hung', async () => {
    // The replay of a Linux guest spinning after a panic pauses like this at 0% CPU and goes on.
    const paused = silentQmp();
    let why: string | undefined;
    const stop = watchForHang({ qmp: paused.qmp, pgid: 4242, noAnswerMs: 200, idleSilenceMs: 1500, frozenMs: Infinity, probeGroup: group(0), onHung: (w) => (why = w) });
    try {
      await new Promise((r) => setTimeout(r, 900));
      assert.equal(why, undefined, 'declared hung before idleSilenceMs');
      paused.release();
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(why, undefined, 'declared hung after it answered');
    } finally {
      stop();
    }
    const q = silentQmp();
    const deadlocked = await watch({ qmp: q.qmp, noAnswerMs: 200, idleSilenceMs: 1000, probeGroup: group(0), ms: 2000 });
    assert.match(deadlocked ?? 'not declared hung', /^it did not answer QMP for (1\.\d|2\.0) s, using 0% CPU, no thread runnable or waiting on the disk$/);
  });

  it('that waits on the disk, or is runnable without getting a CPU (a loaded machine), is left alone', async () => {
    const q = silentQmp();
    assert.equal(await watch({ qmp: q.qmp, noAnswerMs: 200, probeGroup: group(0, true), ms: 1500 }), undefined);
  });

  it('that stays silent past the cap is declared hung even while busy', async () => {
    const q = silentQmp();
    const why = await watch({ qmp: q.qmp, noAnswerMs: 100, silentCapMs: 600, probeGroup: group(1), ms: 2000 });
    assert.equal(why, 'it did not answer QMP within 0.6 s');
  });

  it('that was stopped by a signal is declared hung at once, silent or not', async () => {
    const q = silentQmp();
    const why = await watch({ qmp: q.qmp, noAnswerMs: 60_000, probeGroup: () => ({ cpuTicks: 0, stopped: true, waits: () => false }), ms: 700 });
    assert.equal(why, 'it was stopped by a signal');
  });
});

describe('hang watch on a real replay: Linux through clear_bss', { timeout: 900_000 }, () => {
  it('a replay with a 0.06 s hang timeout runs through the kernel\'s long rep stosb, whose QMP stall outlasts it', async (t) => {
    const { fixture, skip } = await linuxFixtureOrSkip();
    if (!fixture) return t.skip(skip);
    const bundle = await Bundle.open(fixture.bundle);
    const ws = await ReplayWorkspace.create(bundle);
    const init = bundle.manifest.snapshots.list.find((s) => s.icount === 0)!;
    let w: ReplayWorker | undefined;
    try {
      w = await ReplayWorker.start(bundle, ws, { ...init, image: ws.snapshots, source: 'record' }, bundle.manifest.recording.totalIcount, { hangMs: 60 });
      // QMP stalls at about icount 110.36M (just after clear_bss's rep stosb) and at 200M.
      const stop = await w.runTo(210_000_000);
      assert.equal(stop.icount, 210_000_000);
      assert.equal(w.hangNoticed, undefined);
    } finally {
      await w?.kill();
      await ws.dispose();
    }
  });
});
