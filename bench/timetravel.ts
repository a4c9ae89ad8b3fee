/**
 * bench/timetravel: the replay engine against QEMU + gdb alone, on the same recording, in one run.
 *
 *   node out/bench/timetravel.js [--bundle B] [--runs N] [--spin N]
 *
 * Without --bundle it records the demo guest running `spin N` (N=60: about 5.4e8 instructions) with
 * a snapshot every 50M instructions. The baseline is what a user gets from QEMU's record/replay and
 * gdb alone: one replay process with only the initial snapshot (loading any other one deadlocks
 * QEMU), gdb's reverse-stepi / reverse-continue and QMP replay-seek. Results, with the machine and
 * versions, go to bench/results/timetravel-DATE.md (and .json).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { constants as fsc, promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { QmpClient } from '../recorder-bridge/src/qemu/qmp';
import { record } from '../recorder-bridge/src/record/recorder';
import { ReplayEngine } from '../recorder-bridge/src/replay/engine';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { trackChild, waitForExit } from '../recorder-bridge/src/util/processes';
import { benchHeader, median, resultsPath, ROOT } from './common';
import { symbolAddress } from '../test/support/elf';

const execFileAsync = promisify(execFile);
/** A baseline operation still running after this long is reported as not finished (QEMU deadlocks). */
const BASELINE_TIMEOUT_S = 60;

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e9, v];
}

/** QEMU replay + gdb, as a user without Rewind runs them; gdb is driven with -batch scripts. */
class Baseline {
  private constructor(
    private readonly dir: string,
    private readonly argv: string[],
    private readonly kernel: string,
  ) {}

  static async create(bundle: Bundle, ws: ReplayWorkspace, dir: string): Promise<Baseline> {
    // Only the initial snapshot: QEMU deadlocks loading any other one after it has run.
    const image = join(dir, 'baseline.qcow2');
    await fs.copyFile(ws.snapshots, image, fsc.COPYFILE_FICLONE);
    for (const s of bundle.manifest.snapshots.list) if (s.name !== 'init') execFileSync('qemu-img', ['snapshot', '-d', s.name, image]);
    const argv = [...ws.replayArgs(bundle, 'init', image), '-serial', 'null', '-monitor', 'none'];
    return new Baseline(dir, argv, bundle.path(bundle.manifest.guest.kernel.file));
  }

  /** Runs QEMU with a gdbstub and QMP, then a gdb script; returns gdb's wall time for the timed part. */
  async run(setup: string[], timedCommands: string[], timeoutS = BASELINE_TIMEOUT_S): Promise<number> {
    const gdbSock = join(this.dir, 'b-gdb.sock');
    const qmpSock = join(this.dir, 'b-qmp.sock');
    const q = spawn('qemu-system-x86_64', [...this.argv, '-gdb', `unix:${gdbSock},server=on,wait=off`, '-qmp', `unix:${qmpSock},server=on,wait=off`, '-S'], { stdio: 'ignore', detached: true });
    trackChild(q);
    try {
      const qmp = await QmpClient.connect(qmpSock);
      qmp.close();
      // Python-free timing: gdb's own clock around the timed commands.
      const args = ['-batch', '-nx', this.kernel, '-ex', 'set pagination off', '-ex', `target remote ${gdbSock}`];
      for (const c of setup) args.push('-ex', c);
      args.push('-ex', 'python import time; __t0 = time.time()');
      for (const c of timedCommands) args.push('-ex', c);
      args.push('-ex', 'python print("ELAPSED %f" % (time.time() - __t0))');
      const { stdout, stderr } = await execFileAsync('gdb', args, { timeout: timeoutS * 1000, maxBuffer: 1 << 24 });
      const m = /ELAPSED ([0-9.]+)/.exec(stdout);
      if (!m) {
        // gdb gave up (e.g. the remote connection broke): the operation did not complete.
        process.stderr.write(`baseline ${timedCommands.join('; ')} failed: ${stderr.trim().split('\n').slice(-2).join(' / ')}\n`);
        return Infinity;
      }
      return Number(m[1]);
    } catch (e) {
      if ((e as { killed?: boolean }).killed) return Infinity; // did not finish in time
      throw e;
    } finally {
      q.kill('SIGKILL');
      await waitForExit(q);
    }
  }

  /** QMP replay-seek from the end back to `t` (the baseline's "go to time"). */
  async seek(from: number, t: number): Promise<number> {
    const qmpSock = join(this.dir, 'b-qmp2.sock');
    const q = spawn('qemu-system-x86_64', [...this.argv, '-qmp', `unix:${qmpSock},server=on,wait=off`, '-S'], { stdio: 'ignore', detached: true });
    trackChild(q);
    try {
      const qmp = await QmpClient.connect(qmpSock);
      await qmp.execute('replay-break', { icount: from });
      const stopped = new Promise<void>((r) => qmp.on('event', (e) => e.event === 'STOP' && r()));
      await qmp.execute('cont');
      await stopped;
      const t0 = process.hrtime.bigint();
      // replay-seek answers at once and QEMU goes on in the background; the seek is done at STOP.
      const done = new Promise<void>((r) => qmp.on('event', (e) => e.event === 'STOP' && r()));
      try {
        await qmp.execute('replay-seek', { icount: t }, BASELINE_TIMEOUT_S * 1000);
        await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), BASELINE_TIMEOUT_S * 1000))]);
      } catch {
        return Infinity; // QEMU deadlocked (seen: main thread and vCPU waiting on each other)
      }
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      qmp.close();
      return dt;
    } finally {
      q.kill('SIGKILL');
      await waitForExit(q);
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { bundle: { type: 'string' }, runs: { type: 'string' }, spin: { type: 'string' } } });
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
        seek.baseline.push(await base.seek(late, Math.floor(late / 2)));

        await engine.seek(late + i);
        rsi.rewind.push((await timed(() => engine.reverseStepi()))[0]);
        rsi.baseline.push(await base.run([`monitor replay_break ${late + i}`, 'continue'], ['reverse-stepi']));

        if (prevHit) {
          await engine.seek(late);
          rc.rewind.push((await timed(() => engine.reverseContinue({ breakpoints: [{ address: putc }] })))[0]);
          rc.baseline.push(await base.run([`monitor replay_break ${late}`, 'continue', `break *0x${putc.toString(16)}`], ['reverse-continue']));
        }

        await engine.seek(late);
        lw.rewind.push((await timed(() => engine.lastWrite(symbolAddress(kernel, 'ticks'), 8)))[0]);
        lw.baseline.push(await base.run([`monitor replay_break ${late}`, 'continue', 'watch ticks'], ['reverse-continue']));
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
        full.baseline.push(await base.run([], [`source ${script}`], 600));
        plain.baseline.push(await base.run([`monitor replay_break ${end}`], ['continue'], 600));
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
