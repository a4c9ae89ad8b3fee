import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { REWIND_VERSION } from '../version';
import type { DiskSetup } from './disk';
import type { GuestSetup } from './types';
import type { Manifest } from '../bundle/manifest';

/*
 * What `rewind salvage` needs to finish an interrupted recording: `rewind record` writes it into
 * OUT.partial before QEMU starts, and removes it just before the finished bundle is hashed (a
 * bundle never contains it). Everything else a bundle needs came from the recorder's memory.
 */

export const RECORDING_SETUP = 'recording-setup.json';
export const RECORDING_SETUP_SCHEMA = 'rewind.recording-setup/1';
/** The raw log and the snapshot store of a recording in progress, in OUT.partial. */
export const PARTIAL_LOG = 'replay.log';
export const PARTIAL_STORE = 'snapshots.qcow2';

export interface FileStamp {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface RecordingSetupFile {
  schema: typeof RECORDING_SETUP_SCHEMA;
  rewindVersion: string;
  /** The `rewind record` process, to tell a recording still in progress from an interrupted one. */
  recorder: { pid: number; startTicks?: number };
  startedAt: string;
  setup: GuestSetup;
  /** The guest images as they were when the recording started: a salvage refuses changed ones. */
  images: { kernel: FileStamp; initrd?: FileStamp };
  /** The disk copied into the store, with the sha256 of the user's file. */
  disk?: DiskSetup & { sha256: string };
  /** As in the manifest, but `binary` is the qemu-system binary's absolute path. */
  qemu: Omit<Manifest['qemu'], 'icountShift'> & {
    /** The machine description with the paths the recording booted, for a replay before there is a bundle. */
    machineArgsHere: string[];
  };
  /** The input script, path and text (the file may change or go away before a salvage). */
  input?: { path: string; text: string };
  snapshotInterval: number;
}

export async function stampOf(path: string): Promise<FileStamp> {
  const st = await fs.stat(path);
  return { path, size: st.size, mtimeMs: st.mtimeMs };
}

/** Start time of a process in clock ticks since boot (/proc/PID/stat field 22): a PID alone may be reused. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** The recorder of this setup file, when it is still running. */
export function liveRecorder(s: Pick<RecordingSetupFile, 'recorder'>): number | undefined {
  const ticks = processStartTicks(s.recorder.pid);
  if (ticks === undefined) return undefined;
  if (s.recorder.startTicks !== undefined && ticks !== s.recorder.startTicks) return undefined;
  return s.recorder.pid;
}

export function thisRecorder(): RecordingSetupFile['recorder'] {
  const startTicks = processStartTicks(process.pid);
  return { pid: process.pid, ...(startTicks !== undefined ? { startTicks } : {}) };
}

/** Writes the setup file into the work folder (atomically: a reader never sees half of it). */
export async function writeRecordingSetup(work: string, s: Omit<RecordingSetupFile, 'schema' | 'rewindVersion'>): Promise<RecordingSetupFile> {
  const file: RecordingSetupFile = { schema: RECORDING_SETUP_SCHEMA, rewindVersion: REWIND_VERSION, ...s };
  const tmp = join(work, `.${RECORDING_SETUP}.tmp`);
  await fs.writeFile(tmp, JSON.stringify(file, null, 2) + '\n');
  await fs.rename(tmp, join(work, RECORDING_SETUP));
  return file;
}

export type SetupRead = { ok: true; file: RecordingSetupFile } | { ok: false; missing: boolean; problem: string };

/** Reads OUT.partial/recording-setup.json; says what is wrong with it rather than throwing. */
export async function readRecordingSetup(work: string): Promise<SetupRead> {
  let text: string;
  try {
    text = await fs.readFile(join(work, RECORDING_SETUP), 'utf8');
  } catch {
    return { ok: false, missing: true, problem: `it has no ${RECORDING_SETUP}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, missing: false, problem: `its ${RECORDING_SETUP} is not valid JSON (${(e as Error).message})` };
  }
  const f = json as Partial<RecordingSetupFile> | null;
  if (!f || typeof f !== 'object' || f.schema !== RECORDING_SETUP_SCHEMA) {
    return { ok: false, missing: false, problem: `its ${RECORDING_SETUP} is not a ${RECORDING_SETUP_SCHEMA} file (written by another version of Rewind?)` };
  }
  const complete =
    typeof f.recorder?.pid === 'number' &&
    typeof f.startedAt === 'string' &&
    typeof f.setup?.kernelPath === 'string' &&
    typeof f.images?.kernel?.size === 'number' &&
    typeof f.qemu?.binary === 'string' &&
    Array.isArray(f.qemu.recordArgv) &&
    Array.isArray(f.qemu.machineArgs) &&
    Array.isArray(f.qemu.machineArgsHere) &&
    typeof f.snapshotInterval === 'number';
  if (!complete) return { ok: false, missing: false, problem: `its ${RECORDING_SETUP} is missing fields` };
  return { ok: true, file: f as RecordingSetupFile };
}

/** The setup file of a recording about to start (record()'s values, gathered here to keep record() short). */
export async function recordingSetupFor(r: {
  setup: GuestSetup;
  disk: (DiskSetup & { sha256: string }) | undefined;
  qemuBinary: string;
  qemuVersion: { version: string; banner: string };
  argv: string[];
  machineArgs: string[];
  machineArgsHere: string[];
  input: string | undefined;
  snapshotInterval: number;
}): Promise<Omit<RecordingSetupFile, 'schema' | 'rewindVersion'>> {
  const { setup } = r;
  return {
    recorder: thisRecorder(),
    startedAt: new Date().toISOString(),
    setup,
    images: { kernel: await stampOf(setup.kernelPath), ...(setup.initrdPath ? { initrd: await stampOf(setup.initrdPath) } : {}) },
    ...(r.disk ? { disk: r.disk } : {}),
    qemu: { binary: r.qemuBinary, ...r.qemuVersion, recordArgv: [r.qemuBinary, ...r.argv], machineArgs: r.machineArgs, machineArgsHere: r.machineArgsHere },
    ...(r.input ? { input: { path: resolve(r.input), text: await fs.readFile(r.input, 'latin1') } } : {}),
    snapshotInterval: r.snapshotInterval,
  };
}
