import { promises as fs } from 'node:fs';
import { basename, join } from 'node:path';
import { UserError } from '../errors';
import { liveRecorder, PARTIAL_LOG, readRecordingSetup, RECORDING_SETUP, type SetupRead } from './recording-setup';

/*
 * OUT.partial: where `rewind record` works until the bundle is complete (docs/bundle-format.md).
 * One left behind with no recorder running is an interrupted recording.
 */

export const PARTIAL_SUFFIX = '.partial';

export interface PartialFolder {
  dir: string;
  setup: SetupRead;
  /** Bytes of the raw log (undefined when there is none). */
  logBytes: number | undefined;
  /** PID of the `rewind record` still writing it. */
  recorderPid: number | undefined;
}

/** Whether a folder without a manifest is a recording's work folder. */
export async function looksLikePartial(dir: string): Promise<boolean> {
  if (basename(dir).endsWith(PARTIAL_SUFFIX)) return true;
  for (const name of [RECORDING_SETUP, PARTIAL_LOG]) {
    if (await fs.stat(join(dir, name)).then(() => true, () => false)) return true;
  }
  return false;
}

export async function inspectPartial(dir: string): Promise<PartialFolder> {
  const setup = await readRecordingSetup(dir);
  const logBytes = await fs.stat(join(dir, PARTIAL_LOG)).then((s) => s.size, () => undefined);
  return { dir, setup, logBytes, recorderPid: setup.ok ? liveRecorder(setup.file) : undefined };
}

/**
 * The error for a command given a recording that is not finished: still being recorded, or
 * interrupted (and then whether `rewind salvage` can make a bundle of it). `shown` is the path as
 * the user should type it.
 */
export function incompleteRecordingError(p: PartialFolder, shown: string): UserError {
  if (p.recorderPid !== undefined) {
    return new UserError(
      `${shown} is a recording in progress (rewind record, process ${p.recorderPid}); wait until it finishes, or stop it with Ctrl-C (the bundle is then completed)`,
      'recording-in-progress',
    );
  }
  if (p.setup.ok) {
    return new UserError(
      `${shown} is an incomplete recording: it was interrupted (rewind record or its QEMU was killed or crashed) before the bundle was finished; ` +
        `make a bundle of what was recorded with \`rewind salvage ${shown}\``,
      'recording-incomplete',
    );
  }
  return new UserError(
    `${shown} is an incomplete recording that cannot be salvaged: ${p.setup.problem} ` +
      `(it was interrupted before QEMU started or while the bundle was being finished, or made by an older Rewind); record it again`,
    'recording-incomplete',
  );
}

/**
 * A QEMU that was killed (or crashed) leaves a log whose version dword is still zero (replay-log/
 * parser.ts): it cannot be bundled as it is, but `rewind salvage` makes a bundle of what it holds.
 * Returns the error that says so, or undefined for a finished (or empty) log.
 */
export async function unfinishedLogError(rawLog: string, work: string, why: string | undefined): Promise<UserError | undefined> {
  const header = Buffer.alloc(4);
  try {
    const f = await fs.open(rawLog, 'r');
    try {
      if ((await f.read(header, 0, 4, 0)).bytesRead < 4) return undefined;
    } finally {
      await f.close();
    }
  } catch {
    return undefined;
  }
  if (header.readUInt32BE(0) !== 0) return undefined;
  return new UserError(
    `QEMU ended without finishing its replay log (${why ?? 'it was killed'}); what was recorded until then is in ${work}: ` +
      `make a bundle of it with \`rewind salvage ${work}\``,
    'record-interrupted',
  );
}
