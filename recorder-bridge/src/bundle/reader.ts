import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip as gunzipCb } from 'node:zlib';
import { UserError } from '../errors';
import { parseReplayLog, ReplayLogError, type ReplayLogIndex } from '../replay-log';
import { sha256OfBuffer, sha256OfFile } from '../util/hash';
import type { ConsoleLine } from '@rewind/protocol';
import { MANIFEST } from './layout';
import { validateManifest, type Manifest } from './manifest';
import { incompleteRecordingError, inspectPartial, looksLikePartial, PARTIAL_SUFFIX } from '../record/partial';

const gunzip = promisify(gunzipCb);

/** A finished recording bundle, opened read-only. Nothing here writes into the bundle. */
export class Bundle {
  private consoleCache?: Promise<ConsoleLine[]>;

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
  ) {}

  /** `unfinished`: the recorder's own work folder (OUT.partial), opened while it finishes the bundle. */
  static async open(path: string, opts: { unfinished?: boolean } = {}): Promise<Bundle> {
    const dir = resolve(path);
    let st;
    try {
      st = await fs.stat(dir);
    } catch {
      // Only OUT.partial: the recording to OUT is still running, or was interrupted.
      if (await fs.stat(dir + PARTIAL_SUFFIX).then((p) => p.isDirectory(), () => false)) {
        throw incompleteRecordingError(await inspectPartial(dir + PARTIAL_SUFFIX), path + PARTIAL_SUFFIX);
      }
      throw new UserError(`no recording at ${path}; pass a bundle directory made by \`rewind record\``, 'bundle-missing');
    }
    if (!st.isDirectory()) throw new UserError(`${path} is not a recording bundle (a bundle is a directory made by \`rewind record\`)`, 'bundle-invalid');
    const manifestPath = join(dir, MANIFEST);
    let text: string;
    try {
      text = await fs.readFile(manifestPath, 'utf8');
    } catch {
      if (await looksLikePartial(dir)) throw incompleteRecordingError(await inspectPartial(dir), path);
      throw new UserError(`${path} has no ${MANIFEST}; it is not a finished recording (an interrupted one ends in .partial) or it is damaged`, 'manifest-missing');
    }
    if (dir.endsWith(PARTIAL_SUFFIX) && !opts.unfinished) {
      const state = await inspectPartial(dir);
      if (state.recorderPid !== undefined) throw incompleteRecordingError(state, path);
      throw new UserError(
        `${path} is a recording whose bundle was not finished (the recorder was interrupted while it verified the snapshots); finish it with \`rewind salvage ${path}\``,
        'recording-incomplete',
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${manifestPath} is not valid JSON (${(e as Error).message}); the bundle is damaged: restore it from a copy or record again`, 'manifest-invalid');
    }
    return new Bundle(dir, validateManifest(json, manifestPath));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Checks that every listed file exists with its recorded size; with `full`, also its sha256.
   * Throws a UserError naming the first damaged file.
   */
  async verify(full = false): Promise<void> {
    for (const [name, entry] of Object.entries(this.manifest.files)) {
      const p = this.path(name);
      let size: number;
      try {
        size = (await fs.stat(p)).size;
      } catch {
        throw new UserError(`${this.dir}: ${name} is missing; the bundle is incomplete (restore it from a copy or record again)`, 'bundle-damaged');
      }
      if (size !== entry.size) {
        throw new UserError(`${this.dir}: ${name} has ${size} bytes, the manifest says ${entry.size}; the file is truncated or changed (restore the bundle from a copy)`, 'bundle-damaged');
      }
      if (full && (await sha256OfFile(p)) !== entry.sha256) {
        throw new UserError(`${this.dir}: ${name} does not match its sha256 in the manifest; the file is corrupted (restore the bundle from a copy)`, 'bundle-damaged');
      }
    }
  }

  /** The raw (decompressed) replay log, checked against the manifest. */
  async readReplayLog(): Promise<Buffer> {
    const log = this.manifest.recording.replayLog;
    const p = this.path(log.file);
    let packed: Buffer;
    try {
      packed = await fs.readFile(p);
    } catch {
      throw new UserError(`${this.dir}: the replay log ${log.file} is missing; the bundle is incomplete (restore it from a copy)`, 'log-missing');
    }
    let raw: Buffer;
    try {
      raw = await gunzip(packed);
    } catch (e) {
      throw new UserError(`${this.dir}: the replay log ${log.file} is truncated or corrupted (${(e as Error).message}); restore the bundle from a copy`, 'log-corrupt');
    }
    if (raw.length !== log.rawBytes || sha256OfBuffer(raw) !== log.rawSha256) {
      throw new UserError(`${this.dir}: the replay log does not match the manifest (size or sha256); restore the bundle from a copy`, 'log-corrupt');
    }
    return raw;
  }

  /** Parses the replay log into the event index. */
  async readIndex(): Promise<ReplayLogIndex> {
    const raw = await this.readReplayLog();
    try {
      return parseReplayLog(raw);
    } catch (e) {
      if (e instanceof ReplayLogError) throw new UserError(`${this.dir}: ${e.message}`, `log-${e.code}`);
      throw e;
    }
  }

  /** The console transcript's lines with their time points (console.jsonl), read once. */
  consoleLines(): Promise<ConsoleLine[]> {
    this.consoleCache ??= fs.readFile(this.path(this.manifest.console.lines), 'utf8').then(
      (text) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ConsoleLine),
      (e: NodeJS.ErrnoException) => {
        this.consoleCache = undefined;
        throw new UserError(`${this.dir}: cannot read the console transcript ${this.manifest.console.lines} (${e.code ?? e.message}); the bundle is incomplete (restore it from a copy)`, 'bundle-damaged');
      },
    );
    return this.consoleCache;
  }
}
