/**
 * The index pass's even rule for extra snapshots (recorder-bridge/src/index/extra-snapshots.ts,
 * evenGaps): the budget's snapshots go where the stretches without one are longest.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evenGaps, MIN_EVEN_GAP } from '../recorder-bridge/src/index/extra-snapshots';

const M = 1_000_000;

describe('the even rule of extra snapshots', () => {
  it('shares the budget out to the longest slices first, each cut in equal parts', () => {
    // The Linux fixture's slices between its recorded snapshots.
    const bounds = [0, 201.8 * M, 407.4 * M, 629.1 * M, 869.1 * M, 1085.1 * M, 1305.1 * M, 1475.6 * M];
    const slices = bounds.slice(1).map((to, i) => ({ from: bounds[i]!, to }));
    const plan = evenGaps(slices, 5);
    assert.deepEqual([...plan.keys()], [201.8 * M, 407.4 * M, 629.1 * M, 869.1 * M, 1085.1 * M], 'the five longest slices get one each');
    for (const [from, g] of plan) {
      const s = slices.find((x) => x.from === from)!;
      assert.equal(g.count, 1);
      assert.equal(g.gap, Math.ceil((s.to - s.from) / 2), 'one snapshot halves its slice');
    }
    const more = evenGaps(slices, 14);
    assert.equal([...more.values()].reduce((n, g) => n + g.count, 0), 14);
    const longest = Math.max(...slices.map((s) => (s.to - s.from) / ((more.get(s.from)?.count ?? 0) + 1)));
    assert.ok(longest <= 121 * M, `with 14 the longest stretch is ${longest}`);
  });

  it('plans nothing closer than MIN_EVEN_GAP, and nothing without a budget', () => {
    const slices = [{ from: 0, to: 60 * M }, { from: 60 * M, to: 2 * MIN_EVEN_GAP + 60 * M }];
    const plan = evenGaps(slices, 10);
    assert.deepEqual([...plan.entries()], [[60 * M, { count: 1, gap: MIN_EVEN_GAP }]]);
    assert.equal(evenGaps(slices, 0).size, 0);
    assert.equal(evenGaps([], 3).size, 0);
  });
});
