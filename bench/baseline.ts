/**
 * The benchmarks' baseline: QEMU's own record/replay driven by gdb, as a user without Rewind runs
 * them, on the same recording. One QEMU replay process with only the initial snapshot (QEMU
 * deadlocks loading any other one after it has run), gdb (-batch) over its gdbstub; gdb's own
 * clock times the commands after the setup. QEMU's reverse execution sometimes deadlocks (its main
 * thread in do_run_on_cpu, the vCPU thread in replay_mutex_lock): a QEMU that uses no CPU for
 * 15 s is checked with `gdb -p`, and a deadlocked attempt is reported and may be retried.
 * Used by bench/dap.ts and bench/timetravel.ts.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { constants as fsc, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Bundle } from '../recorder-bridge/src/bundle/reader';
import { QmpClient } from '../recorder-bridge/src/qemu/qmp';
import type { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';
import { groupCpuTicks, killGroup, spawnGuarded, trackChild, waitForExit } from '../recorder-bridge/src/util/processes';
import { groupMembers, waitUntil } from '../test/support/procs';
import { deadline, now, since } from './common';

const execFileAsync = promisify(execFile);
/** Reaching the start point (untimed): a whole replay up to it, symbols loaded. */
const SETUP_TIMEOUT_S = 900;
/** A QEMU that uses less than this much CPU over DEADLOCK_WINDOW_S is checked for the deadlock. */
const DEADLOCK_WINDOW_S = 15;
const DEADLOCK_CPU_TICKS = 15;

export type AttemptOutcome = 'finished' | 'timeout' | 'deadlock' | 'failed';

export interface Attempt {
  outcome: AttemptOutcome;
  /** gdb's own clock around the timed commands (finished), or how long they ran before they were stopped. */
  seconds: number;
  /** Where QEMU says it is after the timed commands (HMP `info replay`). */
  landed?: number;
  /** Where the setup left QEMU (should be the operation's start). */
  startedAt?: number;
  pc?: string;
  /** CPU seconds QEMU used during the timed commands. */
  qemuCpu?: number;
  detail?: string;
  /** What gdb printed on stdout (finished): what a timed Python command reported. */
  output?: string;
}

export interface BaselineResult {
  /** Seconds of the run: Infinity when it did not finish (time limit, deadlock on every attempt, failure). */
  seconds: number;
  outcome: AttemptOutcome;
  landed?: number;
  pc?: string;
  output?: string;
  attempts: Attempt[];
}

/** QEMU replay + gdb, as a user without Rewind runs them; gdb is driven with -batch scripts. */
export class Baseline {
  private seq = 0;
  private constructor(
    private readonly dir: string,
    private readonly binary: string,
    private readonly argv: string[],
    private readonly symbols: string[],
  ) {}

  /** A baseline of `bundle` working in `dir`; gdb reads `symbols` (default: the recorded kernel). */
  static async create(bundle: Bundle, ws: ReplayWorkspace, dir: string, symbols: string[] = [bundle.path(bundle.manifest.guest.kernel.file)]): Promise<Baseline> {
    // Only the initial snapshot: QEMU deadlocks loading any other one after it has run.
    const image = join(dir, 'baseline.qcow2');
    await fs.copyFile(ws.snapshots, image, fsc.COPYFILE_FICLONE);
    for (const s of bundle.manifest.snapshots.list) if (s.name !== 'init') execFileSync('qemu-img', ['snapshot', '-d', s.name, image]);
    const argv = [...ws.replayArgs(bundle, 'init', image), '-serial', 'null', '-monitor', 'none'];
    return new Baseline(dir, bundle.manifest.qemu.binary, argv, symbols);
  }

  /**
   * One run: gdb runs `setup` (untimed), then `timedCommands` with a time limit of `timeoutS`;
   * attempts again after a QEMU deadlock, up to `attempts` in all. `label` names it in the progress lines.
   */
  async run(setup: string[], timedCommands: string[], timeoutS: number, attempts = 1, label = timedCommands.join('; ')): Promise<BaselineResult> {
    const list: Attempt[] = [];
    for (let i = 0; i < attempts; i++) {
      let a = await this.attempt(setup, timedCommands, timeoutS);
      // QEMU or gdb did not even start (e.g. the image still locked): the harness's failure, not QEMU's; once more.
      if (a.outcome === 'failed' && a.startedAt === undefined && /QMP|lock/.test(a.detail ?? '')) a = await this.attempt(setup, timedCommands, timeoutS);
      list.push(a);
      process.stderr.write(`  baseline ${label}: ${a.outcome}${Number.isFinite(a.seconds) ? ` after ${a.seconds.toFixed(1)} s` : ''}${a.landed !== undefined ? `, at icount ${a.landed}` : ''}${a.detail ? ` (${a.detail})` : ''}\n`);
      if (a.outcome !== 'deadlock') break;
    }
    const last = list[list.length - 1]!;
    return {
      seconds: last.outcome === 'finished' ? last.seconds : Infinity,
      outcome: last.outcome,
      ...(last.outcome === 'finished' && last.landed !== undefined ? { landed: last.landed } : {}),
      ...(last.outcome === 'finished' && last.pc !== undefined ? { pc: last.pc } : {}),
      ...(last.outcome === 'finished' && last.output !== undefined ? { output: last.output } : {}),
      attempts: list,
    };
  }

  /** Runs QEMU with a gdbstub, then a gdb script; gdb's own clock times the timed commands. */
  private async attempt(setup: string[], timedCommands: string[], timeoutS: number): Promise<Attempt> {
    const n = ++this.seq;
    const gdbSock = join(this.dir, `b${n}-gdb.sock`);
    const qmpSock = join(this.dir, `b${n}-qmp.sock`);
    // Under the watchdog shell, in its own process group: killed with it, and never outlives us.
    const q = spawnGuarded(this.binary, [...this.argv, '-gdb', `unix:${gdbSock},server=on,wait=off`, '-qmp', `unix:${qmpSock},server=on,wait=off`, '-S']);
    let qemuErr = '';
    q.stderr?.on('data', (d: Buffer) => (qemuErr = (qemuErr + d.toString()).slice(-4000)));
    let g: ChildProcess | undefined;
    try {
      const qmp = await QmpClient.connect(qmpSock, 60_000);
      qmp.close();
      const args = ['-batch', '-nx', this.symbols[0]!, '-ex', 'set pagination off', '-ex', 'set confirm off'];
      for (const extra of this.symbols.slice(1)) args.push('-ex', `add-symbol-file ${extra}`);
      args.push('-ex', `target remote ${gdbSock}`);
      for (const c of setup) args.push('-ex', c);
      args.push('-ex', 'python import time, sys; __t0 = time.time(); print("TIMED-START"); sys.stdout.flush()');
      for (const c of timedCommands) args.push('-ex', c);
      args.push('-ex', 'python print("ELAPSED %f" % (time.time() - __t0)); sys.stdout.flush()', '-ex', 'monitor info replay', '-ex', 'python print("PC %#x" % int(gdb.parse_and_eval("$pc"))); sys.stdout.flush()');
      const gp = spawn('gdb', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      g = gp;
      trackChild(gp);
      let stdout = '';
      let stderr = '';
      let onStdout = () => {};
      gp.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        onStdout();
      });
      gp.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = waitForExit(gp);
      const counts = () => [...stderr.matchAll(/instruction count = (\d+)/g)].map((m) => Number(m[1]));
      const tail = () => stderr.trim().split('\n').filter((l) => !/^warning:/.test(l)).slice(-3).join(' / ');

      // Setup (untimed): symbols, connect, replay up to the start point.
      const started = new Promise<void>((r) => {
        onStdout = () => stdout.includes('TIMED-START') && r();
      });
      const setupEnd = await Promise.race([started.then(() => 'started' as const), exited.then(() => 'exited' as const), deadline(SETUP_TIMEOUT_S * 1000).then(() => 'timeout' as const)]);
      if (setupEnd !== 'started') return { outcome: 'failed', seconds: Infinity, detail: `setup ${setupEnd === 'exited' ? `ended: ${tail()}` : `took over ${SETUP_TIMEOUT_S} s`}` };
      // QEMU's answer to the setup's `info replay` (gdb prints it on stderr, which may come later).
      const startedAtNow = counts()[0];

      // The timed commands: until gdb exits, the time limit, or a deadlock.
      const t0 = now();
      const cpu0 = groupCpuTicks(q.pid!);
      const samples: Array<{ t: number; cpu: number }> = [{ t: 0, cpu: cpu0 }];
      let checkedAt = -Infinity;
      let done = false;
      void exited.then(() => (done = true));
      const startedAtOf = () => startedAtNow ?? counts()[0];
      while (!done) {
        await Promise.race([exited, sleep(2000)]);
        if (done) break;
        const t = since(t0);
        const cpu = groupCpuTicks(q.pid!);
        samples.push({ t, cpu });
        if (t >= timeoutS) {
          return { outcome: 'timeout', seconds: t, ...(startedAtOf() !== undefined ? { startedAt: startedAtOf()! } : {}), qemuCpu: (cpu - cpu0) / 100, detail: `did not finish in ${timeoutS} s; QEMU used ${((cpu - cpu0) / 100).toFixed(0)} CPU-seconds meanwhile` };
        }
        // Idle for a whole window: deadlocked (or pacing an idle stretch): ask its threads.
        const old = samples.find((s) => s.t >= t - DEADLOCK_WINDOW_S - 1);
        if (old && t - old.t >= DEADLOCK_WINDOW_S - 2 && cpu - old.cpu < DEADLOCK_CPU_TICKS && t - checkedAt >= DEADLOCK_WINDOW_S) {
          checkedAt = t;
          const sig = await deadlockSignature(q.pid!);
          if (sig) return { outcome: 'deadlock', seconds: t, ...(startedAtOf() !== undefined ? { startedAt: startedAtOf()! } : {}), qemuCpu: (cpu - cpu0) / 100, detail: `QEMU idle since ${old.t.toFixed(0)} s of the timed part: ${sig}` };
        }
      }
      const qemuCpu = (groupCpuTicks(q.pid!) - cpu0) / 100;
      const m = /ELAPSED ([0-9.]+)/.exec(stdout);
      if (!m) return { outcome: 'failed', seconds: Infinity, ...(startedAtOf() !== undefined ? { startedAt: startedAtOf()! } : {}), qemuCpu, detail: `gdb gave up: ${tail()}` };
      const c = counts();
      const pc = /PC (0x[0-9a-f]+)/.exec(stdout)?.[1];
      return {
        outcome: 'finished',
        seconds: Number(m[1]),
        ...(c.length >= 2 ? { landed: c[c.length - 1]! } : {}),
        ...(startedAtOf() !== undefined ? { startedAt: startedAtOf()! } : {}),
        ...(pc ? { pc } : {}),
        qemuCpu,
        output: stdout,
      };
    } catch (e) {
      return { outcome: 'failed', seconds: Infinity, detail: `${(e as Error).message}${qemuErr ? `; QEMU: ${qemuErr.trim().split('\n').slice(-2).join(' / ')}` : ''}` };
    } finally {
      // By pid: gdb's process group, then QEMU's (the watchdog shell and QEMU under it).
      if (g) {
        killGroup(g);
        await waitForExit(g);
      }
      await stopQemu(q);
    }
  }

  /**
   * QMP replay-seek, QEMU's own "go to time": replays to `from` (untimed), then times the seek
   * back to `t` until QEMU stops there; Infinity when it does not within `timeoutS` (QEMU deadlocks).
   */
  async seek(from: number, t: number, timeoutS: number): Promise<number> {
    const qmpSock = join(this.dir, `b${++this.seq}-qmp.sock`);
    const q = spawnGuarded(this.binary, [...this.argv, '-qmp', `unix:${qmpSock},server=on,wait=off`, '-S']);
    let qmp: QmpClient | undefined;
    try {
      const c = await QmpClient.connect(qmpSock, 60_000);
      qmp = c;
      const stopped = () => new Promise<void>((r) => c.on('event', (e) => e.event === 'STOP' && r()));
      const reached = stopped();
      await c.execute('replay-break', { icount: from });
      await c.execute('cont');
      await reached;
      const t0 = now();
      // replay-seek answers at once and QEMU goes on in the background; the seek is done at STOP.
      const done = stopped();
      try {
        await c.execute('replay-seek', { icount: t }, timeoutS * 1000);
        const end = await Promise.race([done.then(() => 'stopped' as const), deadline(timeoutS * 1000).then(() => 'timeout' as const)]);
        if (end === 'timeout') return Infinity;
      } catch {
        return Infinity; // QEMU deadlocked (seen: main thread and vCPU waiting on each other)
      }
      return since(t0);
    } finally {
      qmp?.close();
      await stopQemu(q);
    }
  }
}

/** Kills a baseline QEMU (the watchdog shell's group) and waits until QEMU itself is gone. */
async function stopQemu(q: ChildProcess): Promise<void> {
  killGroup(q);
  await waitForExit(q);
  // QEMU itself (under the watchdog shell) holds the image's lock until it is gone: the next
  // attempt must not find it still there.
  if (q.pid !== undefined) await waitUntil(() => groupMembers(q.pid!).length === 0, 10_000, 50);
}

/**
 * QEMU's known reverse-execution deadlock: the main thread waits in do_run_on_cpu (loading the
 * snapshot) while holding the replay mutex that the vCPU thread waits for. Returns a description
 * when the process's threads show it.
 */
async function deadlockSignature(pgid: number): Promise<string | undefined> {
  const qemu = groupMembers(pgid).find((p) => p.comm.startsWith('qemu-system'));
  if (!qemu) return undefined;
  try {
    const { stdout } = await execFileAsync('gdb', ['-p', String(qemu.pid), '-batch', '-nx', '-ex', 'thread apply all bt 12'], { timeout: 60_000, maxBuffer: 1 << 24 });
    if (/do_run_on_cpu/.test(stdout) && /replay_mutex_lock/.test(stdout)) return `deadlocked (main thread in do_run_on_cpu, vCPU thread in replay_mutex_lock; pid ${qemu.pid})`;
  } catch {
    // could not look: not called a deadlock
  }
  return undefined;
}

