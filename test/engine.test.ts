/**
 * The replay engine against real QEMU on a real demo-guest recording with several snapshots:
 * random seeks, fidelity against a straight forward replay, reverse steps at slice boundaries,
 * reverse continue, hits, last write, and recovery from a killed replay process.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import { FAR_SPARES } from '../recorder-bridge/src/replay/spare-parking';
import { ReplayWorker } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { DEMO_KERNEL, recordLongComputation, requireDemoKernel, runRewind, tempDir } from './helpers';
import { symbolAddress } from './support/elf';
import { prng } from './support/prng';
import { qemuProcessesMentioning } from './support/procs';

interface State {
  regs: string;
  memory: string;
}

/**
 * The guest memory compared: the kernel's image, data, bss, stack and page tables (everything the
 * demo guest uses). The bytes just past it belong to QEMU's multiboot loader, which writes them anew
 * in every process; the guest never reads them, so they differ between replay processes.
 */
const MEMORY_START = 0x100000n;
let memoryLength = 0;

async function stateOf(read: { registers(): Promise<Record<string, bigint>>; readMemory(a: bigint, n: number): Promise<Buffer> }): Promise<State> {
  const r = await read.registers();
  return {
    regs: Object.entries(r).map(([k, v]) => `${k}=${v.toString(16)}`).join(' '),
    memory: createHash('sha256').update(await read.readMemory(MEMORY_START, memoryLength)).digest('hex'),
  };
}

describe('replay engine', { timeout: 900_000 }, () => {
  const dir = tempDir(after);
  let bundlePath: string;
  let engine: ReplayEngine;
  let kernel: string;

  before(async () => {
    requireDemoKernel();
    bundlePath = join(dir, 'engine.rewind');
    const script = join(dir, 'in.txt');
    // Output, a long computation (so that snapshots fall inside it), more output, power-off.
    await fs.writeFile(script, 'expect ready\nexpect > \nsend hello\\n\nexpect hello, world\nexpect > \nsend spin 30\\n\nexpect spin done\nexpect > \nsend hello\\n\nexpect hello, world\nexpect > \nsend poweroff\\n\n');
    const r = await runRewind(['record', '--kernel', DEMO_KERNEL, '--input', script, '--out', bundlePath, '--snapshot-every', '20M', '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    kernel = join(bundlePath, 'guest', 'kernel');
    memoryLength = Number(symbolAddress(kernel, '_bss_end') - MEMORY_START);
    engine = await ReplayEngine.open(bundlePath);
    assert.ok(engine.snapshots().length >= 3, `need several snapshots, got ${engine.snapshots().map((s) => s.name)}`);
  });

  after(async () => {
    await engine?.close();
    assert.deepEqual(await qemuProcessesMentioning(dir), [], 'replay processes left behind');
  });

  it('seeks forward and backward 120 times in random order, across slices', { timeout: 600_000 }, async () => {
    const rand = prng(42);
    const snaps = engine.snapshots().map((s) => s.icount);
    for (let i = 0; i < 120; i++) {
      // Half the targets near a snapshot boundary, half anywhere.
      const t = i % 2 === 0 ? Math.floor(rand() * engine.end) : Math.max(0, snaps[Math.floor(rand() * snaps.length)]! + Math.floor(rand() * 2000) - 1000);
      const at = await engine.seek(t);
      assert.equal(at, Math.min(t, engine.end));
    }
  });

  it('lands in the same state as a straight forward replay, at 50 random time points', { timeout: 600_000 }, async () => {
    const rand = prng(7);
    const targets = Array.from({ length: 50 }, () => Math.floor(rand() * engine.end));
    // Ground truth: one process from the initial snapshot, forward only, through the sorted targets.
    const bundle = await Bundle.open(bundlePath);
    const ws = await ReplayWorkspace.create(bundle);
    const truth = new Map<number, State>();
    const straight = await ReplayWorker.start(bundle, ws, { ...engine.snapshots()[0]!, image: ws.snapshots, source: 'record' }, engine.end);
    try {
      for (const t of [...targets].sort((a, b) => a - b)) {
        await straight.runTo(t);
        truth.set(t, await stateOf(straight));
      }
    } finally {
      await straight.kill();
      await ws.dispose();
    }
    let mismatches = 0;
    for (const t of targets) {
      await engine.seek(t);
      const s = await stateOf(engine);
      if (s.regs !== truth.get(t)!.regs || s.memory !== truth.get(t)!.memory) mismatches++;
    }
    assert.equal(mismatches, 0);
  });

  it('starts from a recorded snapshot on a blank process launched ahead (after the first move), and launches another after the move', async () => {
    const e2 = await ReplayEngine.open(bundlePath, { maxLadderSnapshots: 0, spares: 0, blanks: 2 });
    try {
      const ready = async (n: number, without: number[] = []) => {
        for (let i = 0; i < 600 && (e2.blankPids().length !== n || e2.blankPids().some((p) => without.includes(p))); i++) await new Promise((r) => setTimeout(r, 100));
        return e2.blankPids();
      };
      await new Promise((r) => setTimeout(r, 2000));
      assert.deepEqual(e2.blankPids(), [], 'an engine that stays at the start launches none');
      await e2.seek(1000);
      const blanks = await ready(2);
      assert.equal(blanks.length, 2, 'two blank processes launched after the first move');
      const started: Array<number | undefined> = [];
      const stop = e2.observe((ev) => {
        if (ev.type === 'worker-started') started.push(ev.pid);
      });
      const last = e2.snapshots()[e2.snapshots().length - 1]!;
      assert.ok(last.icount > 0);
      const target = last.icount + 5000;
      await e2.seek(target);
      stop();
      assert.deepEqual(started, [blanks[0]], 'the seek placed the first blank process at the snapshot instead of launching one');
      await engine.seek(target);
      assert.deepEqual(await stateOf(e2), await stateOf(engine), 'the same state as a process launched for the seek');
      const again = await ready(2, [blanks[0]!]);
      assert.equal(again.length, 2, 'a new blank process replaces the one used');
      assert.ok(!again.includes(blanks[0]!));
    } finally {
      await e2.close();
    }
    assert.deepEqual(await qemuProcessesMentioning(e2.workspaceDir), [], 'no blank process outlives the engine');
  });

  it('parks spares a few million instructions back after a move, and a move there starts from one, not from a snapshot', async () => {
    const near = FAR_SPARES[0]!;
    const t0s = engine.snapshots().map((x) => x.icount);
    // A stretch between two recorded snapshots (20M apart) with room for the spares 4M back.
    const base = t0s.find((a, i) => i + 1 < t0s.length && t0s[i + 1]! - a > near.distance + 10_000_000)!;
    assert.ok(base !== undefined, `two snapshots far enough apart: ${t0s.join(' ')}`);
    const t = base + near.distance + 8_000_000;
    // No anchors: the near spares wait at the recorded snapshot, and only the far ones stand between.
    const e3 = await ReplayEngine.open(bundlePath, { maxLadderSnapshots: 0, blanks: 0 });
    try {
      await e3.seek(t);
      const background = e3 as unknown as { spare?: Promise<void> };
      while (background.spare) await background.spare;
      const events: string[] = [];
      const stop = e3.observe((ev) => {
        if (ev.type === 'worker-started') events.push(`started at ${ev.snapshot}`);
        if (ev.type === 'run') events.push(`run from ${ev.from} to ${ev.to}`);
      });
      const back = t - near.distance + 1_000_000;
      await e3.seek(back);
      stop();
      assert.deepEqual(events, [`run from ${t - near.distance} to ${back}`], 'the seek went from a far spare');
      await engine.seek(back);
      assert.deepEqual(await stateOf(e3), await stateOf(engine), 'the same state as a process that came from the snapshot');
    } finally {
      await e3.close();
    }
  });

  it('steps back one instruction at slice boundaries', async () => {
    for (const snap of engine.snapshots().slice(1)) {
      await engine.seek(snap.icount);
      const at = await engine.reverseStepi();
      assert.equal(at, snap.icount - 1);
      const back = await stateOf(engine);
      // The same point reached forward from the previous instruction's neighbour.
      await engine.seek(snap.icount - 2);
      await engine.stepi();
      assert.equal(engine.icount, snap.icount - 1);
      assert.deepEqual(await stateOf(engine), back);
    }
    await engine.seek(0);
    assert.equal(await engine.reverseStepi(), 0, 'the start of the recording is a wall');
  });

  it('finds every hit of an address, and reverse-continues to the last one before now', async () => {
    const putc = symbolAddress(kernel, 'serial_putc');
    const hits = await engine.hits(putc);
    // The slice-parallel query finds exactly what one straight replay through everything finds.
    const bundle = await Bundle.open(bundlePath);
    const ws = await ReplayWorkspace.create(bundle);
    const straight = await ReplayWorker.start(bundle, ws, { ...engine.snapshots()[0]!, image: ws.snapshots, source: 'record' }, engine.end);
    const expected: number[] = [];
    try {
      for (;;) {
        const stop = await straight.run({ breakpoints: [{ address: putc }] });
        if (stop.kind !== 'breakpoint') break;
        expected.push(stop.icount);
      }
    } finally {
      await straight.kill();
      await ws.dispose();
    }
    assert.deepEqual(hits.map((h) => h.icount), expected);
    const printedLines = (await fs.readFile(join(bundlePath, 'console.txt'), 'latin1')).split('\n').length;
    assert.ok(hits.length > printedLines, `${hits.length} calls of serial_putc for ${printedLines} lines`);
    assert.ok(hits.every((h) => h.address === putc));

    // From a point after several hits, reverse continue lands on the last one before it.
    const k = Math.floor(hits.length / 2);
    const from = hits[k]!.icount + 5;
    await engine.seek(from);
    const stop = await engine.reverseContinue({ breakpoints: [{ address: putc }] });
    assert.equal(stop.kind, 'breakpoint');
    assert.equal(stop.icount, hits[k]!.icount);
    assert.equal(engine.icount, hits[k]!.icount);
    const regs = await engine.registers();
    assert.equal(regs.rip, putc);
    // Again: the previous hit, across whatever lies between.
    const again = await engine.reverseContinue({ breakpoints: [{ address: putc }] });
    assert.equal(again.icount, hits[k - 1]!.icount);
    // Before the first hit there is none: the start.
    await engine.seek(hits[0]!.icount);
    assert.deepEqual(await engine.reverseContinue({ breakpoints: [{ address: putc }] }), { kind: 'start', icount: 0 });
  });

  it('finds the last write to a variable before now', async () => {
    const ticks = symbolAddress(kernel, 'ticks');
    const writes = await engine.writes(ticks, 8);
    assert.ok(writes.length >= 3, `ticks written ${writes.length} times`);
    const from = writes[writes.length - 2]!.icount + 100;
    await engine.seek(from);
    const last = await engine.lastWrite(ticks, 8);
    assert.ok(last);
    // The newest write before `from`: in an idle stretch the tick handler writes ticks every PIT
    // tick, 92 instructions apart, so the next write can come before +100 (CI under load).
    assert.equal(last.icount, writes.filter((w) => w.icount < from).at(-1)!.icount);
    assert.equal(engine.icount, from, 'lastWrite does not move');
    // The value after the write is what the guest stored there.
    await engine.seek(last.icount);
    const after1 = (await engine.readMemory(ticks, 8)).readBigUInt64LE();
    await engine.seek(last.icount - 1);
    const before1 = (await engine.readMemory(ticks, 8)).readBigUInt64LE();
    assert.notEqual(after1, before1, 'the write changed the value');
  });

  it('recovers when the replay process holding the current time is killed', async () => {
    const t = Math.floor(engine.end / 3);
    await engine.seek(t);
    const expected = await stateOf(engine);
    // Each worker is a process group (a watchdog shell and QEMU): kill them all, as a crash would.
    for (const pid of engine.workerPids()) process.kill(-pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(await stateOf(engine), expected);
    assert.equal(engine.icount, t);
    await engine.seek(t + 1000);
    assert.equal(engine.icount, t + 1000);
  });

  /**
   * `spin 400` (3.6e9 instructions) after `init`: a seek to its end replays for seconds on any
   * machine, so a replay process killed or stopped 300 ms into the seek dies in the middle of it.
   */
  let longBundle: Promise<string> | undefined;
  const longRecording = (): Promise<string> => (longBundle ??= recordLongComputation(dir, 'long', 400));

  for (const [what, signal] of [['killed', 'SIGKILL'], ['stopped (hung)', 'SIGSTOP']] as const) {
    it(`recovers when a replay process is ${what} in the middle of a seek`, async (t) => {
      const long = await longRecording();
      const e2 = await ReplayEngine.open(long, { hangTimeoutMs: 2000, maxLadderSnapshots: 0 });
      try {
        assert.deepEqual(e2.snapshots().map((s) => s.icount), [0], 'only init: the seek replays the whole computation');
        const target = e2.end - 10;
        const started = Date.now();
        let settled = false;
        const seek = e2.seek(target).finally(() => (settled = true));
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(settled, false, 'the seek was still replaying when its processes were hit');
        const victims = e2.workerPids();
        for (const pid of victims) process.kill(-pid, signal);
        assert.equal(await seek, target);
        assert.equal(e2.icount, target);
        const regs = await e2.registers();
        t.diagnostic(`${what} ${victims.length} replay processes 300 ms into a seek of ${target} instructions; the seek ended after ${Date.now() - started} ms`);
        const e3 = await ReplayEngine.open(long);
        try {
          await e3.seek(target);
          assert.deepEqual(regs, await e3.registers(), 'the same state as an engine whose processes were left alone');
        } finally {
          await e3.close();
        }
      } finally {
        await e2.close();
      }
    });
  }

  it("deletes a snapshot's image file once neither the ladder nor a live worker uses it", async () => {
    // No blank processes: their image copies appear before their processes count as live.
    const e2 = await ReplayEngine.open(bundlePath, { maxLadderSnapshots: 0, maxWorkers: 2, spares: 0, blanks: 0 });
    const images = async () => (await fs.readdir(e2.workspaceDir)).filter((n) => /^image-\d+\.qcow2$/.test(n));
    // Each live worker replays on a private copy; any other image file holds a ladder snapshot.
    const settled = async (extra: number) => {
      for (let i = 0; i < 100 && (await images()).length !== e2.workerPids().length + extra; i++) await new Promise((r) => setTimeout(r, 100));
      return (await images()).length - e2.workerPids().length;
    };
    try {
      const mid = Math.floor(e2.end / 2);
      await e2.seek(mid);
      const snap = await e2.createSnapshot();
      assert.ok(snap, 'QEMU saved the snapshot');
      // Backward seeks start new workers; with room for two, the one that saved the snapshot retires
      // (while it lives, its image is a live worker's, and the count below is 0).
      for (const t of [1000, Math.floor(mid / 4), 2000, Math.floor(mid / 8), 3000]) await e2.seek(t);
      assert.equal(await settled(1), 1, "the snapshot's image outlives the worker that saved it while the ladder has it");
      await e2.seek(snap.icount + 10);
      assert.equal(e2.icount, snap.icount + 10);
      assert.ok(e2.deleteSnapshot(snap.name));
      assert.equal(await settled(0), 0, 'no image file but the live workers\' once the snapshot is deleted');
    } finally {
      await e2.close();
    }
  });

  it('a watchpoint of 16 bytes covers 16 bytes: it triggers exactly where its two 8-byte halves do', async () => {
    // The gdbstub takes a watchpoint's length in hex (Z2,ADDR,LENGTH): sent in decimal, 16 became
    // 0x16 = 22 bytes and reached ticks_handled and isr_ticks, written at every tick.
    const bundle = await Bundle.open(bundlePath);
    const ws = await ReplayWorkspace.create(bundle);
    const workHash = symbolAddress(kernel, 'work_hash');
    assert.equal(symbolAddress(kernel, 'ticks_handled'), workHash + 8n, 'the layout this test relies on: ticks_handled right after work_hash');
    const from = workHash - 8n;
    const triggers = async (watchpoints: Array<{ address: bigint; size: number }>): Promise<number[]> => {
      const w = await ReplayWorker.start(bundle, ws, { ...engine.snapshots()[0]!, image: ws.snapshots, source: 'record' }, engine.end);
      try {
        const { hits } = await w.collect({ until: engine.end, watchpoints: watchpoints.map((x) => ({ ...x, access: 'write' as const })) });
        return [...new Set(hits.map((h) => h.icount))];
      } finally {
        await w.kill();
      }
    };
    try {
      const whole = await triggers([{ address: from, size: 16 }]);
      const halves = await triggers([{ address: from, size: 8 }, { address: workHash, size: 8 }]);
      const ticksHandled = await triggers([{ address: workHash + 8n, size: 4 }]);
      assert.ok(ticksHandled.length > 0, 'ticks_handled is written in this recording');
      assert.ok(halves.length > 0, 'work_hash is written in this recording');
      assert.deepEqual(whole, halves);
    } finally {
      await ws.dispose();
    }
  });

  it('a request in flight to a process stopped by a signal is not left waiting for the hang timeout', async () => {
    const bundle = await Bundle.open(bundlePath);
    const ws = await ReplayWorkspace.create(bundle);
    // A hang timeout no test waits for: only the stopped-process check can end the read below.
    const w = await ReplayWorker.start(bundle, ws, { ...engine.snapshots()[0]!, image: ws.snapshots, source: 'record' }, engine.end, { hangMs: 3_600_000 });
    try {
      await w.runTo(1000);
      process.kill(-w.pid!, 'SIGSTOP');
      await assert.rejects(w.registers(), /hung and was killed|closed|stopped/i);
      assert.equal(w.hangNoticed?.why, 'it was stopped by a signal');
    } finally {
      await w.kill();
      await ws.dispose();
    }
  });
});
