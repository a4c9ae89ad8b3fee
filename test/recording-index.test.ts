/**
 * recorder-bridge/src/index/recording-index.ts on a plugin output written here: kernel addresses
 * (above 2^63, kept as two 32-bit halves), one address against many (countsOf, countsOfMany),
 * the buckets where code ran or memory was written, counts over a range of addresses, totals. The
 * real engine's side (counts equal to a replay's hits) is in index-queries.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GRAIN_SHIFT } from '../recorder-bridge/src/index/plugin-output';
import { RecordingIndex } from '../recorder-bridge/src/index/recording-index';
import { clip, mergeAdjacent } from '../recorder-bridge/src/replay/candidate-runs';
import { pluginOutput } from './support/plugin-output';

const K = 0xffffffff81000000n; // a kernel text address: above 2^63
const U = 0x401000n; // a user one
const ix = RecordingIndex.fromSlices(
  [
    {
      spans: [
        [0, 100],
        [100, 200],
      ],
      output: pluginOutput([{ counts: [[K, 3], [K + 0x10n, 1], [U, 7]] }, { counts: [[K + 0x10n, 2], [0xffffffffffffff00n, 5]], grains: [[(K + 0x2000n) >> GRAIN_SHIFT, Number(0x10n >> GRAIN_SHIFT)]] }]),
    },
    { spans: [[200, 300]], output: pluginOutput([{ counts: [[K, 4], [U + 4n, 1]], grains: [[(K + 0x3004n) >> GRAIN_SHIFT, 1]] }]) },
  ],
  'test index',
);

describe('the recording index in memory (recording-index.ts)', () => {
  it('counts a kernel address per bucket, one at a time or many in one walk, the same', () => {
    assert.deepEqual(ix.countsOf(K), [
      { from: 0, to: 100, count: 3 },
      { from: 200, to: 300, count: 4 },
    ]);
    const query = [K + 0x10n, K, U, U + 4n, 0xffffffffffffff00n, K + 0x8n, K];
    const many = ix.countsOfMany(query);
    assert.equal(many.size, 6, 'each address once');
    for (const a of query) assert.deepEqual(many.get(a), ix.countsOf(a), `0x${a.toString(16)}`);
    assert.deepEqual(many.get(K + 0x8n), [], 'an address that never ran');
    // A range: only the buckets overlapping it.
    assert.deepEqual(ix.countsOfMany([K], 150, 300).get(K), [{ from: 200, to: 300, count: 4 }]);
  });

  it('finds the buckets where code ran or a grain was written', () => {
    assert.deepEqual(ix.executing([K + 0x10n], 0, 300), [
      { from: 0, to: 100 },
      { from: 100, to: 200 },
    ]);
    assert.deepEqual(ix.executing([0xffffffffffffff00n, U + 4n], 0, 300), [
      { from: 100, to: 200 },
      { from: 200, to: 300 },
    ]);
    // Grains [K + 0x2000, K + 0x2010) were written.
    assert.deepEqual(ix.writing(K + 0x2008n, 8, 0, 300), [{ from: 100, to: 200 }]);
    assert.deepEqual(ix.writing(K + 0x200fn, 1, 0, 300), [{ from: 100, to: 200 }]);
    assert.deepEqual(ix.writing(K + 0x1ff8n, 9, 0, 300), [{ from: 100, to: 200 }], 'a range reaching into a written grain');
    assert.deepEqual(ix.writing(K + 0x1ff8n, 8, 0, 300), [], 'the grain before');
    assert.deepEqual(ix.writing(K + 0x2010n, 8, 0, 300), [], 'the grain after (in the same 64-byte line)');
    // A 4-byte store at K + 0x3004: the 4-byte variable beside it (a spinlock next to an int) was not written.
    assert.deepEqual(ix.writing(K + 0x3000n, 4, 0, 300), [], 'the 4 bytes before a 4-byte store, in the same 8-byte word');
    assert.deepEqual(ix.writing(K + 0x3004n, 4, 0, 300), [{ from: 200, to: 300 }]);
    assert.deepEqual(ix.writing(K + 0x3000n, 8, 0, 300), [{ from: 200, to: 300 }], 'the 8-byte word holding it');
  });

  it('sums a range of addresses, and the totals of the whole index', () => {
    assert.deepEqual(
      [...ix.countsInRange(K, K + 0x100n, 0, 150)].sort(),
      [
        [K, 3],
        [K + 0x10n, 3],
      ],
    );
    const totals = ix.totals();
    assert.equal(totals.get(K), 7);
    assert.equal(totals.get(0xffffffffffffff00n), 5);
    assert.equal(totals.get(U), 7);
    assert.deepEqual(ix.countsInRange(0n, 0x1000000n), new Map([[U, 7], [U + 4n, 1]]));
  });
});

describe('candidate runs (candidate-runs.ts)', () => {
  it('joins adjacent buckets into runs, and clips runs to a slice', () => {
    const spans = [
      { from: 0, to: 10 },
      { from: 10, to: 20 },
      { from: 25, to: 30 },
      { from: 60, to: 70 },
    ];
    assert.deepEqual(mergeAdjacent(spans), [{ from: 0, to: 20 }, { from: 25, to: 30 }, { from: 60, to: 70 }]);
    assert.deepEqual(spans[0], { from: 0, to: 10 }, 'the input is left as it was');
    assert.deepEqual(clip(mergeAdjacent(spans), 15, 65), [{ from: 15, to: 20 }, { from: 25, to: 30 }, { from: 60, to: 65 }]);
  });
});
