import { getHeapStatistics } from 'node:v8';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import { UserError } from '../errors';
import { parseReplayLog, ReplayLogError } from '../replay-log';
import type { Manifest, SnapshotEntry, StopReason } from '../bundle/manifest';
import * as layout from '../bundle/layout';
import { sha256OfBuffer, sha256OfFile } from '../util/hash';
import type { GuestSetup } from './types';
import type { DiskSetup } from './disk';
import { INDEX_BYTES_PER_LOG_BYTE } from './recording-run';
import type { ConsoleTranscript } from './console';
import { consoleLineTimepoints } from './console-timepoints';
import { REWIND_VERSION } from '../version';
import { listSnapshots } from './snapshot-list';
import { verifyNewRecording } from './verify-snapshots';
import { RECORDING_SETUP } from './recording-setup';
import type { TimePoint } from '../timepoint';
import { guestStopFromLog } from './recording-run';


export interface FinalizeInput {
  work: string;
  out: string;
  rawLog: string;
  snapshotsFile: string;
  qemuImg: string;
  qemu: Omit<Manifest['qemu'], 'icountShift'>;
  setup: Omit<GuestSetup, 'warnings'>;
  /** The disk copied into the snapshot store, with the sha256 of the user's file. */
  disk?: DiskSetup & { sha256: string };
  inputScript: string | undefined;
  console: ConsoleTranscript;
  snapshotInterval: number;
  startedAt: string;
  finishedAt: string;
  stopReason: StopReason;
  stopDetail: string | undefined;
  warnings: string[];
  /** A live recording's 'qemu-exited' is corrected from the log when the guest ended it (guestStopFromLog); not a salvaged one's. */
  stopFromLog?: boolean;
  /**
   * The snapshot verification that follows (record/verify-snapshots.ts): its progress, and a signal
   * that cancels it (the bundle is kept; the unchecked snapshots are checked on first open).
   */
  verify?: { signal?: AbortSignal; onProgress?: (done: TimePoint, total: TimePoint) => void };
}

/**
 * Turns a finished recording's work directory into a bundle: indexes and compresses the log, lists
 * the snapshots, copies the guest images, writes the console and the manifest (last), makes the
 * files read-only and renames the directory into place. Until that rename the bundle does not exist,
 * so a crash never leaves a half-written bundle under the final name.
 */
export async function finalizeBundle(f: FinalizeInput): Promise<Manifest> {
  const logBytes = await fs.stat(f.rawLog).then((st) => st.size, () => 0);
  checkIndexable(logBytes, f.work);
  const raw = await fs.readFile(f.rawLog).catch(() => Buffer.alloc(0));
  if (raw.length === 0) {
    throw new UserError(`QEMU wrote no replay log; the guest could not be recorded (see ${f.work})`, 'record-failed');
  }
  let index;
  try {
    index = parseReplayLog(raw);
  } catch (e) {
    if (e instanceof ReplayLogError) throw new UserError(`the replay log QEMU wrote cannot be read: ${e.message} (kept in ${f.work})`, 'record-failed');
    throw e;
  }

  const stop = (f.stopFromLog && f.stopReason === 'qemu-exited' && guestStopFromLog(index.events, f.console.raw)) || { stopReason: f.stopReason, stopDetail: f.stopDetail };

  const logGz = join(f.work, layout.REPLAY_LOG);
  await pipeline(createReadStream(f.rawLog), createGzip({ level: zlibConstants.Z_BEST_COMPRESSION }), createWriteStream(logGz));
  const rawSha256 = sha256OfBuffer(raw);

  const snapshots = (await listSnapshots(f.qemuImg, f.snapshotsFile)).map((s) => ({ ...s, verified: false }));

  await fs.mkdir(join(f.work, 'guest'));
  await fs.copyFile(f.setup.kernelPath, join(f.work, layout.GUEST_KERNEL));
  if (f.setup.initrdPath) await fs.copyFile(f.setup.initrdPath, join(f.work, layout.GUEST_INITRD));
  if (f.inputScript) await fs.copyFile(f.inputScript, join(f.work, layout.INPUT_SCRIPT));

  await fs.writeFile(join(f.work, layout.CONSOLE_RAW), Buffer.from(f.console.raw, 'latin1'));
  const exact = consoleLineTimepoints(f.console.raw, index.events);
  const lines = exact
    ? exact.map((l, i) => JSON.stringify({ line: i + 1, start: l.start, icount: l.icount, text: l.text }))
    : f.console.lines.map((l, i) => JSON.stringify({ line: i + 1, ...(l.icount === undefined ? {} : { icount: l.icount }), text: l.text }));
  await fs.writeFile(join(f.work, layout.CONSOLE_LINES), lines.length ? lines.join('\n') + '\n' : '');

  // The raw log and the recorder's setup file stay until the manifest exists: until then an
  // interrupted finish is salvaged from them (record/salvage.ts), after it from the manifest.
  const files = await hashFiles(f.work, new Set([relative(f.work, f.rawLog), RECORDING_SETUP]));
  const kernelEntry = files[layout.GUEST_KERNEL]!;
  const initrdEntry = f.setup.initrdPath ? files[layout.GUEST_INITRD]! : undefined;
  const lastSnapshot = snapshots[snapshots.length - 1];
  const manifest: Manifest = {
    format: layout.BUNDLE_FORMAT,
    formatVersion: layout.BUNDLE_FORMAT_VERSION,
    createdAt: f.finishedAt,
    rewind: { version: REWIND_VERSION },
    qemu: { ...f.qemu, icountShift: 'auto' },
    guest: {
      kernel: {
        file: layout.GUEST_KERNEL,
        originalPath: f.setup.kernelPath,
        format: f.setup.kernelInfo.format,
        sha256: kernelEntry.sha256,
        size: kernelEntry.size,
        ...(f.setup.kernelInfo.buildId ? { buildId: f.setup.kernelInfo.buildId } : {}),
        ...(f.setup.kernelInfo.linuxVersion ? { linuxVersion: f.setup.kernelInfo.linuxVersion } : {}),
      },
      ...(initrdEntry ? { initrd: { file: layout.GUEST_INITRD, originalPath: f.setup.initrdPath!, sha256: initrdEntry.sha256, size: initrdEntry.size } } : {}),
      ...(f.disk
        ? {
            disk: {
              file: layout.SNAPSHOTS,
              originalPath: f.disk.path,
              format: f.disk.format,
              sha256: f.disk.sha256,
              size: f.disk.size,
              virtualSize: f.disk.virtualSize,
              device: f.disk.device,
            },
          }
        : {}),
      append: f.setup.append,
      appendDefaults: f.setup.appendDefaults,
      memoryMiB: f.setup.memoryMiB,
    },
    recording: {
      startedAt: f.startedAt,
      finishedAt: f.finishedAt,
      stopReason: stop.stopReason,
      ...(stop.stopDetail ? { stopDetail: stop.stopDetail } : {}),
      wallSeconds: (Date.parse(f.finishedAt) - Date.parse(f.startedAt)) / 1000,
      ...guestSeconds(index.totalIcount, lastSnapshot),
      totalIcount: index.totalIcount,
      replayLog: {
        file: layout.REPLAY_LOG,
        compression: 'gzip',
        rawBytes: raw.length,
        rawSha256,
        logFormatVersion: index.formatVersion,
        logFormatName: index.formatName,
      },
      ...(f.inputScript ? { inputScript: layout.INPUT_SCRIPT } : {}),
      warnings: f.warnings,
    },
    snapshots: { file: layout.SNAPSHOTS, interval: f.snapshotInterval, list: snapshots, verification: { method: 'qemu-rrsnapshot', seconds: 0, replaced: [], dropped: [], added: [], complete: false } },
    console: { raw: layout.CONSOLE_RAW, lines: layout.CONSOLE_LINES, lineCount: lines.length, timepoints: exact ? 'exact' : 'approximate' },
    stats: {
      eventTotal: index.events.length,
      eventCounts: index.counts,
      logBytesRaw: raw.length,
      logBytesCompressed: files[layout.REPLAY_LOG]!.size,
    },
    files,
  };
  // Written once so that the folder opens as a bundle for the verification replays, then again.
  const manifestPath = join(f.work, layout.MANIFEST);
  await fs.writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  await fs.rm(f.rawLog, { force: true });
  const checked = await verifyNewRecording(f.work, index, f.qemuImg, { interval: f.snapshotInterval, ...f.verify });
  manifest.snapshots.list = checked.list;
  manifest.snapshots.verification = checked.summary;
  manifest.recording.warnings.push(...checked.warnings);
  // Repairs rewrote the store.
  manifest.files[layout.SNAPSHOTS] = { size: (await fs.stat(f.snapshotsFile)).size, sha256: await sha256OfFile(f.snapshotsFile) };
  await fs.writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  // Kept until now: it names the live recorder while the snapshots are verified (record/partial.ts).
  await fs.rm(join(f.work, RECORDING_SETUP), { force: true });
  await makeReadOnly(f.work, Object.keys(files).concat(layout.MANIFEST));
  await fs.rename(f.work, f.out);
  return manifest;
}

/**
 * Guest time covered, extrapolated from the last snapshot's virtual clock at its icount. Only an
 * estimate when the guest idled after that snapshot, so it is left out when there is no
 * snapshot past the initial one.
 */
function guestSeconds(totalIcount: number, last: SnapshotEntry | undefined): { guestSeconds?: number } {
  if (!last || last.icount === 0 || last.vmClockNs === 0) return {};
  return { guestSeconds: Math.round((last.vmClockNs / 1e9) * (totalIcount / last.icount) * 1000) / 1000 };
}

/** Refuses (keeping the work directory) a log that cannot be indexed in this process's memory, instead of crashing. */
function checkIndexable(logBytes: number, work: string): void {
  const limit = getHeapStatistics().heap_size_limit;
  const need = logBytes * INDEX_BYTES_PER_LOG_BYTE;
  if (logBytes > 2 ** 31 - 1 || need > limit * 0.9) {
    throw new UserError(
      `the replay log has ${(logBytes / 2 ** 20).toFixed(0)} MiB; indexing it needs about ${(need / 1e9).toFixed(1)} GB of memory, more than Node.js may use here (${(limit / 1e9).toFixed(1)} GB). ` +
        `The unindexed recording is kept in ${work}. Record a shorter run (--max-log, --timeout, --stop-on; a Linux guest spinning after a panic needs panic=-1)`,
      'log-too-large',
    );
  }
}

async function hashFiles(dir: string, skip: Set<string>): Promise<Manifest['files']> {
  const files: Manifest['files'] = {};
  for (const p of await walk(dir)) {
    const name = relative(dir, p).split('\\').join('/');
    if (name === layout.MANIFEST || skip.has(name)) continue;
    files[name] = { size: (await fs.stat(p)).size, sha256: await sha256OfFile(p) };
  }
  return files;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

async function makeReadOnly(dir: string, names: string[]): Promise<void> {
  for (const n of names) await fs.chmod(join(dir, n), 0o444);
}
