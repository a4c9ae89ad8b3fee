/**
 * Probe replays (replay/probe-scan.ts, native/rewind-probe.c) against gdbstub scans, on one demo
 * recording through the real engine and Rewind's QEMU: all hits of code addresses (rare, middling,
 * frequent, function entries) without an index, and all writes of variables with their values
 * before and after with the index, must be equal hit for hit: time point, pc, watched address,
 * bytes. The probe's time points come from the patched QEMU's icount read inside a block
 * (patches/qemu/0004); its pc after a write that ends its block, from the next block. Also: probe
 * blanks (processes launched ahead with the plugin waiting for a query), and a gdbstub watch on the
 * stack where the CPU pushes interrupt frames (patches/qemu/0005).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ReplayEngine, type Hit } from '../recorder-bridge/src/replay/engine';
import { probeFor } from '../recorder-bridge/src/replay/probe-plugin';
import { DEMO_KERNEL, requireDemoKernel, runRewind, tempDir } from './helpers';
import { symbolTable } from './support/elf';
import { prng } from './support/prng';
import { qemuProcessesMentioning } from './support/procs';

const HANG_MS = 15_000;
const SEED = 1207;

const show = (h: Hit) => ({ ...h, address: `0x${h.address.toString(16)}`, dataAddress: h.dataAddress && `0x${h.dataAddress.toString(16)}`, before: h.before?.toString('hex'), value: h.value?.toString('hex') });

describe('probe replays', { timeout: 900_000 }, () => {
  const dir = tempDir(after);
  const path = join(dir, 'p.rewind');
  let gdbstub: ReplayEngine | undefined;
  /** With the index (write probes need it) and without. */
  let probe: ReplayEngine | undefined;
  let probeOnly: ReplayEngine | undefined;
  const random = prng(SEED);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;

  before(async () => {
    requireDemoKernel();
    assert.ok(probeFor('qemu-system-x86_64'), "the probe plugin and Rewind's QEMU are built (npm run setup)");
    const script = join(dir, 'in.txt');
    await fs.writeFile(script, 'expect ready\nexpect > \nsend hello\\n\nexpect hello, world\nexpect > \nsend work 3\\n\nexpect work done\nexpect > \nsend set name abcdefghij\\n\nexpect > \nsend ticks\\n\nexpect ticks: \nexpect > \nsend poweroff\\n\n');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', path, '--snapshot-every', '5M', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    gdbstub = await ReplayEngine.open(path, { index: 'off', probe: 'off', hangTimeoutMs: HANG_MS });
    const ix = await runRewind(['index', path]);
    assert.equal(ix.code, 0, ix.stderr);
    probe = await ReplayEngine.open(path, { index: 'use', probe: 'always', hangTimeoutMs: HANG_MS });
    probeOnly = await ReplayEngine.open(path, { index: 'off', probe: 'always', hangTimeoutMs: HANG_MS });
    assert.equal(probe.indexing.status.state, 'ready', JSON.stringify(probe.indexing.status));
  });

  after(async () => {
    await gdbstub?.close();
    await probe?.close();
    await probeOnly?.close();
    assert.deepEqual(await qemuProcessesMentioning(dir), [], 'replay processes left behind');
  });

  /** Runs `query` on the probe engine; returns its hits and how many slices it scanned by probe replays and with the gdbstub. */
  async function probed(engine: ReplayEngine, query: (e: ReplayEngine) => Promise<Hit[]>): Promise<{ hits: Hit[]; probes: number; gdbstub: number }> {
    let probes = 0;
    let gdb = 0;
    const stop = engine.observe((ev) => {
      if (ev.type === 'slice-scanned') ev.probe ? probes++ : gdb++;
    });
    const hits = await query(engine).finally(stop);
    return { hits, probes, gdbstub: gdb };
  }

  it('all hits of code addresses equal the gdbstub\'s, each at the same time point', async () => {
    const kernelStart = [...symbolTable(DEMO_KERNEL).values()].reduce((m, s) => (s.address > 0n && s.address < m ? s.address : m), 1n << 64n);
    const totals = [...probe!.indexing.index!.totals()].filter(([a, n]) => a >= kernelStart && n <= 5000);
    const entries = new Set([...symbolTable(DEMO_KERNEL).values()].map((s) => s.address));
    const groups = [totals.filter(([, n]) => n <= 3), totals.filter(([, n]) => n > 3 && n <= 100), totals.filter(([, n]) => n > 100), totals.filter(([a]) => entries.has(a))];
    let probeScans = 0;
    for (const group of groups) {
      for (let i = 0; i < 3 && group.length > 0; i++) {
        const [address, count] = pick(group);
        const want = await gdbstub!.hits(address);
        assert.equal(want.length, count, `the gdbstub's hits of 0x${address.toString(16)} are the index's count`);
        // Without the index: every slice by a probe replay.
        const { hits, probes, gdbstub: gdb } = await probed(probeOnly!, (e) => e.hits(address));
        assert.deepEqual(hits.map(show), want.map(show), `hits of 0x${address.toString(16)}`);
        assert.equal(gdb, 0, 'without the index, hits are scanned by probe replays only');
        probeScans += probes;
        // By the index: each slice's candidate buckets by a probe replay.
        const indexed = await probed(probe!, (e) => e.hits(address));
        assert.deepEqual(indexed.hits.map(show), want.map(show), `hits of 0x${address.toString(16)} by the index`);
        assert.equal(indexed.gdbstub, 0, 'with the index too, by probe replays only');
      }
    }
    assert.ok(probeScans > 0, 'some scans were probe replays');
  });

  it('all writes of variables equal the gdbstub\'s, with the pc after each and the values before and after', async () => {
    const t = symbolTable(DEMO_KERNEL);
    // Often written (rx_head, by the serial interrupt; the tick counters), rarely (the shell's line,
    // work_hash), not at all here (cfg). Not the stack: neither plugin sees the frames the CPU
    // pushes there for interrupts (the next test watches it with the gdbstub).
    const names = ['rx_head', 'isr_ticks', 'pending_ticks', 'ticks', 'work_hash', 'line_len', 'line', 'cfg', 'next_heartbeat'];
    let probeScans = 0;
    let writes = 0;
    for (const name of names) {
      const s = t.get(name)!;
      const v = { address: s.address, size: Math.max(1, Math.min(Number(s.size), 16)) };
      const sample = { address: v.address, length: v.size };
      const want = await gdbstub!.writes(v.address, v.size, { sample });
      const { hits, probes, gdbstub: gdb } = await probed(probe!, (e) => e.writes(v.address, v.size, { sample }));
      assert.deepEqual(hits.map(show), want.map(show), `writes of ${name}`);
      assert.equal(gdb, 0, `${name}: by probe replays only`);
      probeScans += probes;
      writes += want.length;
    }
    assert.ok(probeScans > 0 && writes > 50, `probe replays found writes (${writes} in ${probeScans} slices)`);
  });

  it('a write watch without the index, or a breakpoint with a stack filter, is scanned with the gdbstub', async () => {
    const s = symbolTable(DEMO_KERNEL).get('rx_head')!;
    const plain = await probed(probeOnly!, (e) => e.writes(s.address, 4));
    assert.ok(plain.gdbstub > 0 && plain.probes === 0, 'writes without the index: gdbstub scans');
    const entry = symbolTable(DEMO_KERNEL).get('config_set_name')!.address;
    const filtered = await probed(probeOnly!, (e) => e.hits({ address: entry, stack: { min: 0n } }));
    assert.ok(filtered.gdbstub > 0 && filtered.probes === 0, 'a stack filter: gdbstub scans');
  });

  it('after the first probe replay, probe replays start on blank processes launched ahead with the plugin waiting', async () => {
    const e = await ReplayEngine.open(path, { index: 'use', probe: 'always', hangTimeoutMs: HANG_MS });
    const background = e as unknown as { spare?: Promise<void> };
    const settle = async () => {
      while (background.spare) await background.spare;
    };
    try {
      const totals = [...e.indexing.index!.totals()].filter(([, n]) => n > 100 && n <= 5000);
      assert.ok(totals.length >= 2, 'code addresses run often enough');
      // A move first: an engine that stays at the start launches no blank process.
      await e.seek(Math.floor(e.end / 2));
      await settle();
      const normal = e.blankPids();
      const starts: boolean[] = [];
      let probes = 0;
      const stop = e.observe((ev) => {
        if (ev.type === 'worker-started') starts.push(ev.blank);
        if (ev.type === 'slice-scanned' && ev.probe) probes++;
      });
      try {
        const [first] = pick(totals);
        assert.deepEqual((await e.hits(first)).map(show), (await gdbstub!.hits(first)).map(show), 'the first probe query');
        assert.ok(probes > 0 && starts.length === probes && starts.every((b) => !b), `the first probe replays launch their processes (${starts.join(', ')})`);
        // The next move keeps probe blanks ready too.
        await e.seek(Math.floor(e.end / 3));
        await settle();
        assert.ok(e.blankPids().length > normal.length, `probe blanks beside the ${normal.length} others`);
        starts.length = 0;
        probes = 0;
        const [second] = pick(totals.filter(([a]) => a !== first));
        assert.deepEqual((await e.hits(second)).map(show), (await gdbstub!.hits(second)).map(show), 'a probe query on probe blanks');
        assert.ok(probes > 0 && starts.length === probes && starts.every((b) => b), `each probe replay placed a probe blank (${starts.join(', ')})`);
      } finally {
        stop();
      }
    } finally {
      await e.close();
    }
    assert.deepEqual(await qemuProcessesMentioning(e.workspaceDir), [], 'no probe blank outlives the engine');
  });

  it('a watch on the stack where interrupt frames are pushed reports each frame, and going back lands before it', async () => {
    // QEMU 7.2 failed its replay at the first such frame ("replay_advance_current_icount: diff >= 0");
    // patches/qemu/0005 reports the frame at the handler's first instruction, marked as a delivery.
    const t = symbolTable(DEMO_KERNEL);
    const stubs = new Set([...t].filter(([name]) => name.startsWith('isr_stub_')).map(([, sym]) => sym.address));
    const top = t.get('boot_stack_top')!.address;
    const range = { address: top - 0x100n, length: 0x100 };
    const writes = await gdbstub!.writes(range.address, range.length, { sample: range });
    const frames = writes.filter((h) => h.delivery);
    assert.ok(frames.length > 0 && frames.length < writes.length, `frames among the stack's writes (${frames.length} of ${writes.length})`);
    for (const h of frames) assert.ok(stubs.has(h.address), `frame at ${h.icount}: the pc after it is an interrupt stub's entry, not 0x${h.address.toString(16)}`);
    for (const h of writes.filter((x) => !x.delivery)) assert.ok(!stubs.has(h.address), `an instruction's write at ${h.icount} ends at no stub's entry`);
    // The state a seek gives at a frame's time point is before it; an instruction's is after it.
    const memoryAt = async (icount: number) => (await gdbstub!.seek(icount), await gdbstub!.readMemory(range.address, range.length));
    const changed = frames.filter((h) => h.before && h.value && !h.before.equals(h.value));
    assert.ok(changed.length > 0, 'some frame changes the watched bytes');
    for (const h of [pick(changed), pick(changed)]) assert.deepEqual(await memoryAt(h.icount), h.before, `a seek to frame ${h.icount} stands before it`);
    const instr = writes.filter((h) => !h.delivery && h.before && h.value && !h.before.equals(h.value) && h.icount > 0);
    for (const h of [pick(instr), pick(instr)]) {
      assert.deepEqual(await memoryAt(h.icount - 1), h.before, `a seek to just before write ${h.icount}`);
      assert.deepEqual(await memoryAt(h.icount), h.value, `a seek to write ${h.icount}`);
    }
    // Reverse continue and last write from after a frame land before it: watched on an 8-byte slot
    // it changed (the stub's own pushes, one instruction later, go below the frame).
    const frame = pick(changed);
    const offset = [...frame.value!].findIndex((b, i) => b !== frame.before![i]) & ~7;
    const slot = range.address + BigInt(offset);
    const slotWrites = await gdbstub!.writes(slot, 8);
    const i = slotWrites.findIndex((h) => h.icount === frame.icount);
    assert.ok(i >= 0 && slotWrites[i]!.delivery, `the frame at ${frame.icount} writes 0x${slot.toString(16)}`);
    const next = slotWrites[i + 1];
    const from = next ? next.icount - 1 : gdbstub!.end;
    assert.ok(from > frame.icount, 'a time point after the frame, before the next write');
    await gdbstub!.seek(from);
    const last = await gdbstub!.lastWrite(slot, 8);
    assert.equal(last?.icount, frame.icount, 'the last write is the frame');
    assert.equal(last?.delivery, true, 'marked as a frame');
    const stop = await gdbstub!.reverseContinue({ watchpoints: [{ address: slot, size: 8, access: 'write' }] });
    assert.equal(stop.icount, frame.icount, 'reverse continue lands at the frame\'s time point');
    assert.deepEqual(await gdbstub!.readMemory(slot, 8), frame.before!.subarray(offset, offset + 8), 'where the frame is not written yet');
  });
});
