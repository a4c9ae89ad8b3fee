/**
 * bench/timetravel: the replay engine against QEMU + gdb alone, on the same recording, in one run.
 *
 *   node out/bench/timetravel.js [--bundle B] [--runs N] [--spin N]
 *
 * Without --bundle it records the demo guest running `spin N` (N=60: about 5.4e8 instructions) with
 * a snapshot every 50M instructions. The baseline (bench/baseline.ts) is what a user gets from
 * QEMU's record/replay and gdb alone: one replay process with only the initial snapshot (loading
 * any other one deadlocks QEMU), gdb's reverse-stepi / reverse-continue and QMP replay-seek. Results, with the machine and
 * versions, go to bench/results/timetravel-DATE.md (and .json).
 */
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { record } from '../recorder-bridge/src/record/recorder';
import { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { symbolAddress } from '../test/support/elf';
import { Baseline } from './baseline';
import { benchArgs, benchHeader, median, resultsPath, ROOT } from './common';

/** A baseline operation still running after this long is reported as not finished (QEMU deadlocks). */
const BASELINE_TIMEOUT_S = 60;

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e9, v];
}

async function main(): Promise<void> {
  const { values } = benchArgs('timetravel', { options: { bundle: { type: 'string' }, runs: { type: 'string' }, spin: { type: 'string' } } });
  const runs = Number(values.runs ?? 3);
  const work = mkdtempSync(join(tmpdir(), 'rewind-bench-tt-'));
  try {
    let bundlePath = values.bundle;
    let recordSeconds: { ladder: number; plain: number } | undefined;
    if (!bundlePath) {
      const script = join(work, 'spin.txt');
      await fs.writeFile(script, `expect ready\nexpect > \nsend spin ${values.spin ?? 60}\\n\nexpect spin done\nexpect > \nsend poweroff\\n\n`);
      const kernel = join(ROOT, 'guests/demo/build/kernel.elf');
      bundlePath = join(work, 'bench.rewind');
      const [ladder] = await timed(() => record({ kernel, input: script, out: bundlePath!, snapshotEvery: 50_000_000 }));
      const [plain] = await timed(() => record({ kernel, input: script, out: join(work, 'plain.rewind'), snapshotEvery: 0 }));
      recordSeconds = { ladder, plain };
    }
    const bundle = await Bundle.open(bundlePath);
    const kernel = bundle.path(bundle.manifest.guest.kernel.file);
    const ws = await ReplayWorkspace.create(bundle);
    const base = await Baseline.create(bundle, ws, work);
    /** gdb's time for the timed commands; Infinity when they did not finish in time (QEMU deadlocks) or failed. */
    const baseline = async (setup: string[], commands: string[], timeoutS = BASELINE_TIMEOUT_S): Promise<number> => (await base.run(setup, commands, timeoutS)).seconds;
    const engine = await ReplayEngine.open(bundlePath);
    const rows: Array<{ op: string; baseline: number[]; rewind: number[] }> = [];
    const row = (op: string) => {
      const r = { op, baseline: [] as number[], rewind: [] as number[] };
      rows.push(r);
      return r;
    };
    try {
      const end = engine.end;
      const putc = symbolAddress(kernel, 'serial_putc');
      const hits = await engine.hits(putc);
      // The late part of the recording, where QEMU + gdb pay for the whole prefix.
      const late = Math.floor(end * 0.9);
      const prevHit = hits.filter((h) => h.icount < late).pop();

      const seek = row(`seek from ${(late / 1e6).toFixed(0)}M back to ${(late / 2e6).toFixed(0)}M`);
      const rsi = row('reverse-stepi');
      const rc = row('reverse-continue to the previous hit (serial_putc)');
      const lw = row('last write (watch ticks + reverse-continue)');
      for (let i = 0; i < runs; i++) {
        process.stderr.write(`run ${i + 1}/${runs}\n`);
        await engine.seek(late);
        seek.rewind.push((await timed(() => engine.seek(Math.floor(late / 2))))[0]);
        seek.baseline.push(await base.seek(late, Math.floor(late / 2), BASELINE_TIMEOUT_S));

        await engine.seek(late + i);
        rsi.rewind.push((await timed(() => engine.reverseStepi()))[0]);
        rsi.baseline.push(await baseline([`monitor replay_break ${late + i}`, 'continue'], ['reverse-stepi']));

        if (prevHit) {
          await engine.seek(late);
          rc.rewind.push((await timed(() => engine.reverseContinue({ breakpoints: [{ address: putc }] })))[0]);
          rc.baseline.push(await baseline([`monitor replay_break ${late}`, 'continue', `break *0x${putc.toString(16)}`], ['reverse-continue']));
        }

        await engine.seek(late);
        lw.rewind.push((await timed(() => engine.lastWrite(symbolAddress(kernel, 'ticks'), 8)))[0]);
        lw.baseline.push(await baseline([`monitor replay_break ${late}`, 'continue', 'watch ticks'], ['reverse-continue']));
      }
      // Every hit of serial_putc over the whole recording: one replay under gdb, stopping at each
      // hit (what a user without Rewind does), against the slice-parallel query. And a plain full
      // replay without any breakpoint, for scale: QEMU runs code on a page that holds a breakpoint
      // one instruction per block, which makes any replay with breakpoints much slower.
      const full = row('all hits of serial_putc: one replay under gdb (baseline) vs slice-parallel hits query (Rewind)');
      const plain = row('one full replay without breakpoints (baseline) vs slice-parallel hits query (Rewind)');
      const script = join(work, 'hits.gdb');
      await fs.writeFile(script, `break *0x${putc.toString(16)}\ncommands\nsilent\ncontinue\nend\nmonitor replay_break ${end}\ncontinue\n`);
      for (let i = 0; i < runs; i++) {
        const [t] = await timed(() => engine.hits(putc));
        full.rewind.push(t);
        plain.rewind.push(t);
        full.baseline.push(await baseline([], [`source ${script}`], 600));
        plain.baseline.push(await baseline([`monitor replay_break ${end}`], ['continue'], 600));
      }
    } finally {
      await engine.close();
      await ws.dispose();
    }

    const f = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : 'did not finish');
    const table = [
      '| operation | QEMU + gdb (s) | Rewind (s) | speed-up |',
      '|---|---|---|---|',
      ...rows.map((r) => {
        const b = median(r.baseline);
        const w = median(r.rewind);
        const deadlocks = r.baseline.filter((x) => !Number.isFinite(x)).length;
        const note = deadlocks ? ` (${deadlocks} of ${r.baseline.length} failed or did not finish in ${BASELINE_TIMEOUT_S} s)` : '';
        return `| ${r.op} | ${f(b)}${note} | ${f(w)} | **${Number.isFinite(b) ? (b / w).toFixed(1) + 'x' : '> ' + (BASELINE_TIMEOUT_S / w).toFixed(0) + 'x'}** |`;
      }),
    ].join('\n');
    const m = bundle.manifest;
    const ladder = [
      `- recording: ${(m.recording.totalIcount / 1e6).toFixed(0)}M instructions, ${m.snapshots.list.length} snapshots, snapshot store ${(m.files['snapshots.qcow2']!.size / 2 ** 20).toFixed(1)} MiB, log ${(m.stats.logBytesRaw / 1024).toFixed(0)} KiB raw`,
      recordSeconds ? `- ladder cost at record time: ${recordSeconds.ladder.toFixed(2)} s with a snapshot every 50M instructions against ${recordSeconds.plain.toFixed(2)} s with the initial one only` : '',
    ].filter(Boolean).join('\n');
    const header = await benchHeader('timetravel', `medians of ${runs} runs, wall seconds; the baseline is one QEMU replay process with only the initial snapshot, driven by gdb (-batch) or QMP`);
    const text = `${header}\n${ladder}\n\n${table}\n`;
    process.stdout.write(text);
    const path = resultsPath('timetravel');
    await fs.mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
    await fs.writeFile(path + '.md', text);
    await fs.writeFile(path + '.json', JSON.stringify(rows, null, 2) + '\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench/timetravel: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
