import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../errors';
import { probeKernel, type KernelInfo } from '../qemu/kernel-probe';
import { qemuVersion, requireTool } from '../qemu/tools';
import type { StopReason } from '../bundle/manifest';
import { storeDriveArgs } from '../bundle/drive';
import type { TimePoint } from '../timepoint';
import { waitForExit } from '../util/processes';
import { readInputScript } from './input-script';
import { withLinuxDefaults } from './linux-defaults';
import { copyDiskIntoStore, probeDisk, type DiskSetup } from './disk';
import { finalizeBundle } from './finalize';
import { recordingSetupFor, writeRecordingSetup } from './recording-setup';
import { MANIFEST } from '../bundle/layout';
import { unfinishedLogError } from './partial';
import { DEFAULT_MAX_LOG_BYTES, DEFAULT_SNAPSHOT_EVERY, defaultMaxLogBytes, GuestSession, RecordingRun } from './recording-run';

export interface RecordOptions {
  kernel: string;
  initrd?: string;
  /** Kernel command line. */
  append?: string;
  /** Add the Linux recording defaults (console=ttyS0 nohz=off nokaslr panic=-1) to a bzImage's command line. Default true. */
  linuxDefaults?: boolean;
  /** The Linux preset: the kernel must be a bzImage, and the Linux defaults apply (they cannot be turned off). */
  linux?: boolean;
  /** A raw or qcow2 disk image, recorded through blkreplay (only read: it is copied into the recording). */
  disk?: string;
  memoryMiB?: number;
  /** Input script for the serial console (see input-script.ts). */
  input?: string;
  /** Where to write the bundle directory; must not exist yet. */
  out: string;
  /** Stop after this many wall-clock seconds. */
  timeoutSeconds?: number;
  /** Stop when the console prints this text. */
  stopOn?: string;
  /** Take a snapshot every this many instructions (0: only the initial one). */
  snapshotEvery?: TimePoint;
  /** How long an `expect` waits, in wall-clock seconds. */
  expectTimeoutSeconds?: number;
  /** Stop once the replay log has this many bytes (default defaultMaxLogBytes(): 128 MiB, less where Node.js has less memory; 0: no limit). */
  maxLogBytes?: number;
  signal?: AbortSignal;
  /**
   * Cancels the work after the recording stopped: the snapshot verification (the bundle is kept,
   * its unchecked snapshots are checked on first open). `signal` stops the recording itself.
   */
  finishSignal?: AbortSignal;
  onProgress?: (p: RecordProgress) => void;
}

export interface RecordProgress {
  phase: 'starting' | 'recording' | 'stopping' | 'finalizing' | 'verifying';
  /** While verifying: the instructions of the recording (icount: those replayed so far). */
  totalIcount?: TimePoint;
  elapsedMs: number;
  icount: TimePoint;
  logBytes: number;
  snapshots: number;
  consoleTail: string[];
}

export interface RecordResult {
  bundle: string;
  stopReason: StopReason;
  stopDetail?: string;
  warnings: string[];
}

/** The guest as it will be booted: shared by a recording and the benchmark's plain -icount run. */
export interface GuestSetup {
  kernelPath: string;
  kernelInfo: KernelInfo;
  initrdPath?: string;
  append: string;
  appendDefaults: string[];
  memoryMiB: number;
  /** The disk, when there is one. */
  disk?: DiskSetup;
  warnings: string[];
}

export { DEFAULT_MAX_LOG_BYTES, DEFAULT_SNAPSHOT_EVERY, defaultMaxLogBytes };

/** Records a guest into a new bundle directory. */
export async function record(opts: RecordOptions): Promise<RecordResult> {
  const out = resolve(opts.out);
  const setup = await prepareGuest(opts);
  const steps = opts.input ? await readInputScript(opts.input) : [];
  await checkOutput(out);
  const qemuBinary = requireTool(setup.kernelInfo.qemuBinary);
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
      qemuBinary,
      qemuVersion: await qemuVersion(qemuBinary),
      argv,
      machineArgs: machineArgsFor(setup, { kernel: '${bundle}/guest/kernel', initrd: setup.initrdPath ? '${bundle}/guest/initrd' : undefined }),
      machineArgsHere: machineArgs,
      input: opts.input,
      snapshotInterval: opts.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY,
    }));
    const session = await GuestSession.start(qemuBinary, argv, sockets, await consoleFifos(sockets));
    const run = new RecordingRun(session, opts, steps, rawLog);
    const outcome = await run.run();
    const unfinished = await unfinishedLogError(rawLog, work, outcome.stopDetail);
    if (unfinished) throw unfinished;
    opts.onProgress?.({ ...run.progress(), phase: 'finalizing' });
    const verifyStart = Date.now();
    const version = await qemuVersion(qemuBinary);
    const last = run.progress();
    const manifest = await finalizeBundle({
      work,
      out,
      rawLog,
      snapshotsFile,
      qemuImg,
      qemu: { binary: basename(qemuBinary), version: version.version, banner: version.banner, recordArgv: [qemuBinary, ...argv], machineArgs: machineArgsFor(setup, { kernel: '${bundle}/guest/kernel', initrd: setup.initrdPath ? '${bundle}/guest/initrd' : undefined }) },
      setup,
      ...(setup.disk && diskSha256 ? { disk: { ...setup.disk, sha256: diskSha256 } } : {}),
      inputScript: opts.input,
      console: session.console,
      snapshotInterval: opts.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY,
      startedAt: outcome.startedAt,
      finishedAt: outcome.finishedAt,
      stopReason: outcome.stopReason,
      stopDetail: outcome.stopDetail,
      warnings: [...setup.warnings, ...outcome.warnings],
      verify: {
        ...(opts.finishSignal ? { signal: opts.finishSignal } : {}),
        onProgress: (done, total) => opts.onProgress?.({ ...last, phase: 'verifying', elapsedMs: Date.now() - verifyStart, icount: done, totalIcount: total }),
      },
    });
    return { bundle: out, stopReason: outcome.stopReason, ...(outcome.stopDetail ? { stopDetail: outcome.stopDetail } : {}), warnings: manifest.recording.warnings };
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
  const qemuBinary = requireTool(setup.kernelInfo.qemuBinary);
  const sockets = await fs.mkdtemp(join(tmpdir(), 'rewind-run-'));
  try {
    // The same disk device as a recording, on a private copy (blkreplay passes requests through outside record/replay).
    const store = join(sockets, 'disk.qcow2');
    if (setup.disk) await copyDiskIntoStore(setup.disk, store, requireTool('qemu-img'));
    const disk = setup.disk ? storeDriveArgs(store, setup.disk) : [];
    const argv = [...machineArgsFor(setup, { kernel: setup.kernelPath, initrd: setup.initrdPath }), '-icount', 'shift=auto', ...disk, ...consoleAndControlArgs(sockets)];
    const session = await GuestSession.start(qemuBinary, argv, sockets, await consoleFifos(sockets));
    const run = new RecordingRun(session, { ...opts, snapshotEvery: 0 }, steps, undefined);
    const outcome = await run.run();
    return { wallSeconds: outcome.wallSeconds, icount: run.progress().icount, stopReason: outcome.stopReason };
  } finally {
    await fs.rm(sockets, { recursive: true, force: true });
  }
}

async function prepareGuest(opts: Pick<RecordOptions, 'kernel' | 'initrd' | 'append' | 'linuxDefaults' | 'linux' | 'memoryMiB' | 'disk' | 'maxLogBytes'>): Promise<GuestSetup> {
  if (opts.linux && opts.linuxDefaults === false) {
    throw new UserError('the Linux preset (--linux) always adds the Linux recording defaults; drop --no-linux-defaults, or drop --linux and set the command line yourself', 'bad-option');
  }
  if (opts.maxLogBytes !== undefined && !(Number.isSafeInteger(opts.maxLogBytes) && opts.maxLogBytes >= 0)) {
    throw new UserError(`the log limit must be a whole number of bytes (0: no limit), got ${opts.maxLogBytes}`, 'bad-option');
  }
  const kernelPath = resolve(opts.kernel);
  const kernelInfo = await probeKernel(kernelPath);
  if (opts.linux && kernelInfo.format !== 'linux-bzimage') {
    throw new UserError(
      `--linux records a Linux bzImage (arch/x86/boot/bzImage, or /boot/vmlinuz-* in Debian's linux-image packages), but ${opts.kernel} is a ${kernelInfo.format} kernel; pass the bzImage, or drop --linux for other kernels`,
      'kernel-invalid',
    );
  }
  let initrdPath: string | undefined;
  if (opts.initrd) {
    initrdPath = resolve(opts.initrd);
    const st = await fs.stat(initrdPath).catch(() => undefined);
    if (!st?.isFile()) throw new UserError(`initrd not found: ${opts.initrd}; check the path`, 'initrd-missing');
  }
  let append = opts.append ?? '';
  let appendDefaults: string[] = [];
  const warnings: string[] = [];
  if (kernelInfo.format === 'linux-bzimage' && opts.linuxDefaults !== false) {
    const d = withLinuxDefaults(append);
    append = d.append;
    appendDefaults = d.added;
    warnings.push(...d.warnings);
  }
  const memoryMiB = opts.memoryMiB ?? (kernelInfo.format === 'linux-bzimage' ? 256 : 64);
  if (!Number.isInteger(memoryMiB) || memoryMiB < 8 || memoryMiB > 65536) {
    throw new UserError(`memory must be a whole number of MiB between 8 and 65536, got ${opts.memoryMiB}`, 'bad-option');
  }
  const disk = opts.disk !== undefined ? await probeDisk(opts.disk, requireTool('qemu-img')) : undefined;
  return { kernelPath, kernelInfo, ...(initrdPath ? { initrdPath } : {}), append, appendDefaults, memoryMiB, ...(disk ? { disk } : {}), warnings };
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

/** The machine description: everything that must be identical between record and replay. */
export function machineArgsFor(setup: Pick<GuestSetup, 'memoryMiB' | 'append'>, files: { kernel: string; initrd?: string | undefined }): string[] {
  const args = ['-machine', 'pc', '-nodefaults', '-display', 'none', '-m', String(setup.memoryMiB), '-kernel', files.kernel];
  if (files.initrd) args.push('-initrd', files.initrd);
  if (setup.append) args.push('-append', setup.append);
  args.push('-net', 'none', '-no-reboot');
  return args;
}

function consoleAndControlArgs(sockets: string): string[] {
  return [
    '-chardev', `pipe,id=con0,path=${join(sockets, 'console')}`,
    '-serial', 'chardev:con0',
    '-qmp', `unix:${join(sockets, 'qmp.sock')},server=on,wait=off`,
    '-monitor', 'none',
    // Start paused so that no console output is missed before Rewind is connected.
    '-S',
  ];
}

/** Makes the console FIFOs (DIR/console.in, DIR/console.out) and returns their base path. */
async function consoleFifos(sockets: string): Promise<string> {
  const base = join(sockets, 'console');
  await runTool('mkfifo', ['-m', '600', `${base}.in`, `${base}.out`]);
  return base;
}

async function runTool(binary: string, args: string[]): Promise<void> {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const { code } = await waitForExit(child);
  if (code !== 0) throw new Error(`${basename(binary)} ${args.join(' ')} failed: ${err.trim()}`);
}
