/**
 * The analysis index on disk (docs/index-design.md, "Storage"): a folder `index/` in the bundle
 * directory, or, where that folder is not writable, `$XDG_STATE_HOME/rewind/index/MANIFEST-SHA256/`.
 * It holds `index.json` and one file per slice with the plugin's output as it wrote it, deflated.
 * Additive like snapshot-verdicts.json: never listed in the manifest, tied to it by its sha256.
 * Every file is checked (size, sha256) on load: a damaged index is refused, never half-used.
 * Writing is index-writer.ts; building is index-pass.ts.
 */
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import type { IndexInfoJson } from '@rewind/protocol';
import * as layout from '../bundle/layout';
import type { Bundle } from '../bundle/reader';
import { UserError } from '../errors';
import { replayEnd } from '../replay/replay-end';
import type { TimePoint } from '../timepoint';
import { sha256OfBuffer, sha256OfFile, sha256OfFileRemembered } from '../util/hash';
import { PLUGIN_OUTPUT_MAGIC } from './plugin-output';

export const INDEX_SCHEMA = 'rewind.index/3';
/** Indexes this Rewind no longer reads (1: writes in 64-byte lines, 2: in 8-byte grains), named in the message that has them rebuilt. */
const OLDER_SCHEMAS = ['rewind.index/1', 'rewind.index/2'];
export const INDEX_JSON = 'index.json';

/** One slice as index.json lists it: the replay from `snapshot` over [from, to), and its file. */
export interface IndexFileSlice {
  snapshot: string;
  from: TimePoint;
  to: TimePoint;
  /** The exact time points of its buckets, as the pass marked them (runPluginPass). */
  spans: Array<[TimePoint, TimePoint]>;
  /** The file in the index folder: the plugin's output, deflated (zlib). */
  file: string;
  /** Size and sha256 of that file as stored (deflated). */
  bytes: number;
  sha256: string;
  /** Extra snapshots the pass saved in this slice and verified (docs/index-design.md), if any. */
  extra?: IndexFileExtra;
}

/**
 * A slice's extra snapshots: a qcow2 image in the index folder holding `init` and them (the
 * recorded ones deleted), with its size and sha256, and each snapshot's name, time point and size.
 */
export interface IndexFileExtra {
  file: string;
  bytes: number;
  sha256: string;
  snapshots: Array<{ name: string; icount: TimePoint; vmStateBytes: number }>;
}

/** index.json. */
export interface IndexFile {
  schema: typeof INDEX_SCHEMA;
  /** sha256 of the manifest.json of the recording it indexes. */
  manifestSha256: string;
  rewindVersion: string;
  /** sha256 of the plugin's .so that built it (informational). */
  pluginSha256: string;
  /** Bucket size in instructions. */
  bucket: number;
  /** Ascending by `from`; a pass that stopped half way lists only the slices it finished. */
  slices: IndexFileSlice[];
}

export interface StoredIndexSlice {
  snapshot: string;
  from: TimePoint;
  to: TimePoint;
  spans: Array<[TimePoint, TimePoint]>;
  /** the plugin's output as it wrote it (inflated) */
  output: Buffer;
  /** its extra snapshots: the image (absolute path) and what it holds */
  extra?: { image: string; snapshots: IndexFileExtra['snapshots'] };
}

export interface StoredIndex {
  bucket: number;
  slices: StoredIndexSlice[];
  /** the folder it was read from */
  where: string;
}

/** The index folder in the user's state folder, for a bundle whose own folder is read-only. */
export function indexStateFolder(manifestSha256: string): string {
  return join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'rewind', 'index', manifestSha256);
}

/** Where an index of the bundle may be, in the order they are tried: beside the manifest, then the state folder. */
export function indexFolders(bundle: Bundle, manifestSha256: string): [string, string] {
  return [bundle.path(layout.INDEX_DIR), indexStateFolder(manifestSha256)];
}

export function manifestSha256Of(bundle: Bundle): Promise<string> {
  return sha256OfFile(bundle.path(layout.MANIFEST));
}

/** The file name of a slice: from, to and bucket size, so that a slice of another plan or bucket size never takes the name of a listed one. */
export function sliceFileName(from: TimePoint, to: TimePoint, bucket: number): string {
  return `slice-${from}-${to}-b${bucket}.bin.z`;
}

/** The file name of a slice's extra snapshots (sliceFileName's rule). */
export function extraFileName(from: TimePoint, to: TimePoint, bucket: number): string {
  return `snapshots-${from}-${to}-b${bucket}.qcow2`;
}

const replayEnds = new WeakMap<Bundle, Promise<TimePoint>>();

/**
 * Tells the store where the bundle's replay ends, from a log its caller parsed already (the
 * engine, the pass): parsing the Linux fixture's log takes about 5 s.
 */
export function rememberReplayEnd(bundle: Bundle, end: TimePoint): void {
  replayEnds.set(bundle, Promise.resolve(end));
}

/** Where the bundle's replay ends (replay-end.ts), worked out once per opened Bundle: it parses the whole log. */
export function replayEndOf(bundle: Bundle): Promise<TimePoint> {
  let end = replayEnds.get(bundle);
  if (!end) {
    end = bundle.readIndex().then(replayEnd);
    end.catch(() => replayEnds.delete(bundle));
    replayEnds.set(bundle, end);
  }
  return end;
}

export type IndexFileRead =
  | { kind: 'absent' }
  /** An index.json of another manifest (of another recording): not this bundle's index. */
  | { kind: 'other' }
  | { kind: 'damaged'; why: string }
  | { kind: 'ok'; file: IndexFile };

/** index.json of the folder `dir`, checked for its shape (not its slice files). */
export async function readIndexFile(dir: string, manifestSha256: string): Promise<IndexFileRead> {
  let text: string;
  try {
    text = await fs.readFile(join(dir, INDEX_JSON), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return { kind: 'absent' };
    return { kind: 'damaged', why: `${INDEX_JSON} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { kind: 'damaged', why: `${INDEX_JSON} is not valid JSON (${(e as Error).message})` };
  }
  const o = json as Partial<IndexFile> | null;
  if (typeof o === 'object' && o !== null && OLDER_SCHEMAS.includes(String(o.schema))) return { kind: 'damaged', why: `${INDEX_JSON} is of an older format (${String(o.schema)}) than this Rewind reads (${INDEX_SCHEMA})` };
  if (typeof o !== 'object' || o === null || o.schema !== INDEX_SCHEMA) return { kind: 'damaged', why: `${INDEX_JSON} is not a ${INDEX_SCHEMA} file` };
  if (o.manifestSha256 !== manifestSha256) return typeof o.manifestSha256 === 'string' ? { kind: 'other' } : { kind: 'damaged', why: `${INDEX_JSON} names no manifest` };
  const why = shapeError(o);
  return why ? { kind: 'damaged', why: `${INDEX_JSON}: ${why}` } : { kind: 'ok', file: o as IndexFile };
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** What is wrong with the shape of an index.json of this manifest, if anything. */
function shapeError(o: Partial<IndexFile>): string | undefined {
  if (!isCount(o.bucket) || o.bucket === 0) return 'the bucket size is not a positive integer';
  if (!Array.isArray(o.slices)) return 'no list of slices';
  let prevTo = 0;
  for (const [k, s] of o.slices.entries()) {
    const at = `slice ${k}`;
    if (typeof s !== 'object' || s === null || typeof s.snapshot !== 'string') return `${at} is not a slice`;
    if (!isCount(s.from) || !isCount(s.to) || s.from >= s.to) return `${at} has no valid range`;
    if (s.from < prevTo) return `${at} overlaps the slice before it`;
    prevTo = s.to;
    // A plain name: index.json never points outside its folder.
    if (typeof s.file !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s.file)) return `${at} has no valid file name`;
    if (!isCount(s.bytes) || typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256)) return `${at} has no valid size and sha256`;
    if (!Array.isArray(s.spans) || s.spans.length === 0) return `${at} has no buckets`;
    let t = s.from;
    for (const span of s.spans as unknown[]) {
      if (!Array.isArray(span) || span.length !== 2 || span[0] !== t || !isCount(span[1]) || span[1] <= t) return `${at}'s buckets do not follow each other from ${s.from}`;
      t = span[1];
    }
    if (t !== s.to) return `${at}'s buckets end at ${t}, not at ${s.to}`;
    if (s.extra !== undefined) {
      const x = s.extra as Partial<IndexFileExtra> | null;
      if (typeof x !== 'object' || x === null || typeof x.file !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(x.file)) return `${at}'s extra snapshots have no valid file name`;
      if (!isCount(x.bytes) || typeof x.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(x.sha256)) return `${at}'s extra snapshots have no valid size and sha256`;
      if (!Array.isArray(x.snapshots) || x.snapshots.some((p) => typeof p?.name !== 'string' || !isCount(p.icount) || p.icount <= s.from || p.icount >= s.to || !isCount(p.vmStateBytes))) return `${at}'s extra snapshots are not a list of snapshots inside it`;
    }
  }
  return undefined;
}

/** Whether the slices (ascending, not overlapping) cover [0, end) with no gap. */
export function coversRecording(slices: readonly IndexFileSlice[], end: TimePoint): boolean {
  let t = 0;
  for (const s of slices) {
    if (s.from !== t) return false;
    t = s.to;
  }
  return t === end && slices.length > 0;
}

/** Checks a slice's extra snapshot image against index.json: undefined when it matches, else what is wrong. */
export async function checkExtraFile(dir: string, x: IndexFileExtra): Promise<string | undefined> {
  const p = join(dir, x.file);
  let bytes: number;
  try {
    bytes = (await fs.stat(p)).size;
  } catch (e) {
    return `${x.file} is missing (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  if (bytes !== x.bytes) return `${x.file} has ${bytes} bytes, ${INDEX_JSON} says ${x.bytes} (cut or changed)`;
  if ((await sha256OfFileRemembered(p)) !== x.sha256) return `${x.file} does not match its sha256 in ${INDEX_JSON} (changed)`;
  return undefined;
}

/** Reads one slice's file and checks it against index.json: the inflated output, or what is wrong. */
export async function readSliceFile(dir: string, s: IndexFileSlice): Promise<{ output: Buffer } | { why: string }> {
  let data: Buffer;
  try {
    data = await fs.readFile(join(dir, s.file));
  } catch (e) {
    return { why: `${s.file} is missing (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
  if (data.length !== s.bytes) return { why: `${s.file} has ${data.length} bytes, ${INDEX_JSON} says ${s.bytes} (cut or changed)` };
  if (sha256OfBuffer(data) !== s.sha256) return { why: `${s.file} does not match its sha256 in ${INDEX_JSON} (changed)` };
  let output: Buffer;
  try {
    output = inflateSync(data);
  } catch (e) {
    return { why: `${s.file} cannot be inflated (${(e as Error).message})` };
  }
  if (output.length < 8 || output.toString('latin1', 0, 8) !== PLUGIN_OUTPUT_MAGIC) return { why: `${s.file} does not hold the index plugin's output` };
  return { output };
}

function damaged(bundle: Bundle, dir: string, why: string): UserError {
  return new UserError(`the index of ${bundle.dir} is damaged: ${dir}: ${why}; run \`rewind index ${bundle.dir}\` to rebuild it`, 'index-damaged');
}

/** Every slice of a complete index.json, read and checked; throws 'index-damaged' at the first bad file. */
async function readStored(bundle: Bundle, dir: string, file: IndexFile): Promise<StoredIndex> {
  const slices: StoredIndexSlice[] = [];
  for (const s of file.slices) {
    const r = await readSliceFile(dir, s);
    if ('why' in r) throw damaged(bundle, dir, r.why);
    const bad = s.extra && (await checkExtraFile(dir, s.extra));
    if (bad) throw damaged(bundle, dir, bad);
    slices.push({ snapshot: s.snapshot, from: s.from, to: s.to, spans: s.spans, output: r.output, ...(s.extra ? { extra: { image: join(dir, s.extra.file), snapshots: s.extra.snapshots } } : {}) });
  }
  return { bucket: file.bucket, slices, where: dir };
}

/**
 * The first folder holding a complete index of the bundle whose files all check, read. An index
 * that is damaged is skipped for a good one in the other folder (a read-only bundle's index may
 * have moved to the state folder, leaving a damaged one behind); with no good one, the first
 * damage found is thrown ('index-damaged').
 */
async function findComplete(bundle: Bundle): Promise<{ stored: StoredIndex; file: IndexFile } | undefined> {
  const sha = await manifestSha256Of(bundle);
  let firstDamage: UserError | undefined;
  for (const dir of indexFolders(bundle, sha)) {
    const r = await readIndexFile(dir, sha);
    if (r.kind === 'damaged') firstDamage ??= damaged(bundle, dir, r.why);
    // The log is parsed only when there is an index to compare with its end.
    if (r.kind !== 'ok' || !coversRecording(r.file.slices, await replayEndOf(bundle))) continue;
    try {
      return { stored: await readStored(bundle, dir, r.file), file: r.file };
    } catch (e) {
      if (!(e instanceof UserError && e.code === 'index-damaged')) throw e;
      firstDamage ??= e;
    }
  }
  if (firstDamage) throw firstDamage;
  return undefined;
}

/**
 * The complete index of this bundle (of this very manifest): undefined when there is none or it is
 * incomplete (a pass that stopped half way). Throws a UserError with code 'index-damaged' and a
 * message saying what is wrong and "run `rewind index BUNDLE` to rebuild it" when a file's
 * size/sha256 differs, a file is missing, or index.json is unreadable.
 */
export async function loadIndex(bundle: Bundle): Promise<StoredIndex | undefined> {
  return (await findComplete(bundle))?.stored;
}

/** The complete index in folder `dir` (where a pass just wrote it); throws 'index-damaged' as loadIndex does. */
export async function loadIndexFrom(bundle: Bundle, dir: string): Promise<StoredIndex> {
  const sha = await manifestSha256Of(bundle);
  const r = await readIndexFile(dir, sha);
  if (r.kind !== 'ok') throw damaged(bundle, dir, r.kind === 'damaged' ? r.why : `no ${INDEX_JSON} of this recording`);
  if (!coversRecording(r.file.slices, await replayEndOf(bundle))) throw damaged(bundle, dir, 'its slices do not cover the recording');
  return readStored(bundle, dir, r.file);
}

/** What `rewind info` and `rewind index` say of the bundle's index (every file checked). */
export async function indexStatus(bundle: Bundle): Promise<IndexInfoJson> {
  let found: { stored: StoredIndex; file: IndexFile } | undefined;
  try {
    found = await findComplete(bundle);
  } catch (e) {
    if (e instanceof UserError && e.code === 'index-damaged') return { state: 'damaged', message: e.message };
    throw e;
  }
  if (found) {
    const { stored, file } = found;
    const dir = stored.where;
    const buckets = file.slices.reduce((n, s) => n + s.spans.length, 0);
    const bytes = file.slices.reduce((n, s) => n + s.bytes, 0);
    const extraSnapshots = file.slices.reduce((n, s) => n + (s.extra?.snapshots.length ?? 0), 0);
    // On disk: the images are sparse (qcow2 discards the deleted recorded snapshots' clusters).
    let extraBytes = 0;
    for (const s of file.slices) if (s.extra) extraBytes += (await fs.stat(join(dir, s.extra.file))).blocks * 512;
    return { state: 'complete', where: dir, bucket: file.bucket, slices: file.slices.length, buckets, bytes, extraSnapshots, extraBytes };
  }
  const sha = await manifestSha256Of(bundle);
  for (const dir of indexFolders(bundle, sha)) {
    const r = await readIndexFile(dir, sha);
    if (r.kind !== 'ok') continue;
    const covered = r.file.slices.reduce((n, s) => n + (s.to - s.from), 0);
    return { state: 'incomplete', where: dir, bucket: r.file.bucket, slices: r.file.slices.length, covered, end: await replayEndOf(bundle) };
  }
  return { state: 'none' };
}
