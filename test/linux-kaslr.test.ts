/**
 * KASLR (issue 14): the Linux fixture's kernel and workload recorded with `--kaslr`, the kernel at a
 * random offset from its vmlinux's link addresses. `rewind info` says KASLR is on and, with the
 * vmlinux, the offset; the debugger finds the same offset, loads the symbols there (all but the
 * per-CPU section), and the Linux tests' central checks hold: a breakpoint on ksys_write stops in
 * dd's write with its arguments and source line, the current task is dd, a global's value is the
 * Linux scope's, a reverse watchpoint lands in the code that writes it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InfoJson } from '@rewind/protocol';
import { KASLR_ALIGN, KASLR_RANGE } from '../recorder-bridge/src/replay/kaslr-offset';
import { runRewind } from './helpers';
import { symbolTable } from './support/elf';
import { useLinuxVariant } from './linux-session';
import { WRITE_BYTES } from './linux-fixture';

describe('a Linux recording with KASLR on', { timeout: 1_200_000 }, () => {
  const variant = useLinuxVariant('kaslr', { kaslr: true });
  const c = variant.c;

  let offset: bigint;

  it('rewind info says KASLR is on, and with the vmlinux finds the offset', async (t) => {
    if (variant.skip()) return t.skip(variant.skip());
    const fixture = variant.fixture();
    const bundle = variant.bundle();
    const plain = await runRewind(['info', bundle, '--json']);
    assert.equal(plain.code, 0, plain.stderr);
    const info = JSON.parse(plain.stdout) as InfoJson;
    assert.deepEqual(info.kaslr, { on: true });
    assert.doesNotMatch(info.append, /nokaslr/);
    const found = await runRewind(['info', bundle, '--vmlinux', fixture.vmlinux], { timeoutMs: 300_000 });
    assert.equal(found.code, 0, found.stderr);
    const m = /^kaslr\s+on, offset (0x[0-9a-f]+):/m.exec(found.stdout);
    assert.ok(m, found.stdout);
    offset = BigInt(m[1]!);
    assert.equal(offset % KASLR_ALIGN, 0n);
    assert.ok(offset < KASLR_RANGE);
    t.diagnostic(`KASLR offset ${m[1]}`);
    // The fixture's own recording: off.
    assert.match((await runRewind(['info', fixture.bundle])).stdout, /^kaslr\s+off \(nokaslr\)/m);
  });

  it('the debugger loads the symbols at the offset: breakpoints, stack, arguments, the current task, globals', async (t) => {
    if (variant.skip()) return t.skip(variant.skip());
    const fixture = variant.fixture();
    const bundle = variant.bundle();
    const first = await c.launch({ recording: bundle, symbols: [fixture.vmlinux] }, async () => {
      const bps = (await c.dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'ksys_write', condition: `count == ${WRITE_BYTES}` }] })).body.breakpoints;
      assert.equal(bps[0]!.verified, true, bps[0]!.message);
    });
    assert.equal(first.reason, 'function breakpoint', first.description);
    assert.match(first.frames[0]!, /^ksys_write read_write\.c:\d+$/);
    assert.ok(c.output.some((o) => o.includes(`KASLR is on in this recording: the kernel runs 0x${offset.toString(16)} above`)), c.output.join(''));
    // The pc is the function's link address moved by the offset.
    const linked = symbolTable(fixture.vmlinux).get('ksys_write')!.address;
    const pc = BigInt(/0x[0-9a-f]+/.exec(await c.evaluate('$pc'))![0]);
    assert.ok(pc >= linked + offset && pc < linked + offset + 0x100n, `pc ${pc.toString(16)}, ksys_write linked at ${linked.toString(16)}`);
    const args = new Map([...(await c.scope('Arguments')).entries()].map(([k, v]) => [k, v.value]));
    assert.equal(args.get('count'), String(WRITE_BYTES));
    // The per-CPU current_task (not moved by the offset) names dd.
    const threads = (await c.dc.threadsRequest()).body.threads;
    assert.match(threads[0]!.name, /^CPU 0 · dd \[\d+\] \(kernel\)$/);
    const linux = new Map([...(await c.scope('Linux')).entries()].map(([k, v]) => [k, v.value]));
    assert.equal(linux.get('comm'), '"dd"');
    // A global (moved by the offset) reads as the Linux scope reads it.
    assert.equal(Number(await c.evaluate('jiffies_64')), Number(linux.get('jiffies')));
    // A reverse watchpoint on it lands in the tick code.
    const frame = (await c.stack())[0]!;
    const info = (await c.dc.dataBreakpointInfoRequest({ name: 'jiffies_64', frameId: frame.id })).body;
    assert.ok(info.dataId, info.description);
    await c.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId!, accessType: 'write' }] });
    const s = await c.run(() => c.dc.send('reverseContinue', { threadId: 1 }));
    assert.equal(s.reason, 'data breakpoint', s.description);
    assert.ok(s.frames.slice(0, 3).some((f) => /^(do_timer|tick_do_update_jiffies64|tick_periodic) /.test(f)), s.frames.join(' < '));
  });
});
