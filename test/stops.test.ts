/**
 * classifyStop on `*stopped` records as gdb 13 prints them for the demo guest (frames shortened to
 * the fields gdb always gives), in both directions, at both ends of the recording, and paused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BreakpointKind } from '../debug-adapter/src/breakpoints';
import { parseMiLine, type MiTuple } from '../debug-adapter/src/mi/parser';
import { classifyStop, panicMessage, stopNeedsPosition, type StopFacts } from '../debug-adapter/src/stops';
import { REWIND_STOP_REASON } from '@rewind/protocol';

const FRAME = 'frame={addr="0x0000000000100c41",func="panic",args=[],file="panic.c",fullname="/work/main/guests/demo/panic.c",line="12",arch="i386:x86-64"},thread-id="1",stopped-threads="all"';
const END = 5_684_254;

function record(line: string): MiTuple {
  const r = parseMiLine(line);
  assert.ok(r.type === 'exec' && r.asyncClass === 'stopped', line);
  return r.results;
}

const BREAKPOINTS = new Map<number, { kind: BreakpointKind; dapId: number; label?: string }>([
  [1, { kind: 'exception', dapId: 1 }],
  [2, { kind: 'source', dapId: 7 }],
  [3, { kind: 'function', dapId: 8 }],
  [4, { kind: 'instruction', dapId: 9 }],
  [5, { kind: 'data', dapId: 10, label: 'cfg.heartbeat_interval' }],
]);

function facts(direction: 'forward' | 'reverse', icount?: number, aborted = false): StopFacts {
  return { direction, aborted, ...(icount !== undefined ? { position: { icount, end: END } } : {}), breakpoint: (n) => BREAKPOINTS.get(n) };
}

describe('classifyStop', () => {
  it('breakpoints by kind: the panic filter, source, function, instruction; and one the session does not know', () => {
    const hit = (n: number) => record(`*stopped,reason="breakpoint-hit",disp="keep",bkptno="${n}",${FRAME}`);
    assert.deepEqual(classifyStop(hit(1), facts('forward')), { reason: 'exception', threadId: 1, description: 'Paused on a kernel panic', text: 'Kernel panic', hitBreakpointIds: [1], cause: 'continue' });
    assert.deepEqual(classifyStop(hit(2), facts('reverse')), { reason: 'breakpoint', threadId: 1, hitBreakpointIds: [7], cause: 'reverseContinue' });
    assert.equal(classifyStop(hit(3), facts('forward')).reason, 'function breakpoint');
    assert.equal(classifyStop(hit(4), facts('forward')).reason, 'instruction breakpoint');
    assert.deepEqual(classifyStop(hit(99), facts('forward')), { reason: 'breakpoint', threadId: 1, cause: 'continue' });
    assert.equal(stopNeedsPosition(hit(1), false), false);
  });

  it('watchpoints: the write forward, the write gone back to, and a read watchpoint', () => {
    const write = record(`*stopped,reason="watchpoint-trigger",wpt={number="5",exp="cfg.heartbeat_interval"},value={old="5",new="1819042152"},${FRAME}`);
    assert.deepEqual(classifyStop(write, facts('forward')), {
      reason: 'data breakpoint',
      threadId: 1,
      description: 'Paused on an access to cfg.heartbeat_interval: 5 → 1819042152',
      hitBreakpointIds: [10],
      cause: 'continue',
    });
    // Going back, gdb reports the values the other way round: "new" is the value before the write.
    assert.equal(classifyStop(write, facts('reverse')).description, 'Went back to the write of cfg.heartbeat_interval: before the write 1819042152, after it 5');
    const read = record(`*stopped,reason="read-watchpoint-trigger",hw-rwpt={number="6",exp="*(int *) 0x102840"},value={value="5"},${FRAME}`);
    assert.deepEqual(classifyStop(read, facts('forward')), { reason: 'data breakpoint', threadId: 1, description: 'Paused on an access to *(int *) 0x102840: value 5', cause: 'continue' });
  });

  it('steps: a step, a finish, and a step that reached either end of the recording', () => {
    const step = record(`*stopped,reason="end-stepping-range",${FRAME}`);
    assert.equal(stopNeedsPosition(step, false), true);
    assert.throws(() => classifyStop(step, facts('forward')), /needs the position/);
    assert.deepEqual(classifyStop(step, facts('forward', 1000)), { reason: 'step', threadId: 1, cause: 'step' });
    assert.deepEqual(classifyStop(step, facts('reverse', 1000)), { reason: 'step', threadId: 1, cause: 'stepBack' });
    assert.equal(classifyStop(step, facts('forward', END)).reason, REWIND_STOP_REASON.end);
    // A reverse step may end on the last instruction without being "at the end".
    assert.equal(classifyStop(step, facts('reverse', END)).reason, 'step');
    assert.equal(classifyStop(step, facts('reverse', 0)).reason, REWIND_STOP_REASON.start);
    const finish = record(`*stopped,reason="function-finished",${FRAME},gdb-result-var="$1",return-value="0"`);
    assert.equal(classifyStop(finish, facts('forward', 2000)).reason, 'step');
  });

  it('no history: the start going back, the end going forward (gdb names both alike)', () => {
    const none = record(`*stopped,reason="no-history",${FRAME}`);
    const start = classifyStop(none, facts('reverse', 0));
    assert.equal(start.reason, REWIND_STOP_REASON.start);
    assert.equal(start.text, 'Start of the recording');
    const end = classifyStop(none, facts('forward', END));
    assert.equal(end.reason, REWIND_STOP_REASON.end);
    assert.match(end.description!, /^The end of the recording \(icount 5,684,254\)/);
    assert.deepEqual(classifyStop(none, facts('forward', 1000)), { reason: 'pause', threadId: 1, cause: 'continue' });
  });

  it('paused by the user: no position needed, and "still where it started" going back', () => {
    const sigint = record(`*stopped,reason="signal-received",signal-name="SIGINT",signal-meaning="Interrupt",${FRAME}`);
    assert.equal(stopNeedsPosition(sigint, true), false);
    assert.deepEqual(classifyStop(sigint, facts('forward', undefined, true)), { reason: 'pause', threadId: 1, description: 'Paused', cause: 'continue' });
    assert.equal(classifyStop(sigint, facts('reverse', undefined, true)).description, 'Cancelled: still where it started');
    // Not paused by the user: a stop without a reason that is at the end.
    const bare = record(`*stopped,${FRAME}`);
    assert.equal(stopNeedsPosition(bare, false), true);
    assert.equal(classifyStop(bare, facts('forward', END)).reason, REWIND_STOP_REASON.end);
  });
});

describe('panicMessage', () => {
  it('finds the first panic line of the demo guest or of Linux, and nothing else', () => {
    assert.equal(panicMessage(['> name x', 'PANIC: heartbeat interval 1819042152 out of range', 'PANIC: later']), 'heartbeat interval 1819042152 out of range');
    assert.equal(panicMessage(['[    5.233604] sysrq: Trigger a crash', '[    5.234001] Kernel panic - not syncing: sysrq triggered crash']), 'sysrq triggered crash');
    assert.equal(panicMessage(['no PANIC: here', 'ok']), undefined);
  });
});
