/**
 * The index pass's replay time without the machine's load (recorder-bridge/src/util/run-queue-wait.ts):
 * the wait of the thread that used the most CPU between two schedstat readings.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { busiestThreadWaitMs, threadTimes, type ThreadTimes } from '../recorder-bridge/src/util/run-queue-wait';

const times = (entries: Array<[string, number, number]>): ThreadTimes => new Map(entries.map(([tid, cpuNs, waitNs]) => [tid, { cpuNs, waitNs }]));

describe('run-queue wait of a replay', () => {
  it('is the wait of the thread that used the most CPU in between (the vCPU thread), not of the others', () => {
    const before = times([['1/1', 5e9, 1e9], ['1/7', 1e9, 4e9]]);
    // The main thread (1/1) did little and waited a lot; the vCPU thread (1/7) ran 0.8 s and waited 0.3 s.
    const after = times([['1/1', 5.1e9, 3e9], ['1/7', 1.8e9, 4.3e9]]);
    assert.equal(busiestThreadWaitMs(before, after), 300);
  });

  it('counts a thread born in between from zero, and reads no wait when there is nothing to read', () => {
    assert.equal(busiestThreadWaitMs(times([['1/1', 1e9, 0]]), times([['1/1', 1e9, 0], ['1/9', 2e8, 5e7]])), 50);
    assert.equal(busiestThreadWaitMs(new Map(), new Map()), 0);
  });

  it('reads every thread of a real process, and a busy thread\'s CPU time grows', () => {
    if (!existsSync(`/proc/${process.pid}/task/${process.pid}/schedstat`)) {
      // A kernel without CONFIG_SCHED_INFO: no schedstat, so no thread (the pass then uses wall time).
      assert.equal(threadTimes([String(process.pid)]).size, 0);
      return;
    }
    const before = threadTimes([String(process.pid)]);
    assert.ok(before.size >= 1 && [...before.values()].every((t) => Number.isFinite(t.cpuNs) && Number.isFinite(t.waitNs)));
    const until = Date.now() + 50;
    while (Date.now() < until); // busy on this thread
    const after = threadTimes([String(process.pid)]);
    const main = `${process.pid}/${process.pid}`;
    assert.ok(after.get(main)!.cpuNs > before.get(main)!.cpuNs, 'the main thread ran');
    assert.ok(busiestThreadWaitMs(before, after) >= 0);
    assert.deepEqual(threadTimes(['999999999']), new Map(), 'a process that is gone has no threads');
  });
});
