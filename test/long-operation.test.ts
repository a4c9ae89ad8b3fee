/** The adapter's long-operation bookkeeping: current operation, cancel by request and by progress, progress events. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { LongOperations } from '../debug-adapter/src/long-operation';

function setup(showsProgress = true) {
  const events: DebugProtocol.Event[] = [];
  const ops = new LongOperations((e) => events.push(e), () => showsProgress);
  const summary = () => events.map((e) => `${e.event}${e.body?.percentage !== undefined ? ` ${e.body.percentage}` : ''}${e.body?.message ? ` "${e.body.message}"` : ''}${e.body?.title ? ` "${e.body.title}"` : ''}`);
  return { ops, events, summary };
}

describe('long operations', () => {
  it('a move is current at once; a query only when no move is; an inspection never', () => {
    const { ops } = setup();
    const query = ops.begin(1, 'All hits', { current: 'ifIdle' });
    assert.equal(ops.current, query);
    const move = ops.begin(2, 'continue', { current: 'always' });
    assert.equal(ops.current, move);
    const query2 = ops.begin(3, 'Last write', { current: 'ifIdle' });
    const inspection = ops.begin(4, 'variables', { current: 'never' });
    assert.equal(ops.current, move);
    move.end();
    assert.equal(ops.current, undefined, 'an ended operation is not current, and nothing else becomes it');
    for (const o of [query, query2, inspection]) o.end();
  });

  it('cancel by request id reaches every operation of that request; by progress id only that one', () => {
    const { ops } = setup();
    const a = ops.begin(7, 'kernel events', { current: 'never' });
    let scanCancelled = 0;
    const scan = ops.begin(7, 'Scanning', { current: 'never', showNow: true, onCancel: () => scanCancelled++ });
    const other = ops.begin(8, 'continue', { current: 'always', showNow: true });
    ops.cancel({ progressId: other.progressId! });
    assert.equal(other.signal.aborted, true);
    assert.equal(a.signal.aborted, false);
    ops.cancel({ requestId: 7 });
    assert.equal(a.signal.aborted, true);
    assert.equal(scan.signal.aborted, true);
    assert.equal(scanCancelled, 1);
    ops.cancel({ requestId: 7 });
    assert.equal(scanCancelled, 1, 'cancelled once');
    // Ended operations are forgotten: a late cancel does nothing.
    const late = ops.begin(9, 'x', { current: 'never' });
    late.end();
    ops.cancel({ requestId: 9 });
    assert.equal(late.signal.aborted, false);
  });

  it('progress: shown on the first report (or at once), updated when the percentage changes, ended once, "cancelled" when it was', async () => {
    const { ops, summary } = setup();
    await ops.run(1, 'Reverse continue', { current: 'always' }, async (op) => {
      op.progress(5, 100, 'of the way scanned'); // not shown yet, and not asked to show: nothing
      op.progress(10, 100, 'of the way scanned', true);
      op.progress(10, 100, 'of the way scanned', true);
      op.progress(50, 100, 'of the way scanned', true);
    });
    const run = ops.begin(2, 'Recording', { current: 'always', showNow: true });
    run.message('recording: 1.0M instructions');
    run.cancel();
    run.end();
    run.end();
    assert.deepEqual(summary(), [
      'progressStart 10 "Reverse continue"',
      'progressUpdate 50 "50% of the way scanned"',
      'progressEnd',
      'progressStart "Recording"',
      'progressUpdate "recording: 1.0M instructions"',
      'progressEnd "cancelled"',
    ]);
  });

  it('a client without progress reporting gets no progress events, and cancel by request still works', () => {
    const { ops, events } = setup(false);
    const op = ops.begin(1, 'All hits', { current: 'ifIdle', showNow: true });
    op.progress(1, 2, 'of the way scanned', true);
    ops.cancel({ requestId: 1 });
    op.end();
    assert.equal(op.signal.aborted, true);
    assert.deepEqual(events, []);
  });

  it('cancelAll cancels everything still running', () => {
    const { ops } = setup();
    const a = ops.begin(1, 'a', { current: 'always' });
    const b = ops.begin(2, 'b', { current: 'never' });
    ops.cancelAll();
    assert.ok(a.signal.aborted && b.signal.aborted);
  });
});
