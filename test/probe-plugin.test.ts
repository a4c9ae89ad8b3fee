/**
 * The probe plugin's vocabulary (replay/probe-plugin.ts): its arguments, its output read back
 * (including a write whose pc follows on a line of its own, and tasks), what it may scan, and when a
 * probe replay is worth a process (replay/probe-scan.ts). The plugin itself against the gdbstub:
 * probe-scan.test.ts (demo) and probe-scan-linux.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GRAIN_SHIFT } from '../recorder-bridge/src/index/plugin-output';
import { RecordingIndex } from '../recorder-bridge/src/index/recording-index';
import { parseProbeOutput, probeArgs, probeCanScan } from '../recorder-bridge/src/replay/probe-plugin';
import { hitsInRuns, probeFinds, probeWorthIt, PROBE_MIN_STOPS, WRITES_PER_BUCKET } from '../recorder-bridge/src/replay/probe-scan';
import type { LadderPoint } from '../recorder-bridge/src/replay/worker-types';
import { pluginOutput } from './support/plugin-output';

const TASK = { currentTask: 0x1fb80n, cpuNumber: 0x19160n, pid: 2416, tgid: 2420, comm: 2976 };

describe('probe plugin vocabulary', () => {
  it('passes its traps, sample and task as the plugin reads them', () => {
    const args = probeArgs('/tmp/o', { breakpoints: [{ address: 0xffffffff81000000n }, { address: 0xffffffff81000000n }, { address: 0x10n }], watchpoints: [{ address: 0x2000n, size: 4, access: 'write' }] }, { address: 0x2000n, length: 4, task: TASK });
    assert.deepEqual(args, ['out=/tmp/o', 'pc=ffffffff81000000', 'pc=10', 'watch=2000:4', 'sample=2000:4', 'task=1fb80:19160:2416:2420:2976']);
    assert.deepEqual(probeArgs('/tmp/o', { breakpoints: [{ address: 1n }] }, { address: 0n, length: 0, task: { ...TASK, cpuNumber: undefined } }), ['out=/tmp/o', 'pc=1', 'task=1fb80:-:2416:2420:2976']);
  });

  it('reads executions, writes, a pc on the next line, and tasks', () => {
    const comm = Buffer.alloc(16);
    comm.write('init');
    const text = [
      'x 100 ffffffff81000000',
      'w 205 ffffffff81000007 2000 2a000000',
      'w 300 - 2000 2b000000',
      'p ffffffff81000100',
      'w 301 - 2000 -',
      `x 400 10 ffff888000001000,1,1,0,${comm.toString('hex')}`,
      'x 401 10 -',
      `w 402 20 2000 01 ffff888000001000,7,7,-,${comm.toString('hex')}`,
      '',
    ].join('\n');
    const ev = parseProbeOutput(text, 'f');
    assert.deepEqual(ev.slice(0, 4), [
      { kind: 'exec', icount: 100, pc: 0xffffffff81000000n },
      { kind: 'write', icount: 205, pc: 0xffffffff81000007n, watch: 0x2000n, value: Buffer.from([0x2a, 0, 0, 0]) },
      { kind: 'write', icount: 300, pc: 0xffffffff81000100n, watch: 0x2000n, value: Buffer.from([0x2b, 0, 0, 0]) },
      // The replay stopped right after it: its pc is where the replay stands.
      { kind: 'write', icount: 301, pc: undefined, watch: 0x2000n, value: undefined },
    ]);
    assert.deepEqual(ev[4], { kind: 'exec', icount: 400, pc: 0x10n, task: { task: 0xffff888000001000n, pid: 1, tgid: 1, comm: 'init', cpu: 0 } });
    assert.deepEqual(ev[5], { kind: 'exec', icount: 401, pc: 0x10n, task: undefined });
    assert.deepEqual(ev[6], { kind: 'write', icount: 402, pc: 0x20n, watch: 0x2000n, value: Buffer.from([1]), task: { task: 0xffff888000001000n, pid: 7, tgid: 7, comm: 'init' } });
  });

  it('refuses output the plugin never writes: a cut last line, a stray pc, a malformed field', () => {
    for (const bad of ['x 1 10', 'x 1 10\nx 2', 'p 10\n', 'w 1 10 2000 2a\np 11\n', 'x 1 zz\n', 'w 1 10 2000 2\n', 'x 1 10 1,2\n', 'q 1\n']) {
      assert.throws(() => parseProbeOutput(bad, 'events.txt'), (e: Error) => /events\.txt/.test(e.message), JSON.stringify(bad));
    }
    assert.deepEqual(parseProbeOutput('', 'f'), []);
  });

  it('keeps the hits inside the runs, writes ending at a run\'s end too, with old values chained through every write', () => {
    const v = (n: number) => Buffer.from([n]);
    const events = parseProbeOutput(['x 5 10', 'w 9 20 2000 01', 'x 10 10', 'w 11 21 2000 02', 'x 19 10', 'w 20 - 2000 03', 'p 30', 'w 25 22 2000 04', 'w 31 - 2000 05', 'x 40 10', ''].join('\n'), 'f');
    const runs = [{ from: 10, to: 20 }, { from: 30, to: 40 }];
    const hits = hitsInRuns(events, runs, true, v(0));
    assert.deepEqual(hits.map((h) => [h.icount, h.address, h.before?.[0], h.value?.[0]]), [
      [10, 0x10n, undefined, undefined],
      // Its old value is the write before it, at 9 (outside the runs, but the plugin saw it).
      [11, 0x21n, 1, 2],
      [19, 0x10n, undefined, undefined],
      // Ending at the run's end (20): kept, with the pc from the next block.
      [20, 0x30n, 2, 3],
      // Its pc unknown (the replay stopped right after it): the caller reads it.
      [31, undefined, 4, 5],
    ]);
    assert.deepEqual(hitsInRuns(events, runs, false, undefined)[1], { icount: 11, address: 0x21n, dataAddress: 0x2000n });
  });

  it('scans only what it finds as the gdbstub does', () => {
    assert.ok(probeCanScan({ breakpoints: [{ address: 1n }] }));
    assert.ok(probeCanScan({ watchpoints: [{ address: 1n, size: 4, access: 'write' }] }, { address: 1n, length: 4, task: TASK }));
    assert.ok(!probeCanScan({}), 'nothing to find');
    assert.ok(!probeCanScan({ breakpoints: [{ address: 1n, stack: { min: 0n } }] }), 'a stack filter');
    assert.ok(!probeCanScan({ watchpoints: [{ address: 1n, size: 4, access: 'read' }] }), 'a read watch');
    assert.ok(!probeCanScan({ watchpoints: [{ address: 1n, size: 4, access: 'write', changes: true }] }), 'a watch for changes');
    assert.ok(!probeCanScan({ breakpoints: [{ address: 1n }] }, { address: 1n, length: 5000 }), 'a sample past the plugin\'s limit');
  });

  it('is worth a process where the index expects enough stops, and finds writes only by the index', () => {
    const snapshot = { name: 'init', icount: 0 } as LadderPoint;
    // Two buckets: the first runs 0x10 forty times and writes grain 0x2000; the second runs 0x20 once.
    const output = pluginOutput([{ counts: [[0x10n, 40]], grains: [[0x2000n >> GRAIN_SHIFT, 1]] }, { counts: [[0x20n, 1]] }]);
    const index = RecordingIndex.fromSlices([{ spans: [[0, 100], [100, 200]], output }], 'test');
    const slice = { snapshot, from: 0, to: 200, runs: [{ from: 0, to: 200 }] };
    assert.ok(40 >= PROBE_MIN_STOPS && WRITES_PER_BUCKET < PROBE_MIN_STOPS);
    assert.ok(probeWorthIt(index, { breakpoints: [{ address: 0x10n }] }, slice), '40 hits');
    assert.ok(!probeWorthIt(index, { breakpoints: [{ address: 0x20n }] }, slice), '1 hit');
    assert.ok(!probeWorthIt(index, { watchpoints: [{ address: 0x2000n, size: 4, access: 'write' }] }, slice), 'one candidate bucket');
    const plain = { snapshot, from: 0, to: 200 };
    assert.ok(probeWorthIt(undefined, { breakpoints: [{ address: 0x20n }] }, plain), 'hits without the index: unknown, so a probe');
    assert.ok(!probeFinds(undefined, { watchpoints: [{ address: 0x2000n, size: 4, access: 'write' }] }, plain), 'writes without the index: the gdbstub');
    assert.ok(probeFinds(index, { watchpoints: [{ address: 0x2000n, size: 4, access: 'write' }] }, slice));
  });
});
