/**
 * Finding a KASLR kernel's offset (recorder-bridge/src/replay/kaslr-offset.ts) against a fake
 * guest memory: the banner at its link address plus the offset, nowhere else readable; the
 * adapter's gdb commands that load the symbols there, the per-CPU section left at 0. The real
 * engine's side is test/linux-kaslr.test.ts (a recording made with --kaslr).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findKaslrOffset, KASLR_ALIGN, KASLR_RANGE, kaslrProbePoints } from '../recorder-bridge/src/replay/kaslr-offset';
import { kaslrSymbolCommands } from '../debug-adapter/src/kaslr';

const BANNER = { address: 0xffffffff8211ffe0n, text: 'Linux version 6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3\n' };

/** Guest memory where the kernel image was placed `offset` above its link address; `also` holds other readable bytes. */
function memory(offset: bigint, also: Array<[bigint, string]> = []): { read: (a: bigint, n: number) => Promise<Buffer | undefined>; reads: () => number } {
  let reads = 0;
  const spans: Array<[bigint, Buffer]> = [[BANNER.address + offset, Buffer.from(BANNER.text, 'latin1')], ...also.map(([a, t]): [bigint, Buffer] => [a, Buffer.from(t, 'latin1')])];
  return {
    reads: () => reads,
    read: async (a, n) => {
      reads++;
      for (const [at, b] of spans) if (a >= at && a + BigInt(n) <= at + BigInt(b.length)) return b.subarray(Number(a - at), Number(a - at) + n);
      return undefined; // unmapped
    },
  };
}

describe('the KASLR offset (kaslr-offset.ts)', () => {
  it('finds the offset the banner is at, among every multiple of 2 MiB below 1 GiB', async () => {
    for (const offset of [0n, KASLR_ALIGN, 0x1e000000n, KASLR_RANGE - KASLR_ALIGN]) {
      const m = memory(offset);
      assert.equal(await findKaslrOffset(m.read, BANNER), offset);
      assert.equal(m.reads(), Number(offset / KASLR_ALIGN) + 1, 'stops at the first match');
    }
  });

  it('takes only the banner itself: another build\'s, its copy in the kernel log, or the same bytes off the alignment do not count', async () => {
    const other = BANNER.text.replace('6.1.192-3', '6.1.192-2');
    const logged = BANNER.text.replace(/\n$/, 'more log text');
    const m = memory(0x1234000n, [
      [BANNER.address + 0x400000n, other],
      [BANNER.address + 0x600000n, logged],
    ]);
    assert.equal(await findKaslrOffset(m.read, BANNER), undefined, 'not at a multiple of 2 MiB, and the other banner differs');
    assert.equal(m.reads(), Number(KASLR_RANGE / KASLR_ALIGN));
  });

  it('looks at the end of the recording first, then earlier', () => {
    assert.deepEqual(kaslrProbePoints(1000), [1000, 900, 750, 500]);
  });

  it('loads the symbols at the offset, all but the per-CPU section', () => {
    assert.deepEqual(kaslrSymbolCommands('/v/vmlinux', 0x1e000000n), ['symbol-file', 'add-symbol-file "/v/vmlinux" -o 0x1e000000 -s .data..percpu 0']);
    assert.equal(kaslrSymbolCommands('/my builds/a"b\\vmlinux', 0x200000n)[1], 'add-symbol-file "/my builds/a\\"b\\\\vmlinux" -o 0x200000 -s .data..percpu 0');
  });
});
