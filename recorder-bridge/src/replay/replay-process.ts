/**
 * Launching one QEMU replay process for a worker: its private directory and image copy, QEMU's argv
 * (replay of the bundle's log, paused, QMP and gdbstub on private Unix sockets), the connections,
 * and the first stop past the snapshot. What runs it afterwards is ReplayWorker (worker.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { INITIAL_SNAPSHOT } from '../bundle/layout';
import type { Bundle } from '../bundle/reader';
import { UserError } from '../errors';
import { RspClient } from '../gdb/rsp-client';
import { QmpClient, type QmpEvent } from '../qemu/qmp';
import { chooseQemu } from '../qemu/qemu-binary';
import type { TimePoint } from '../timepoint';
import { groupStat, killGroup, spawnGuarded, waitForExit } from '../util/processes';
import { watchForHang } from './hang-watch';
import type { LadderPoint, PluginSpec, StartOptions } from './worker-types';
import type { ReplayWorkspace } from './workspace';

/**
 * Loading a snapshot or saving one blocks QEMU's main loop (QMP included) for as long as it takes:
 * about 0.1 s for a small guest, seconds for a big one with a disk. Those two commands get this long.
 */
export const SNAPSHOT_IO_MS = 120_000;

/** A started replay process, paused, and what a worker needs to drive it. */
export interface ReplayProcess {
  id: number;
  /** Its private directory (sockets, console output). */
  dir: string;
  child: ChildProcess;
  qmp: QmpClient;
  rsp: RspClient;
  /** The image file it replays on (a private copy unless StartOptions.image). */
  image: string;
  /** The tail of its stderr. */
  stderr: { text: string };
  /** x86_64 (64-bit registers), not i386. */
  wide: boolean;
  /** Where it stands. */
  icount: TimePoint;
}

let nextProcessId = 1;

/**
 * A replay process launched at `init` and paused, with QMP connected, not yet placed anywhere: the
 * part of a start that does not depend on the snapshot (the image copy, QEMU's start-up and its
 * load of `init`; about 0.5 s for the Linux fixture). The worker pool keeps a few ready
 * (blank-processes.ts), so a start from a recorded snapshot only loads that snapshot.
 */
export interface BlankProcess {
  id: number;
  dir: string;
  child: ChildProcess;
  qmp: QmpClient;
  /** The image file it replays on: a private copy of a snapshot store unless StartOptions.image. */
  image: string;
  /** Launched with the probe plugin waiting for its arguments: the file it reads them from (armProbe). */
  probeCtl?: string;
  stderr: { text: string };
  /** Rejects when the process exits (never resolves). */
  exited: Promise<never>;
}

/**
 * Launches a blank replay process on a private copy of `source` (or on `opts.image` itself):
 * paused at `init`, or at `opts.loadAtStart`'s snapshot when given. `probe`: with that probe plugin
 * loaded in its ctl= mode (native/rewind-probe.c), to be armed (armProbe) before it is placed.
 */
export async function launchBlank(bundle: Bundle, ws: ReplayWorkspace, source: string, opts: Pick<StartOptions, 'image' | 'plugin'> & { loadAtStart?: string; probe?: string } = {}): Promise<BlankProcess> {
  const qemu = chooseQemu(bundle.manifest.qemu.binary).path;
  const id = nextProcessId++;
  const dir = join(ws.dir, `w${id}-${process.pid}`);
  await fs.mkdir(dir, { recursive: true });
  const image = opts.image ?? (await ws.newImage(source));
  const probeCtl = opts.probe !== undefined ? join(dir, 'probe.ctl') : undefined;
  const plugin = opts.plugin ?? (opts.probe !== undefined ? { path: opts.probe, args: [`ctl=${probeCtl}`] } : undefined);
  const argv = [
    ...ws.replayArgs(bundle, opts.loadAtStart ?? INITIAL_SNAPSHOT, image),
    '-chardev', `file,id=con0,path=${join(dir, 'console.out')}`,
    '-serial', 'chardev:con0',
    '-qmp', `unix:${join(dir, 'qmp.sock')},server=on,wait=off`,
    '-gdb', `unix:${join(dir, 'gdb.sock')},server=on,wait=off`,
    '-monitor', 'none',
    '-no-shutdown',
    '-S',
    ...(plugin ? ['-plugin', pluginOption(plugin)] : []),
  ];
  const child = spawnGuarded(qemu, argv);
  const stderr = { text: '' };
  child.stderr!.on('data', (d: Buffer) => (stderr.text = (stderr.text + d.toString()).slice(-4096)));
  const exited = waitForExit(child).then(({ code }): never => {
    throw new UserError(`a replay process exited (code ${code}): ${stderr.text.trim().split('\n').pop() ?? ''}`, 'replay-failed');
  });
  exited.catch(() => undefined);
  const blank = { id, dir, child, image, stderr, exited, ...(probeCtl ? { probeCtl } : {}) };
  const stopGuard = guardStopped(child);
  try {
    const qmp = await Promise.race([QmpClient.connect(join(dir, 'qmp.sock')), exited]);
    return { ...blank, qmp };
  } catch (e) {
    await discardBlank(blank, opts.image === undefined);
    throw e;
  } finally {
    stopGuard();
  }
}

/**
 * Gives a probe blank's plugin its arguments (one a line), before it is placed: it reads them at
 * QEMU's first translation, which comes with the placing (rewind-probe.c, ctl= mode).
 */
export async function armProbe(b: BlankProcess, plugin: PluginSpec): Promise<void> {
  if (!b.probeCtl) throw new Error('armProbe: this blank process has no probe plugin');
  await fs.writeFile(b.probeCtl, plugin.args.map((a) => `${a}\n`).join(''));
}

/** Kills a blank process (or one that failed to start) and removes its directory and, when `ownImage`, its image. */
export async function discardBlank(b: Pick<BlankProcess, 'child' | 'dir' | 'image'> & { qmp?: QmpClient }, ownImage: boolean): Promise<void> {
  b.qmp?.close();
  killGroup(b.child);
  await waitForExit(b.child);
  await fs.rm(b.dir, { recursive: true, force: true });
  if (ownImage) await fs.rm(b.image, { force: true });
}

/** Whether a blank process can still be placed: alive, its QMP connected, not stopped by a signal. */
export function blankUsable(b: BlankProcess): boolean {
  return b.child.exitCode === null && b.child.signalCode === null && !b.qmp.isClosed && !(b.child.pid !== undefined && groupStat(b.child.pid).stopped);
}

/**
 * Starts a replay process from `snapshot`, paused: at icount 0 for the initial snapshot, else at
 * `startAt` (default: one instruction past the snapshot; callers pass the first quiet point). A
 * process is never left paused right after loading a snapshot taken while recording: QEMU's main
 * loop then replays part of the log with the VM stopped, and the warp timer of an idle guest fires
 * without advancing the virtual clock, so that the replay livelocks a little later
 * (docs/replay-research.md, "Snapshots that never resume"). So the process starts at `init` (safe:
 * recording started paused too) and QMP `replay-seek` loads the snapshot and runs the VM on at
 * once, past the events recorded at the snapshot's icount. `blank`: a process launched before
 * (launchBlank on the snapshot's image, at `init`) to place instead of launching one.
 */
export async function launchReplay(bundle: Bundle, ws: ReplayWorkspace, snapshot: LadderPoint, endIcount: TimePoint, opts: StartOptions, hangMs: number, blank?: BlankProcess): Promise<ReplayProcess> {
  const b = blank ?? (await launchBlank(bundle, ws, snapshot.image, { ...opts, loadAtStart: opts.loadAtStart ? snapshot.name : undefined }));
  const { child, qmp } = b;
  const exited = b.exited.catch((e: Error): never => {
    throw new UserError(`${e.message.replace(/:/, ` while starting at snapshot ${snapshot.name}:`)}`, 'replay-failed');
  });
  exited.catch(() => undefined);
  // A process stopped by a signal while starting would keep the connections below waiting.
  const stopGuard = guardStopped(child);
  try {
    // Before gdb connects: a stop with a gdb client attached sends it an unasked-for stop reply.
    if (snapshot.icount > 0 && !opts.loadAtStart) await Promise.race([seekPast(qmp, child, snapshot, Math.min(opts.startAt ?? snapshot.icount + 1, endIcount), hangMs), exited]);
    const rsp = await Promise.race([RspClient.connect(join(b.dir, 'gdb.sock')), exited]);
    // QEMU answers 'p' (one register) only once the target description was read: every process
    // must answer the same reads, whichever holds the current time when gdb asks.
    await Promise.race([rsp.request('qXfer:features:read:target.xml:0,1', 10_000), exited]);
    const icount = await qmp.icount();
    return { id: b.id, dir: b.dir, child, qmp, rsp, image: b.image, stderr: b.stderr, wide: bundle.manifest.qemu.binary.endsWith('x86_64'), icount };
  } catch (e) {
    await discardBlank(b, opts.image === undefined);
    throw e;
  } finally {
    stopGuard();
  }
}

/** Kills the process's group if a signal stops it (checked every 250 ms) until the returned function is called. */
function guardStopped(child: ChildProcess): () => void {
  const guard = setInterval(() => {
    if (child.pid !== undefined && groupStat(child.pid).stopped) killGroup(child);
  }, 250);
  return () => clearInterval(guard);
}

/** QEMU 7.2's `-plugin file=PATH,NAME=VALUE,...` (a comma inside a value is doubled, as QemuOpts reads it). */
function pluginOption(plugin: PluginSpec): string {
  return [`file=${plugin.path}`, ...plugin.args].map((a) => a.split(',').join(',,')).join(',');
}

/**
 * QMP `replay-seek` from a freshly started, paused process: QEMU loads the nearest snapshot at or
 * before the target (the image holds `snapshot` and none between it and target) and runs the VM to
 * the target. Resolves once it stopped there; a replay that hangs on the way is killed.
 */
async function seekPast(qmp: QmpClient, child: ChildProcess, snapshot: LadderPoint, target: TimePoint, hangMs: number): Promise<void> {
  let onEvent: ((e: QmpEvent) => void) | undefined;
  let stopWatch: (() => void) | undefined;
  try {
    const stopped = new Promise<void>((resolve, reject) => {
      onEvent = (e: QmpEvent) => {
        if (e.event === 'STOP') resolve();
      };
      qmp.on('event', onEvent);
      stopWatch = watchForHang({
        qmp,
        pgid: child.pid,
        noAnswerMs: SNAPSHOT_IO_MS,
        frozenMs: hangMs,
        onHung: (why) => {
          killGroup(child);
          reject(new UserError(`a replay process started at snapshot ${snapshot.name} (icount ${snapshot.icount}) hung and was killed: ${why}`, 'replay-hung'));
        },
      });
    });
    // Awaited together: a hang noticed while replay-seek is still unanswered (a stopped QEMU, a
    // loaded machine) rejects `stopped` before anything awaits it, and an unhandled rejection ends
    // the whole adapter (seen in the robustness storm under two busy loops).
    await Promise.all([qmp.execute('replay-seek', { icount: target }, SNAPSHOT_IO_MS), stopped]);
  } finally {
    stopWatch?.();
    if (onEvent) qmp.off('event', onEvent);
  }
  const at = (await qmp.execute<{ icount?: number }>('query-replay', undefined, hangMs)).icount ?? 0;
  if (at !== target) {
    throw new UserError(`a replay process started at snapshot ${snapshot.name} stopped at icount ${at} instead of ${target}`, 'replay-failed');
  }
}
