import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bundle } from '../bundle/reader';
import { CancelledError, UserError } from '../errors';
import { QmpClient, type QmpEvent } from '../qemu/qmp';
import { chooseQemu } from '../qemu/qemu-binary';
import type { TimePoint } from '../timepoint';
import { killGroup, spawnGuarded, waitForExit } from '../util/processes';
import { ReplayWorkspace } from './workspace';
import type { ReplayCheckResult } from '@rewind/protocol';

export type { ReplayCheckResult };

/**
 * Replays a whole bundle from its initial snapshot and checks that it reaches the recorded end with
 * the recorded console output.
 */
export async function replayCheck(
  bundle: Bundle,
  endIcount: TimePoint,
  opts: { timeoutSeconds?: number; signal?: AbortSignal; onProgress?: (icount: TimePoint, total: TimePoint) => void } = {},
): Promise<ReplayCheckResult> {
  const qemu = chooseQemu(bundle.manifest.qemu.binary).path;
  const ws = await ReplayWorkspace.create(bundle);
  const total = bundle.manifest.recording.totalIcount;
  try {
    const r = await replayConsole({ qemu, replayArgs: ws.replayArgs(bundle), dir: ws.dir, endIcount, totalIcount: total }, opts);
    const recorded = await fs.readFile(bundle.path(bundle.manifest.console.raw));
    return { icount: r.icount, endIcount, totalIcount: total, consoleMatches: r.console.equals(recorded), consoleBytes: r.console.length, wallSeconds: r.wallSeconds };
  } finally {
    await ws.dispose();
  }
}

export interface ReplayConsoleSpec {
  /** The qemu-system binary. */
  qemu: string;
  /** The machine, the -icount ...,rr=replay option and the drives (ReplayWorkspace.replayArgs). */
  replayArgs: string[];
  /** A scratch folder for the console file and the QMP socket. */
  dir: string;
  /** Where the replay ends (replayEnd in engine.ts), and the log's last icount. */
  endIcount: TimePoint;
  totalIcount: TimePoint;
}

/**
 * Replays a log from the start to its end with the serial console going to a file, and returns
 * what the guest printed. The replay pauses at the end (-no-shutdown) so that its icount can be
 * read. `rewind salvage` uses it to recover the console of an interrupted recording.
 */
export async function replayConsole(
  spec: ReplayConsoleSpec,
  opts: { timeoutSeconds?: number; signal?: AbortSignal; onProgress?: (icount: TimePoint, total: TimePoint) => void } = {},
): Promise<{ icount: TimePoint; console: Buffer; wallSeconds: number }> {
  const { qemu, endIcount } = spec;
  const total = spec.totalIcount;
  const started = Date.now();
  const out = join(spec.dir, 'console.out');
  const qmpPath = join(spec.dir, 'qmp.sock');
  const argv = [
    ...spec.replayArgs,
    '-chardev', `file,id=con0,path=${out}`,
    '-serial', 'chardev:con0',
    '-qmp', `unix:${qmpPath},server=on,wait=off`,
    '-monitor', 'none',
    '-no-shutdown',
  ];
  const child = spawnGuarded(qemu, argv);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
  const exited = waitForExit(child);
  let qmp: QmpClient | undefined;
  try {
    qmp = await QmpClient.connect(qmpPath);
    const events: QmpEvent[] = [];
    qmp.on('event', (e: QmpEvent) => events.push(e));
    const deadline = started + (opts.timeoutSeconds ?? 600) * 1000;
    let icount = 0;
    for (;;) {
      if (opts.signal?.aborted) throw new CancelledError('replay check');
      if (child.exitCode !== null) throw new UserError(`the replay ended early (QEMU exit code ${child.exitCode}: ${stderr.trim().split('\n').pop() ?? ''}); the recording cannot be replayed`, 'replay-failed');
      if (Date.now() > deadline) throw new UserError(`the replay did not reach the end of the recording within ${opts.timeoutSeconds ?? 600} s (at icount ${icount} of ${total})`, 'replay-timeout');
      const status = await qmp.execute<{ status: string; running: boolean }>('query-status');
      icount = await qmp.icount();
      opts.onProgress?.(icount, total);
      // The replay pauses at the end of the log or at the recorded shutdown (-no-shutdown).
      if (!status.running && status.status !== 'prelaunch' && (icount >= endIcount || events.some((e) => e.event === 'SHUTDOWN') || /replay file is over/.test(stderr))) break;
      await sleep(100);
    }
    return { icount, console: await fs.readFile(out), wallSeconds: (Date.now() - started) / 1000 };
  } finally {
    qmp?.close();
    killGroup(child);
    await exited;
  }
}
