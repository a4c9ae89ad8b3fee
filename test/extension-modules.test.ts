/**
 * The Modules view's model (extension/novsc/modules.ts), plain Node: DAP `modules` (as the adapter
 * answers it for a Linux guest, debug-adapter/src/linux/module-symbols.ts dapModule) as rows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { moduleRows, modulesSummary } from '../extension/novsc/modules';
import { dapModule } from '../debug-adapter/src/linux/module-symbols';

const withSymbols = dapModule({
  name: 'rewind_demo',
  state: 0,
  base: '0xffffffffc04d4000',
  size: 0x3000,
  sections: { '.text': '0xffffffffc04d4000' },
  buildId: '044a9ba3',
  id: 'rewind_demo@0xffffffffc04d4000',
  file: '/build/rewind_demo.ko',
});
const without = dapModule({ name: 'virtio_net', state: 0, base: '0xffffffffc0100000', size: 0x8000, sections: { '.text': '0xffffffffc0100000' }, id: 'virtio_net@0xffffffffc0100000', why: 'no virtio_net.ko in /lib/modules/6.1' });

describe('the Modules view model', () => {
  it('shows each load with its address, its .ko and build-id, and which have no symbols (and why)', () => {
    const rows = moduleRows([withSymbols, without]);
    assert.deepEqual(
      rows.map((r) => [r.id, r.label, r.description, r.symbols]),
      [
        ['module-rewind_demo@0xffffffffc04d4000', 'rewind_demo', '0xffffffffc04d4000', true],
        ['module-virtio_net@0xffffffffc0100000', 'virtio_net', '0xffffffffc0100000 · no symbols', false],
      ],
    );
    assert.equal(rows[0]!.tooltip, 'rewind_demo at 0xffffffffc04d4000-0xffffffffc04d7000\nSymbols loaded.\n/build/rewind_demo.ko\nbuild-id 044a9ba3');
    assert.equal(rows[1]!.tooltip, 'virtio_net at 0xffffffffc0100000-0xffffffffc0108000\nNo symbols: no virtio_net.ko in /lib/modules/6.1');
  });

  it('says how many modules, where, and what to do about those without symbols; or why there are none', () => {
    assert.equal(modulesSummary([withSymbols], 1234), '1 module at icount 1234');
    assert.equal(modulesSummary([withSymbols, without], 5), '2 modules at icount 5; 1 without symbols: add their build folders to "moduleFolders"');
    assert.equal(modulesSummary([], undefined), 'No loadable modules (a Linux guest\'s show here while they are loaded)');
  });
});
