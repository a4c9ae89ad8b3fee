import { execFile } from 'node:child_process';
import { constants as fsc, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as layout from '../bundle/layout';
import { storeDriveArgs } from '../bundle/drive';
import type { Manifest } from '../bundle/manifest';
import { CancelledError, UserError } from '../errors';
import { findOnPath, requireTool } from '../qemu/tools';
import { cutAtLastEvent, ReplayLogError, type CutLog } from '../replay-log';
import { replayConsole } from '../replay/check';
import { replayEnd } from '../replay/engine';
import { formatIcount, type TimePoint } from '../timepoint';
import { ConsoleTranscript } from './console';
import { finalizeBundle } from './finalize';
import { incompleteRecordingError, inspectPartial, PARTIAL_SUFFIX } from './partial';
import { PARTIAL_LOG, PARTIAL_STORE, RECORDING_SETUP, type FileStamp, type RecordingSetupFile } from './recording-setup';
import { dropSnapshotsFrom, repairStore } from './salvage-store';
import { finishInterruptedBundle, hasManifest } from './finish-partial';

/*
 * `rewind salvage OUT.partial`: makes a bundle of an interrupted recording, ending where its log
 * ends (docs/recording.md, "Interrupted recordings"). The .partial folder is only read: the log is
 * cut in memory, the snapshot store is repaired and trimmed on a copy, and the console (which was
 * only in the dead recorder's memory) is what a replay of the cut log prints.
 */

const execFileAsync = promisify(execFile);

export interface SalvageOptions {
  /** The OUT.partial folder (or OUT, when only OUT.partial exists). */
  partial: string;
  /** The bundle to write; default: the .partial folder's name without `.partial`. */
  out?: string;
  /** Limit for the replay that recovers the console (default 600 s). */
  timeoutSeconds?: number;
  signal?: AbortSignal;
  onProgress?: (p: SalvageProgress) => void;
}

/** A step, and during the replays how far they are. */
export interface SalvageProgress {
  step: string;
  icount?: TimePoint;
  total?: TimePoint;
}

export interface SalvageResult {
  bundle: string;
  partial: string;
  manifest: Manifest;
  /** Where the salvaged recording ends. */
  totalIcount: TimePoint;
  /** True when QEMU had finished the log (the recorder died while finishing the bundle). */
  logWasComplete: boolean;
  /** Bytes of the raw log after its last complete event. */
  droppedLogBytes: number;
  /** Snapshots deleted from the copy of the store: past the end of the log, or unusable. */
  droppedSnapshots: string[];
  /** Leaked clusters repaired (a snapshot was being saved when QEMU died). */
  repairedLeaks: number;
}

export async function salvage(opts: SalvageOptions): Promise<SalvageResult> {
  const progress = (step: string) => opts.onProgress?.({ step });
  const cancelled = () => {
    if (opts.signal?.aborted) throw new CancelledError('salvage');
  };
  const { dir, shown } = await findPartial(opts.partial);
  const state = await inspectPartial(dir);
  if (state.recorderPid !== undefined) throw incompleteRecordingError(state, shown);
  if (await hasManifest(dir)) {
    // The recording was complete; the recorder died while it verified the snapshots.
    const out = resolve(opts.out ?? defaultOut(dir, shown));
    await checkOut(out);
    progress('finishing the bundle the recorder was writing');
    const done = await finishInterruptedBundle(dir, out, requireTool('qemu-img'), shown);
    const total = done.manifest.recording.totalIcount;
    return { bundle: out, partial: dir, manifest: done.manifest, totalIcount: total, logWasComplete: true, droppedLogBytes: 0, droppedSnapshots: [], repairedLeaks: done.repairedLeaks };
  }
  if (!state.setup.ok) throw incompleteRecordingError(state, shown);
  const setup = state.setup.file;
  const qemuImg = requireTool('qemu-img');
  const store = join(dir, PARTIAL_STORE);
  await refuseStoreInUse(qemuImg, store, shown);

  progress('reading the replay log');
  const raw = await readPartialLog(dir, shown);
  let cut: CutLog | undefined;
  try {
    cut = cutAtLastEvent(raw, opts.signal ? { signal: opts.signal } : {});
  } catch (e) {
    if (e instanceof ReplayLogError && e.code === 'truncated') cut = undefined;
    else if (e instanceof ReplayLogError) throw new UserError(`${shown}/${PARTIAL_LOG} cannot be salvaged: ${e.message}`, `salvage-log-${e.code}`);
    else throw e;
  }
  if (!cut || cut.index.totalIcount === 0) {
    throw new UserError(
      `${shown}/${PARTIAL_LOG} holds no complete event (${raw.length} bytes): QEMU was stopped before it recorded anything that can be replayed; record it again`,
      'salvage-log-empty',
    );
  }
  const end = replayEnd(cut.index);
  cancelled();

  const out = resolve(opts.out ?? defaultOut(dir, shown));
  await checkOut(out);
  await checkImages(setup);
  // Next to OUT (finalizeBundle renames it into place), with the mode a new folder gets.
  const work = join(dirname(out), `.${basename(out)}.salvage-${process.pid}-${Date.now()}`);
  await fs.mkdir(work);
  const scratch = await fs.mkdtemp(join(tmpdir(), 'rewind-salvage-'));
  try {
    const log = join(work, PARTIAL_LOG);
    await fs.writeFile(log, cut.log);
    progress('copying the snapshot store');
    const workStore = join(work, layout.SNAPSHOTS);
    await fs.copyFile(store, workStore, fsc.COPYFILE_FICLONE);
    await fs.chmod(workStore, 0o644);
    cancelled();
    progress('checking the snapshot store');
    const repairedLeaks = await repairStore(qemuImg, workStore, `${shown}/${PARTIAL_STORE}`);
    const droppedSnapshots = await dropSnapshotsFrom(qemuImg, workStore, end);
    cancelled();

    progress('replaying the log to recover the console output');
    const replayStore = join(scratch, 'replay.qcow2');
    await fs.copyFile(workStore, replayStore, fsc.COPYFILE_FICLONE);
    const qemu = existsExecutable(setup.qemu.binary) ?? requireTool(basename(setup.qemu.binary));
    const replayArgs = [
      ...setup.qemu.machineArgsHere,
      '-icount', `shift=auto,rr=replay,rrfile=${log},rrsnapshot=${layout.INITIAL_SNAPSHOT}`,
      ...storeDriveArgs(replayStore, setup.disk),
    ];
    let replayed: { icount: TimePoint; console: Buffer };
    try {
      replayed = await replayConsole(
        { qemu, replayArgs, dir: scratch, endIcount: end, totalIcount: cut.index.totalIcount },
        {
          ...(opts.timeoutSeconds !== undefined ? { timeoutSeconds: opts.timeoutSeconds } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          onProgress: (icount, total) => opts.onProgress?.({ step: 'replaying the log to recover the console output', icount, total }),
        },
      );
    } catch (e) {
      if (e instanceof CancelledError) throw new CancelledError('salvage');
      if (e instanceof UserError) throw new UserError(`the salvaged log of ${shown} does not replay (${e.message}); it cannot be made into a bundle`, 'salvage-replay-failed');
      throw e;
    }
    if (replayed.icount < end) {
      throw new UserError(`the salvaged log of ${shown} replays only to icount ${replayed.icount}, not to its end at ${end}; it cannot be made into a bundle`, 'salvage-replay-failed');
    }
    await fs.rm(replayStore, { force: true });
    cancelled();

    progress('finishing the bundle');
    const transcript = new ConsoleTranscript();
    transcript.append(replayed.console);
    transcript.finish();
    let inputScript: string | undefined;
    if (setup.input) {
      inputScript = join(scratch, 'input.txt');
      await fs.writeFile(inputScript, Buffer.from(setup.input.text, 'latin1'));
    }
    const finishedAt = (await fs.stat(join(dir, PARTIAL_LOG)).catch(() => undefined))?.mtime ?? new Date();
    const detail =
      `salvaged from an interrupted recording: ${cut.wasComplete ? 'QEMU had finished the log' : `the log ends after its last complete event, at icount ${end} (${formatIcount(end)})`}` +
      (droppedSnapshots.length ? `; snapshots past that dropped: ${droppedSnapshots.join(', ')}` : '') +
      '; the console is what a replay printed';
    const { warnings, ...guest } = setup.setup;
    const manifest = await finalizeBundle({
      work,
      out,
      rawLog: log,
      snapshotsFile: workStore,
      qemuImg,
      qemu: { binary: basename(setup.qemu.binary), version: setup.qemu.version, banner: setup.qemu.banner, recordArgv: setup.qemu.recordArgv, machineArgs: setup.qemu.machineArgs },
      setup: guest,
      ...(setup.disk ? { disk: setup.disk } : {}),
      inputScript,
      console: transcript,
      snapshotInterval: setup.snapshotInterval,
      startedAt: setup.startedAt,
      finishedAt: new Date(Math.max(finishedAt.getTime(), Date.parse(setup.startedAt))).toISOString(),
      stopReason: 'qemu-exited',
      stopDetail: detail,
      warnings: [...warnings, `salvaged by \`rewind salvage\` from ${dir}`],
      verify: {
        ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (icount, total) => opts.onProgress?.({ step: 'verifying the snapshots', icount, total }),
      },
    });
    return {
      bundle: out,
      partial: dir,
      manifest,
      totalIcount: manifest.recording.totalIcount,
      logWasComplete: cut.wasComplete,
      droppedLogBytes: cut.droppedBytes,
      droppedSnapshots,
      repairedLeaks,
    };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
    // Gone when finalizeBundle renamed it into place; otherwise half a bundle of ours.
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** The .partial folder to salvage: the path given, or PATH.partial when only that exists. */
async function findPartial(given: string): Promise<{ dir: string; shown: string }> {
  const dir = resolve(given);
  const st = await fs.stat(dir).catch(() => undefined);
  if (!st) {
    if (await fs.stat(dir + PARTIAL_SUFFIX).then((s) => s.isDirectory(), () => false)) return { dir: dir + PARTIAL_SUFFIX, shown: given + PARTIAL_SUFFIX };
    throw new UserError(`no folder at ${given}; pass the OUT.partial folder an interrupted \`rewind record --out OUT\` left`, 'salvage-missing');
  }
  if (!st.isDirectory()) throw new UserError(`${given} is not a folder; pass the OUT.partial folder an interrupted \`rewind record --out OUT\` left`, 'salvage-not-partial');
  if (await fs.stat(join(dir, layout.MANIFEST)).then(() => true, () => false)) {
    throw new UserError(`${given} is a finished recording (it has a ${layout.MANIFEST}); there is nothing to salvage (\`rewind check ${given}\` checks it)`, 'salvage-not-partial');
  }
  const hasSetup = await fs.stat(join(dir, RECORDING_SETUP)).then(() => true, () => false);
  const hasLog = await fs.stat(join(dir, PARTIAL_LOG)).then(() => true, () => false);
  if (!hasSetup && !hasLog) {
    throw new UserError(`${given} is not the .partial folder of a recording (it has neither ${RECORDING_SETUP} nor ${PARTIAL_LOG}); pass the OUT.partial folder an interrupted \`rewind record --out OUT\` left`, 'salvage-not-partial');
  }
  return { dir, shown: given.replace(/\/+$/, '') };
}

function defaultOut(dir: string, shown: string): string {
  if (!dir.endsWith(PARTIAL_SUFFIX)) throw new UserError(`${shown} does not end in ${PARTIAL_SUFFIX}; say where the bundle goes with --out DIR`, 'bad-option');
  return dir.slice(0, -PARTIAL_SUFFIX.length);
}

async function checkOut(out: string): Promise<void> {
  if (await fs.stat(out).then(() => true, () => false)) {
    throw new UserError(`${out} already exists; Rewind never overwrites a recording: choose another --out or remove it`, 'out-exists');
  }
  if (!(await fs.stat(dirname(out)).then((s) => s.isDirectory(), () => false))) {
    throw new UserError(`the folder ${dirname(out)} does not exist; create it or choose another --out`, 'out-parent-missing');
  }
}

/**
 * A QEMU still recording holds a write lock on the store (QEMU's image locking): qemu-img then
 * cannot open it. This catches a recording whose recorder is gone but whose QEMU is not (yet).
 */
async function refuseStoreInUse(qemuImg: string, store: string, shown: string): Promise<void> {
  if (!(await fs.stat(store).then((s) => s.isFile(), () => false))) {
    throw new UserError(`${shown} has no snapshot store (${PARTIAL_STORE}); the recording was interrupted before QEMU started and cannot be salvaged: record it again`, 'salvage-no-store');
  }
  try {
    await execFileAsync(qemuImg, ['info', '--output=json', store], { maxBuffer: 16 << 20 });
  } catch (e) {
    const msg = ((e as { stderr?: string }).stderr ?? '').trim().split('\n').pop() ?? '';
    if (/lock/i.test(msg)) {
      throw new UserError(`${shown} is still being recorded: a QEMU has its snapshot store open (${msg.replace(/^qemu-img: /, '')}); wait until it ends`, 'recording-in-progress');
    }
    throw new UserError(`qemu-img cannot read the snapshot store of ${shown} (${msg}); the recording cannot be salvaged`, 'salvage-store-damaged');
  }
}

async function readPartialLog(dir: string, shown: string): Promise<Buffer> {
  const raw = await fs.readFile(join(dir, PARTIAL_LOG)).catch(() => undefined);
  if (!raw) throw new UserError(`${shown} has no replay log (${PARTIAL_LOG}); there is nothing to salvage, record it again`, 'salvage-no-log');
  if (raw.length === 0) {
    throw new UserError(
      `${shown}/${PARTIAL_LOG} is empty: QEMU writes its log in 4 KiB blocks and was stopped before it wrote the first one; there is nothing to salvage, record it again`,
      'salvage-log-empty',
    );
  }
  return raw;
}

/** The guest images are copied into the bundle from where they were booted: they must not have changed. */
async function checkImages(setup: RecordingSetupFile): Promise<void> {
  const stamps: Array<[string, FileStamp]> = [['kernel', setup.images.kernel]];
  if (setup.images.initrd) stamps.push(['initrd', setup.images.initrd]);
  for (const [what, stamp] of stamps) {
    const st = await fs.stat(stamp.path).catch(() => undefined);
    if (!st) throw new UserError(`the ${what} of the recording, ${stamp.path}, is gone; put it back to salvage the recording`, 'salvage-image-changed');
    if (st.size !== stamp.size || st.mtimeMs !== stamp.mtimeMs) {
      throw new UserError(`the ${what} of the recording, ${stamp.path}, changed since it was recorded; put the recorded one back to salvage the recording`, 'salvage-image-changed');
    }
  }
}

function existsExecutable(path: string): string | undefined {
  return findOnPath(basename(path), { PATH: dirname(path) });
}
