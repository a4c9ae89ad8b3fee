/**
 * A replay stopped where a guest timer is already due resumes (patches/qemu/0002). With shift=auto
 * the recording can run a timer later than its deadline (the clock moved while a budget of
 * instructions ran), so in the replay the timer is due for a stretch of instructions before its
 * checkpoint in the log. Stopped inside that stretch (a breakpoint, a replay-break), Debian's QEMU
 * 7.2 never ran another instruction: on every turn of its vCPU loop it saw the expired timer and
 * kicked itself (CI run S, 2026-12-07: a straight gdbstub replay of the Linux fixture frozen at
 * icount 252,807,377; docs/replay-research.md, "Stops where a timer is due").
 *
 * Such stretches end at a QEMU_CLOCK_VIRTUAL checkpoint of the log. So one replay of the Linux
 * fixture stops one instruction before every such checkpoint that has no other event there (a
 * quiet point: a stop exactly at an event's icount is another matter, docs/replay-research.md) and
 * goes on: every stop must resume. Whether a stop lies in a late timer's stretch depends on the
 * recording, and every run records its fixture afresh: with the QEMU before the patch, 1 of 1,340
 * such stops hung on CI run S's fixture, none of 1,297 on another recording of the same workload.
 *
 * A stop exactly at a time point where the main loop's timers ran while recording (a HOST or
 * VIRTUAL_RT checkpoint of the log) froze too: the stopped replay's main loop ran those timers, whose
 * callbacks do nothing while the VM is stopped (icount_adjust_rt), and left the virtual clock behind
 * the recorded one, so the next QEMU_CLOCK_VIRTUAL checkpoint never came (patches/qemu/0003). Before
 * that patch, the second test below froze within its first 33 stops on both Linux recordings tried.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { chooseQemu } from '../recorder-bridge/src/qemu/qemu-binary';
import type { ReplayLogIndex } from '../recorder-bridge/src/replay-log';
import { QuietPoints } from '../recorder-bridge/src/replay/quiet-points';
import { replayEnd } from '../recorder-bridge/src/replay/replay-end';
import { ReplayWorker } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { linuxFixtureOrSkip } from './linux-fixture';
import { qemuProcessesMentioning } from './support/procs';

/** A busy replay frozen this long is hung (the loaded CI machine stalls live replays for under 2 s). */
const HANG_MS = 15_000;

/** One before each QEMU_CLOCK_VIRTUAL checkpoint of the log, where that is a quiet point (no event there). */
function stopsBeforeTimerCheckpoints(events: ReadonlyArray<{ icount: number; kind: string; detail?: string }>): number[] {
  const quiet = new QuietPoints(events.map((e) => e.icount));
  const checkpoints = new Set(events.filter((e) => e.kind === 'checkpoint' && e.detail === 'clock-virtual').map((e) => e.icount));
  return [...checkpoints].filter((c) => c > 0 && quiet.isQuiet(c - 1)).map((c) => c - 1);
}

/** Every time point before the replay's end with a checkpoint of the main loop's timers (HOST or VIRTUAL_RT) in the log. */
function stopsAtMainLoopCheckpoints(index: ReplayLogIndex): number[] {
  const end = replayEnd(index);
  const at = index.events.filter((e) => e.icount > 0 && e.icount < end && e.kind === 'checkpoint' && (e.detail === 'clock-host' || e.detail === 'clock-virtual-rt'));
  return [...new Set(at.map((e) => e.icount))].sort((a, b) => a - b);
}

/** One replay of the fixture from `init`, stopped at each of `stops` in turn, then run one past the last. */
async function stopAndResume(bundle: Bundle, stops: readonly number[]): Promise<void> {
  const ws = await ReplayWorkspace.create(bundle);
  let w: ReplayWorker | undefined;
  try {
    const init = { ...bundle.manifest.snapshots.list[0]!, image: ws.snapshots, source: 'record' as const };
    const end = stops[stops.length - 1]! + 1;
    w = await ReplayWorker.start(bundle, ws, init, end, { hangMs: HANG_MS });
    for (const at of stops) {
      const stop = await w.runTo(at);
      assert.equal(stop.icount, at, `the replay stopped at ${at}`);
    }
    assert.equal((await w.runTo(end)).icount, end, 'and went on past the last stop');
  } finally {
    await w?.kill();
    await ws.dispose();
  }
  assert.deepEqual(await qemuProcessesMentioning(ws.dir, { graceMs: 5000 }), [], 'replay processes left behind');
}

describe('a replay stopped where a timer is due resumes', { timeout: 1_800_000 }, () => {
  it('stops one instruction before every timer checkpoint of the Linux fixture and goes on each time', async (t) => {
    const { fixture, skip } = await linuxFixtureOrSkip();
    if (!fixture) return t.skip(skip);
    if (chooseQemu('qemu-system-x86_64').build !== 'rewind') return t.skip("Debian's QEMU is used here (setup could not build Rewind's): it has the bug this checks");
    const bundle = await Bundle.open(fixture.bundle);
    const index = await bundle.readIndex();
    const stops = stopsBeforeTimerCheckpoints(index.events);
    assert.ok(stops.length > 500, `only ${stops.length} timer checkpoints in the log of a 1.5e9-instruction boot`);
    await stopAndResume(bundle, stops);
    t.diagnostic(`${stops.length} stops before timer checkpoints, each resumed`);
  });

  it('stops exactly where the main loop ran timers while recording and goes on each time', async (t) => {
    const { fixture, skip } = await linuxFixtureOrSkip();
    if (!fixture) return t.skip(skip);
    if (chooseQemu('qemu-system-x86_64').build !== 'rewind') return t.skip("Debian's QEMU is used here (setup could not build Rewind's): it has the bug this checks");
    const bundle = await Bundle.open(fixture.bundle);
    const stops = stopsAtMainLoopCheckpoints(await bundle.readIndex());
    assert.ok(stops.length > 500, `only ${stops.length} time points with main-loop timer checkpoints in the log of a 1.5e9-instruction boot`);
    await stopAndResume(bundle, stops);
    t.diagnostic(`${stops.length} stops at main-loop timer checkpoints, each resumed`);
  });
});
