/**
 * The index pass (issue 12, part 2): every slice of a recording (index-plan.ts) replayed with the
 * index plugin (plugin-pass.ts), `parallelism` at a time, and stored as it finishes
 * (index-writer.ts). Resumable: a later run keeps each slice whose file checks and that was built
 * with the same bucket size, and replays the others. Cancellable: an aborted signal stops the
 * replays where they are (no process is left) and keeps the finished slices.
 */
import { existsSync, promises as fs } from 'node:fs';
import { cpus } from 'node:os';
import type { Bundle } from '../bundle/reader';
import { CancelledError, UserError } from '../errors';
import { ReplayWorkspace } from '../replay/workspace';
import type { TimePoint } from '../timepoint';
import { sha256OfFile } from '../util/hash';
import type { ReplayLogIndex } from '../replay-log';
import { QuietPoints } from '../replay/quiet-points';
import { extraSnapshotOptions, keepVerified } from './extra-snapshots';
import { planSlices, type PlannedSlice } from './index-plan';
import { checkExtraFile, indexFolders, loadIndexFrom, manifestSha256Of, readIndexFile, readSliceFile, rememberReplayEnd, type IndexFileSlice, type StoredIndex } from './index-store';
import { IndexWriter } from './index-writer';
import { pluginPath, runPluginPass, type PassSnapshotOptions } from './plugin-pass';

export const DEFAULT_BUCKET = 1_000_000;

export interface IndexPassOptions {
  /** Slices replayed at a time (default: one per core). */
  parallelism?: number;
  /** Bucket size in instructions (default 1M). */
  bucket?: number;
  signal?: AbortSignal;
  /** Instructions replayed of those of the slices still to do: (0, total) first. */
  onProgress?: (done: TimePoint, total: TimePoint) => void;
  /** How long a replay process may not answer before it is taken for hung (plugin-pass.ts's default). */
  hangMs?: number;
  /** Rebuild every slice, whatever is stored. */
  force?: boolean;
  /** The bundle's parsed replay log, when the caller has it (else it is parsed here). */
  log?: ReplayLogIndex;
  /** Save extra snapshots where replay is slow (extra-snapshots.ts; default true). */
  extraSnapshots?: boolean;
  /** A slice is replayed again (said why, for the log). */
  onRetry?: (why: string) => void;
}

/** A cancelled pass: its finished slices are stored; the next run replays the others. */
export class IndexPassCancelled extends CancelledError {
  constructor(
    readonly done: number,
    readonly total: number,
    readonly where: string | undefined,
    bundleDir: string,
  ) {
    super('index pass');
    this.message =
      done > 0
        ? `index pass cancelled; ${done} of ${total} slices are done and kept in ${where}: \`rewind index ${bundleDir}\` replays only the rest`
        : `index pass cancelled before a slice was finished; \`rewind index ${bundleDir}\` starts it again`;
  }
}

/** Builds (or completes) the bundle's index and returns it, read back from where it was stored. */
export async function buildIndex(bundle: Bundle, opts: IndexPassOptions = {}): Promise<StoredIndex> {
  const bucket = opts.bucket ?? DEFAULT_BUCKET;
  if (!(Number.isSafeInteger(bucket) && bucket > 0)) throw new UserError(`the bucket size must be a positive number of instructions, got ${bucket}`, 'bad-option');
  const plugin = pluginPath();
  if (!existsSync(plugin)) throw new UserError(`the index plugin ${plugin} does not exist: run scripts/setup.sh to build it (it needs gcc), or unset REWIND_INDEX_PLUGIN`, 'tool-missing');
  const pluginSha256 = await sha256OfFile(plugin);
  const manifestSha256 = await manifestSha256Of(bundle);
  const log = opts.log ?? (await bundle.readIndex());
  const { end, slices } = await planSlices(bundle, log);
  rememberReplayEnd(bundle, end);
  const start = opts.force ? { dir: indexFolders(bundle, manifestSha256)[0], kept: [], stale: true } : await resume(bundle, manifestSha256, bucket, slices);
  const writer = new IndexWriter(bundle, { manifestSha256, pluginSha256, bucket }, start);
  const keptFrom = new Set(start.kept.map((s) => s.from));
  const todo = slices.filter((s) => !keptFrom.has(s.from));
  const extras = opts.extraSnapshots === false ? undefined : extraSnapshotOptions(bundle, new QuietPoints(log.events.map((e) => e.icount)), start.kept, todo);

  const total = todo.reduce((n, s) => n + (s.to - s.from), 0);
  const progress = new Array<number>(todo.length).fill(0);
  const report = () => opts.onProgress?.(progress.reduce((a, b) => a + b, 0), total);
  report();

  // The lanes stop on the caller's signal, and on the first failure of any lane.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  opts.signal?.addEventListener('abort', onAbort);
  if (opts.signal?.aborted) stop.abort();
  let failure: unknown;
  let next = 0;
  let built = 0;
  // One workspace per lane, not per slice: each replay gets a private copy of the snapshot store
  // anyway (replay-process.ts), and a workspace of its own would copy the store once more.
  const lane = async () => {
    let ws: ReplayWorkspace | undefined;
    try {
      while (!stop.signal.aborted && next < todo.length) {
        const k = next++;
        const s = todo[k]!;
        ws ??= await ReplayWorkspace.create(bundle);
        if (stop.signal.aborted) break;
        const pass = (snapshots: PassSnapshotOptions | undefined) =>
          runPluginPass({
            bundle,
            workspace: ws!,
            snapshot: { ...s.snapshot, image: ws!.snapshots, source: 'record' },
            from: s.from,
            to: s.to,
            bucket,
            plugin,
            signal: stop.signal,
            ...(opts.hangMs !== undefined ? { hangMs: opts.hangMs } : {}),
            ...(snapshots ? { snapshots } : {}),
            onProgress: (done) => {
              progress[k] = done;
              report();
            },
          });
        // A replay that hung on the way (QEMU's replay livelock: CI run Q, in a pass that saved a
        // snapshot under load) gets the slice again without extra snapshots: the index needs the
        // buckets, the snapshots only make it faster.
        const r = await pass(extras).catch((e: unknown) => {
          if (!extras || stop.signal.aborted || (e as { code?: string }).code !== 'replay-hung') throw e;
          opts.onRetry?.(`the index pass of the slice from ${s.snapshot.name} hung (${(e as Error).message}); replaying it again without extra snapshots`);
          return pass(undefined);
        });
        const spans = r.buckets.map((b): [TimePoint, TimePoint] => [b.from, b.to]);
        const reached = spans.length ? spans[spans.length - 1]![1] : s.from;
        if (reached !== s.to) {
          if (r.saved) await fs.rm(r.saved.image, { force: true });
          throw new UserError(`the index pass of the slice from ${s.snapshot.name} ended at icount ${reached}, before ${s.to}: the replay does not reach the end of the slice`, 'replay-failed');
        }
        // A cancel during the verification keeps the slice, without extra snapshots.
        const extra = r.saved ? await keepVerified(bundle, ws, r.saved, s.to, end, stop.signal).catch((e: unknown) => {
          if (e instanceof CancelledError) return undefined;
          throw e;
        }) : undefined;
        // A finished slice is kept even when the pass was cancelled meanwhile.
        await writer.add({ snapshot: s.snapshot.name, from: s.from, to: s.to, spans }, r.output, extra);
        built++;
      }
    } catch (e) {
      failure ??= e;
      stop.abort();
    } finally {
      await ws?.dispose();
    }
  };
  try {
    const lanes = Math.min(Math.max(1, Math.floor(opts.parallelism ?? cpus().length) || 1), todo.length);
    await Promise.all(Array.from({ length: lanes }, lane));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  if (built < todo.length) {
    if (opts.signal?.aborted) throw new IndexPassCancelled(start.kept.length + built, slices.length, start.kept.length + built > 0 ? writer.where : undefined, bundle.dir);
    throw failure ?? new Error(`index pass: ${todo.length - built} slices left undone`);
  }
  // Nothing replayed, but index.json listed more than the plan (or was unreadable): say what is there now.
  if (todo.length === 0 && start.stale) await writer.flush();
  await writer.prune();
  return loadIndexFrom(bundle, writer.where);
}

/**
 * What a new pass keeps: of the folders holding an index of this manifest and bucket size, the one
 * with the most instructions in slices that match the plan and whose files check (a read-only
 * bundle's index may have moved to the state folder, leaving a damaged one behind); those slices.
 * `stale`: its index.json lists something else than what is kept (it is rewritten).
 */
async function resume(bundle: Bundle, manifestSha256: string, bucket: number, plan: PlannedSlice[]): Promise<{ dir: string; kept: IndexFileSlice[]; stale: boolean }> {
  const folders = indexFolders(bundle, manifestSha256);
  const covered = (xs: IndexFileSlice[]) => xs.reduce((n, s) => n + (s.to - s.from), 0);
  let best: { dir: string; listed: number; kept: IndexFileSlice[] } | undefined;
  for (const dir of folders) {
    const r = await readIndexFile(dir, manifestSha256);
    if (r.kind !== 'ok' || r.file.bucket !== bucket) continue;
    const kept: IndexFileSlice[] = [];
    for (const s of r.file.slices) {
      const planned = plan.some((p) => p.from === s.from && p.to === s.to && p.snapshot.name === s.snapshot);
      if (planned && !('why' in (await readSliceFile(dir, s))) && !(s.extra && (await checkExtraFile(dir, s.extra)))) kept.push(s);
    }
    if (!best || covered(kept) > covered(best.kept)) best = { dir, listed: r.file.slices.length, kept };
  }
  if (!best) return { dir: folders[0], kept: [], stale: true };
  return { dir: best.dir, kept: best.kept, stale: best.kept.length !== best.listed };
}
