/**
 * continueByIndex (recorder-bridge/src/replay/indexed-forward.ts), the order of its moves, with a
 * scripted stand-in for the engine: it goes to each candidate stretch, runs there under the traps
 * (a breakpoint right where it arrived counts), one instruction further when it watches writes, and
 * goes to `until` when no stretch had a hit. The real engine's answers are checked against an
 * engine without the index in test/index-queries.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { continueByIndex, type ForwardMoves } from '../recorder-bridge/src/replay/indexed-forward';
import type { RunOptions, StopCause } from '../recorder-bridge/src/replay/worker-types';

/** A stand-in engine whose runs stop where `hits` says (the first hit in [position, until)). */
function fakeEngine(start: number, end: number, hits: number[], cancelGoAt?: { at: number; cancel: AbortController }): ForwardMoves & { log: string[] } {
  let position = start;
  const log: string[] = [];
  return {
    log,
    end,
    position: () => position,
    goTo: async (t) => {
      log.push(`go ${t}`);
      // Cancelled on the way: the engine's seek stops where it got.
      if (cancelGoAt && cancelGoAt.at < t) {
        cancelGoAt.cancel.abort();
        position = cancelGoAt.at;
      } else position = t;
    },
    run: async (o: RunOptions): Promise<StopCause> => {
      const until = o.until ?? end;
      log.push(`run ${position}-${until}${o.arrived ? ' arrived' : ''}`);
      // A hit where the run starts counts only when it arrived there (else it steps off it).
      const hit = hits.find((h) => (o.arrived ? h >= position : h > position) && h < until);
      if (hit !== undefined) {
        position = hit;
        return { kind: 'breakpoint', icount: hit, address: 0x1000n };
      }
      position = until;
      return { kind: position >= end ? 'end' : 'time', icount: position };
    },
  };
}

const bp = { breakpoints: [{ address: 0x1000n }] };

describe('continue forward by the index', () => {
  it('goes to each candidate stretch and runs there under the traps, to the first hit', async () => {
    const e = fakeEngine(100, 10_000, [2_500]);
    const stop = await continueByIndex([{ from: 100, to: 1_000 }, { from: 2_000, to: 3_000 }], bp, 10_000, e);
    assert.deepEqual(stop, { kind: 'breakpoint', icount: 2_500, address: 0x1000n });
    assert.deepEqual(e.log, ['run 100-1000', 'go 2000', 'run 2000-3000 arrived']);
  });

  it('a hit right at the stretch it went to counts; a hit where it already was does not', async () => {
    const e = fakeEngine(100, 10_000, [100, 2_000]);
    const stop = await continueByIndex([{ from: 100, to: 1_000 }, { from: 2_000, to: 3_000 }], bp, 10_000, e);
    assert.equal(stop.icount, 2_000);
  });

  it('no hit in any stretch: it goes to `until`, or to the end of the recording', async () => {
    const e = fakeEngine(0, 10_000, []);
    assert.deepEqual(await continueByIndex([{ from: 500, to: 1_000 }], bp, 5_000, e), { kind: 'time', icount: 5_000 });
    assert.deepEqual(e.log, ['go 500', 'run 500-1000 arrived', 'go 5000']);
    const f = fakeEngine(0, 10_000, []);
    assert.deepEqual(await continueByIndex([], bp, 10_000, f), { kind: 'end', icount: 10_000 });
  });

  it('watching writes, each stretch runs one instruction past its end (a write by its last instruction triggers there)', async () => {
    const e = fakeEngine(0, 10_000, []);
    await continueByIndex([{ from: 0, to: 1_000 }], { watchpoints: [{ address: 0x2000n, size: 4, access: 'write' }] }, 10_000, e);
    assert.equal(e.log[0], 'run 0-1001');
  });

  it('cancelled: it stops where it is', async () => {
    const ac = new AbortController();
    const e = fakeEngine(0, 10_000, []);
    const run = e.run;
    e.run = async (o) => {
      const r = await run(o);
      ac.abort();
      return r;
    };
    const stop = await continueByIndex([{ from: 0, to: 1_000 }, { from: 5_000, to: 6_000 }], { ...bp, signal: ac.signal }, 10_000, e);
    assert.deepEqual(stop, { kind: 'time', icount: 1_000 });
    assert.deepEqual(e.log, ['run 0-1000']);
  });

  it('cancelled while going to a stretch: it stops where the going got, without running there', async () => {
    const cancel = new AbortController();
    const e = fakeEngine(0, 10_000, [5_500], { at: 3_000, cancel });
    const stop = await continueByIndex([{ from: 5_000, to: 6_000 }], { ...bp, signal: cancel.signal }, 10_000, e);
    assert.deepEqual(stop, { kind: 'time', icount: 3_000 });
    assert.deepEqual(e.log, ['go 5000']);
  });
});
