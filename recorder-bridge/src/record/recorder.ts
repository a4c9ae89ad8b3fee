import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../errors';
import { chooseQemu } from '../qemu/qemu-binary';
import { qemuVersion, requireTool } from '../qemu/tools';
import { storeDriveArgs } from '../bundle/drive';
import { MANIFEST } from '../bundle/layout';
import { copyDiskIntoStore } from './disk';
import { finalizeBundle } from './finalize';
import { consoleAndControlArgs, consoleFifos, machineArgsFor, prepareGuest, runTool } from './guest';
import { readInputScript } from './input-script';
import { unfinishedLogError } from './partial';
import { recordingSetupFor, writeRecordingSetup } from './recording-setup';
import { DEFAULT_MAX_LOG_BYTES, DEFAULT_SNAPSHOT_EVERY, defaultMaxLogBytes, GuestSession, RecordingRun } from './recording-run';
import type { RecordOptions, RecordResult } from './types';
import type { StopReason } from '../bundle/manifest';
import type { TimePoint } from '../timepoint';

export { DEFAULT_MAX_LOG_BYTES, DEFAULT_SNAPSHOT_EVERY, defaultMaxLogBytes };
export type { GuestSetup, RecordOptions, RecordProgress, RecordResult } from './types';

/** Records a guest into a new bundle directory. */
export async function record(opts: RecordOptions): Promise<RecordResult> {
  const out = resolve(opts.out);
  const setup = await prepareGuest(opts);
  const steps = opts.input ? await readInputScript(opts.input) : [];
  await checkOutput(out);
  const qemu = chooseQemu(setup.kernelInfo.qemuBinary).path;
  const qemuImg = requireTool('qemu-img');

  const work = `${out}.partial`;
  await fs.mkdir(work);
  const sockets = await fs.mkdtemp(join(tmpdir(), 'rewind-rec-'));
  try {
    const snapshotsFile = join(work, 'snapshots.qcow2');
    const rawLog = join(work, 'replay.log');
    // With a disk, the snapshot store is the disk (bundle/drive.ts); without, an empty qcow2.
    let diskSha256: string | undefined;
    if (setup.disk) {
      opts.onProgress?.({ phase: 'starting', elapsedMs: 0, icount: 0, logBytes: 0, snapshots: 0, consoleTail: [`copying the disk image ${setup.disk.path} into the recording`] });
      diskSha256 = (await copyDiskIntoStore(setup.disk, snapshotsFile, qemuImg)).sha256;
    }
    else await runTool(qemuImg, ['create', '-q', '-f', 'qcow2', snapshotsFile, '1G']);
    const machineArgs = machineArgsFor(setup, { kernel: setup.kernelPath, initrd: setup.initrdPath });
    const argv = [
      ...machineArgs,
      '-icount', `shift=auto,rr=record,rrfile=${rawLog},rrsnapshot=init`,
      ...storeDriveArgs(snapshotsFile, setup.disk),
      ...consoleAndControlArgs(sockets),
    ];
    // Before QEMU starts: what `rewind salvage` needs if this process or QEMU is killed.
    await writeRecordingSetup(work, await recordingSetupFor({
      setup,
      disk: setup.disk && diskSha256 ? { ...setup.disk, sha256: diskSha256 } : undefined,
      qemuBinary: qemu,
      qemuVersion: await qemuVersion(qemu),
      argv,
      machineArgs: machineArgsFor(setup, { kernel: '${bundle}/guest/kernel', initrd: setup.initrdPath ? '${bundle}/guest/initrd' : undefined }),
      machineArgsHere: machineArgs,
      input: opts.input,
      snapshotInterval: opts.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY,
    }));
    const session = await GuestSession.start(qemu, argv, sockets, await consoleFifos(sockets));
    const run = new RecordingRun(session, opts, steps, rawLog);
    const outcome = await run.run();
    const unfinished = await unfinishedLogError(rawLog, work, outcome.stopDetail);
    if (unfinished) throw unfinished;
    opts.onProgress?.({ ...run.progress(), phase: 'finalizing' });
    const verifyStart = Date.now();
    const version = await qemuVersion(qemu);
    const last = run.progress();
    const manifest = await finalizeBundle({
      work,
      out,
      rawLog,
      snapshotsFile,
      qemuImg,
      qemu: { binary: basename(qemu), version: version.version, banner: version.banner, recordArgv: [qemu, ...argv], machineArgs: machineArgsFor(setup, { kernel: '${bundle}/guest/kernel', initrd: setup.initrdPath ? '${bundle}/guest/initrd' : undefined }) },
      setup,
      ...(setup.disk && diskSha256 ? { disk: { ...setup.disk, sha256: diskSha256 } } : {}),
      inputScript: opts.input,
      console: session.console,
      snapshotInterval: opts.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY,
      startedAt: outcome.startedAt,
      finishedAt: outcome.finishedAt,
      stopReason: outcome.stopReason,
      stopDetail: outcome.stopDetail,
      stopFromLog: true,
      warnings: [...setup.warnings, ...outcome.warnings],
      verify: {
        ...(opts.finishSignal ? { signal: opts.finishSignal } : {}),
        onProgress: (done, total) => opts.onProgress?.({ ...last, phase: 'verifying', elapsedMs: Date.now() - verifyStart, icount: done, totalIcount: total }),
      },
    });
    const { stopReason, stopDetail } = manifest.recording;
    return { bundle: out, stopReason, ...(stopDetail ? { stopDetail } : {}), warnings: manifest.recording.warnings };
  } catch (e) {
    // A recording that failed before it produced a usable log is not worth keeping; anything else
    // (a finished log that could not be bundled, a bundle whose finishing failed) stays in the
    // .partial directory, for `rewind salvage`.
    const has = (name: string, min: number) => fs.stat(join(work, name)).then((s) => s.size >= min, () => false);
    const keep = (await has('replay.log', 1)) || (await has(MANIFEST, 0));
    if (!keep) await fs.rm(work, { recursive: true, force: true });
    throw e;
  } finally {
    await fs.rm(sockets, { recursive: true, force: true });
  }
}

/**
 * Runs the guest the same way, but without record/replay (plain TCG with -icount shift=auto), and
 * drives the same input. The record benchmark compares the two.
 */
export async function runWithoutRecording(opts: Omit<RecordOptions, 'out' | 'snapshotEvery'>): Promise<{ wallSeconds: number; icount: TimePoint; stopReason: StopReason }> {
  const setup = await prepareGuest(opts);
  const steps = opts.input ? await readInputScript(opts.input) : [];
  const qemu = chooseQemu(setup.kernelInfo.qemuBinary).path;
  const sockets = await fs.mkdtemp(join(tmpdir(), 'rewind-run-'));
  try {
    // The same disk device as a recording, on a private copy (blkreplay passes requests through outside record/replay).
    const store = join(sockets, 'disk.qcow2');
    if (setup.disk) await copyDiskIntoStore(setup.disk, store, requireTool('qemu-img'));
    const disk = setup.disk ? storeDriveArgs(store, setup.disk) : [];
    const argv = [...machineArgsFor(setup, { kernel: setup.kernelPath, initrd: setup.initrdPath }), '-icount', 'shift=auto', ...disk, ...consoleAndControlArgs(sockets)];
    const session = await GuestSession.start(qemu, argv, sockets, await consoleFifos(sockets));
    const run = new RecordingRun(session, { ...opts, snapshotEvery: 0 }, steps, undefined);
    const outcome = await run.run();
    return { wallSeconds: outcome.wallSeconds, icount: run.progress().icount, stopReason: outcome.stopReason };
  } finally {
    await fs.rm(sockets, { recursive: true, force: true });
  }
}

async function checkOutput(out: string): Promise<void> {
  if (await fs.stat(out).then(() => true, () => false)) {
    throw new UserError(`${out} already exists; Rewind never overwrites a recording: choose another --out or remove it`, 'out-exists');
  }
  if (await fs.stat(`${out}.partial`).then(() => true, () => false)) {
    throw new UserError(`${out}.partial exists: an earlier recording to this path was interrupted; remove it or choose another --out`, 'out-exists');
  }
  const parent = dirname(out);
  if (!(await fs.stat(parent).then((s) => s.isDirectory(), () => false))) {
    throw new UserError(`the folder ${parent} does not exist; create it or choose another --out`, 'out-parent-missing');
  }
}
