import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bundle } from '../bundle/reader';
import { CancelledError, UserError } from '../errors';
import { QmpClient, type QmpEvent } from '../qemu/qmp';
import { requireTool } from '../qemu/tools';
import type { TimePoint } from '../timepoint';
import { killGroup, spawnGuarded, waitForExit } from '../util/processes';
import { ReplayWorkspace } from './workspace';

export interface ReplayCheckResult {
  /** icount at which the replay stopped. */
  icount: TimePoint;
  /** Where a replay of this recording ends (replayEnd in engine.ts). */
  endIcount: TimePoint;
  totalIcount: TimePoint;
  /** Console output the replay produced, compared with the recorded transcript. */
  consoleMatches: boolean;
  consoleBytes: number;
  wallSeconds: number;
}

/**
 * Replays a whole bundle from its initial snapshot and checks that it reaches the recorded end with
 * the recorded console output. The replay pauses at the end (-no-shutdown) so that its icount can
 * be read.
 */
export async function replayCheck(
  bundle: Bundle,
  endIcount: TimePoint,
  opts: { timeoutSeconds?: number; signal?: AbortSignal; onProgress?: (icount: TimePoint, total: TimePoint) => void } = {},
): Promise<ReplayCheckResult> {
  const qemu = requireTool(bundle.manifest.qemu.binary);
  const ws = await ReplayWorkspace.create(bundle);
  const total = bundle.manifest.recording.totalIcount;
  const started = Date.now();
  try {
    const out = join(ws.dir, 'console.out');
    const qmpPath = join(ws.dir, 'qmp.sock');
    const argv = [
      ...ws.replayArgs(bundle),
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
      const replayed = await fs.readFile(out);
      const recorded = await fs.readFile(bundle.path(bundle.manifest.console.raw));
      return { icount, endIcount, totalIcount: total, consoleMatches: replayed.equals(recorded), consoleBytes: replayed.length, wallSeconds: (Date.now() - started) / 1000 };
    } finally {
      qmp?.close();
      killGroup(child);
      await exited;
    }
  } finally {
    await ws.dispose();
  }
}
