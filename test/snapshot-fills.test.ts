/**
 * Where a new recording's verification adds snapshots to fill gaps (record/verify-snapshots.ts):
 * no two kept snapshots more than twice the interval apart, within the fill budget. Under load the
 * recorder takes few snapshots of its own (CI once saw 2 in a 68.7M-instruction recording asked for
 * one every 1M: 65 fills were needed, and the old fixed budget of 64 widened the spacing to 2M:
 * gaps of 3.7M).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fillBudget, MAX_ADDED_BYTES, planFills } from '../recorder-bridge/src/record/verify-snapshots';
import { QuietPoints } from '../recorder-bridge/src/replay/quiet-points';

const M = 1_000_000;
const DEMO_STATE = 800_000;

function maxGap(points: number[]): number {
  const s = [...points].sort((a, b) => a - b);
  return Math.max(...s.slice(1).map((b, i) => b - s[i]!));
}

describe('snapshots that fill gaps', () => {
  it('budget what the interval asks for over the recording, 64 to 128, within the state budget', () => {
    assert.equal(fillBudget(68 * M, M, DEMO_STATE), 68);
    assert.equal(fillBudget(5.7 * M, M, DEMO_STATE), 64);
    assert.equal(fillBudget(608 * M, 2 * M, DEMO_STATE), 128, 'each fill costs a verification replay');
    assert.equal(fillBudget(1.5e9, 200 * M, 76 * 2 ** 20), Math.floor(MAX_ADDED_BYTES / (76 * 2 ** 20)));
    assert.equal(fillBudget(1e9, 1, 2 * MAX_ADDED_BYTES), 1);
  });

  it('close every gap to at most twice the interval when the recorder took few snapshots (CI, under load)', () => {
    // The CI recording's own snapshots: init, s1 at the prompt, s2; 65 fills needed at 1M.
    const end = 68_694_618;
    const kept = [0, 5_681_707, 23_685_608, end];
    const quiet = new QuietPoints([]);
    const fills = planFills(kept, M, fillBudget(end, M, DEMO_STATE), quiet, end);
    assert.ok(fills.length <= fillBudget(end, M, DEMO_STATE), `${fills.length} fills`);
    assert.ok(maxGap([...kept, ...fills]) <= 2 * M, `a gap of ${maxGap([...kept, ...fills])}`);
    assert.ok(fills.every((t) => t > 0 && t < end));
  });

  it('move a fill off a busy time point to the first quiet one after it, never lengthening the gap behind it past twice the interval', () => {
    const end = 10 * M;
    // Events at every nominal fill point and the 50 instructions after it.
    const busy = Array.from({ length: 9 }, (_, k) => (k + 1) * M).flatMap((t) => Array.from({ length: 50 }, (_, j) => t + j));
    const quiet = new QuietPoints(busy);
    const fills = planFills([0, end], M, 64, quiet, end);
    assert.ok(fills.length > 0 && fills.every((t) => quiet.isQuiet(t)), fills.join(' '));
    assert.ok(maxGap([0, end, ...fills]) <= 2 * M, `a gap of ${maxGap([0, end, ...fills])}`);
  });

  it('widen the spacing by quarters, not by doubling, when the state budget is short', () => {
    const end = 1.5e9;
    const fills = planFills([0, end], 10 * M, 14, new QuietPoints([]), end);
    assert.ok(fills.length <= 14, `${fills.length} fills over a budget of 14`);
    assert.ok(fills.length >= 10, `only ${fills.length} fills of 14 allowed: the spacing grew too far`);
  });
});
