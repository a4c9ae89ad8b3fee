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
 * Starts a replay process from `snapshot`, paused: at icount 0 for the initial snapshot, else at
 * `startAt` (default: one instruction past the snapshot; callers pass the first quiet point). A
 * process is never left paused right after loading a snapshot taken while recording: QEMU's main
 * loop then replays part of the log with the VM stopped, and the warp timer of an idle guest fires
 * without advancing the virtual clock, so that the replay livelocks a little later
 * (docs/replay-research.md, "Snapshots that never resume"). So the process starts at `init` (safe:
 * recording started paused too) and QMP `replay-seek` loads the snapshot and runs the VM on at
 * once, past the events recorded at the snapshot's icount.
 */
export async function launchReplay(bundle: Bundle, ws: ReplayWorkspace, snapshot: LadderPoint, endIcount: TimePoint, opts: StartOptions, hangMs: number): Promise<ReplayProcess> {
  const qemu = chooseQemu(bundle.manifest.qemu.binary).path;
  const id = nextProcessId++;
  const dir = join(ws.dir, `w${id}-${process.pid}`);
  await fs.mkdir(dir, { recursive: true });
  const image = opts.image ?? (await ws.newImage(snapshot.image));
  const argv = [
    ...ws.replayArgs(bundle, opts.loadAtStart ? snapshot.name : INITIAL_SNAPSHOT, image),
    '-chardev', `file,id=con0,path=${join(dir, 'console.out')}`,
    '-serial', 'chardev:con0',
    '-qmp', `unix:${join(dir, 'qmp.sock')},server=on,wait=off`,
    '-gdb', `unix:${join(dir, 'gdb.sock')},server=on,wait=off`,
    '-monitor', 'none',
    '-no-shutdown',
    '-S',
    ...(opts.plugin ? ['-plugin', pluginOption(opts.plugin)] : []),
  ];
  const child = spawnGuarded(qemu, argv);
  const stderr = { text: '' };
  child.stderr!.on('data', (d: Buffer) => (stderr.text = (stderr.text + d.toString()).slice(-4096)));
  // A process stopped by a signal while starting would keep the connections below waiting.
  const guard = setInterval(() => {
    if (child.pid !== undefined && groupStat(child.pid).stopped) killGroup(child);
  }, 250);
  try {
    const exited = waitForExit(child).then(({ code }) => {
      throw new UserError(`a replay process exited (code ${code}) while starting at snapshot ${snapshot.name}: ${stderr.text.trim().split('\n').pop() ?? ''}`, 'replay-failed');
    });
    exited.catch(() => undefined);
    const qmp = await Promise.race([QmpClient.connect(join(dir, 'qmp.sock')), exited]);
    // Before gdb connects: a stop with a gdb client attached sends it an unasked-for stop reply.
    if (snapshot.icount > 0 && !opts.loadAtStart) await Promise.race([seekPast(qmp, child, snapshot, Math.min(opts.startAt ?? snapshot.icount + 1, endIcount), hangMs), exited]);
    const rsp = await Promise.race([RspClient.connect(join(dir, 'gdb.sock')), exited]);
    // QEMU answers 'p' (one register) only once the target description was read: every process
    // must answer the same reads, whichever holds the current time when gdb asks.
    await Promise.race([rsp.request('qXfer:features:read:target.xml:0,1', 10_000), exited]);
    const icount = await qmp.icount();
    return { id, dir, child, qmp, rsp, image, stderr, wide: bundle.manifest.qemu.binary.endsWith('x86_64'), icount };
  } catch (e) {
    killGroup(child);
    await waitForExit(child);
    await fs.rm(dir, { recursive: true, force: true });
    if (!opts.image) await fs.rm(image, { force: true });
    throw e;
  } finally {
    clearInterval(guard);
  }
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
