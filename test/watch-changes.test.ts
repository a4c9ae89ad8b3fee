/**
 * The change filter of write watchpoints (recorder-bridge/src/replay/watch-changes.ts) over a fake
 * memory: what it calls a trigger. Against the real engine: index-queries.test.ts ("a watch for
 * changes") and, through gdb's `watch`, gdb-relay.test.ts and dap.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChangeFilter } from '../recorder-bridge/src/replay/watch-changes';
import type { Watchpoint } from '../recorder-bridge/src/replay/worker-types';

/** Memory of 16 bytes at 0x1000; reads elsewhere fail, as an unmapped address does. */
function memory(): { bytes: Buffer; read: (address: bigint, length: number) => Promise<Buffer> } {
  const bytes = Buffer.alloc(16);
  return {
    bytes,
    read: async (address, length) => {
      const off = Number(address - 0x1000n);
      if (off < 0 || off + length > bytes.length) throw new Error('unmapped');
      return Buffer.from(bytes.subarray(off, off + length));
    },
  };
}

describe('watch for changes', () => {
  const changing: Watchpoint = { address: 0x1000n, size: 4, access: 'write', changes: true };

  it('is no filter without a changes watchpoint', async () => {
    const m = memory();
    assert.equal(await ChangeFilter.start([{ address: 0x1000n, size: 4, access: 'write' }], m.read), undefined);
    // Only write watchpoints watch for changes.
    assert.equal(await ChangeFilter.start([{ address: 0x1000n, size: 4, access: 'readWrite', changes: true }], m.read), undefined);
  });

  it('triggers where the bytes changed since the run started or the last report, and not where a write kept them', async () => {
    const m = memory();
    const f = (await ChangeFilter.start([changing], m.read))!;
    assert.equal(await f.triggers(0x1000n), false, 'nothing changed');
    m.bytes[2] = 7;
    assert.equal(await f.triggers(0x1002n), true, 'a byte changed');
    assert.equal(await f.triggers(0x1002n), false, 'the same value written again');
    m.bytes[2] = 0;
    assert.equal(await f.triggers(0x1000n), true, 'changed back');
    m.bytes[8] = 1;
    assert.equal(await f.triggers(0x1008n), false, 'a byte outside the watched ones (a report for the page) is no change');
  });

  it('triggers when the bytes cannot be read (gdb then decides), and for a plain watchpoint beside it', async () => {
    const m = memory();
    const unmapped: Watchpoint = { address: 0x2000n, size: 8, access: 'write', changes: true };
    const f = (await ChangeFilter.start([unmapped], m.read))!;
    assert.equal(await f.triggers(0x2000n), true);
    const plain: Watchpoint = { address: 0x1008n, size: 4, access: 'write' };
    const g = (await ChangeFilter.start([changing, plain], m.read))!;
    assert.equal(await g.triggers(0x1008n), true, 'every write of the plain watchpoint counts');
    assert.equal(await g.triggers(0x1000n), false, 'the changes watchpoint kept its bytes');
  });
});
