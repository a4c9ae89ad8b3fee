/**
 * The index pass as the `rewind` command runs it (`rewind index`, and `rewind record` after a
 * recording): progress on stderr, and the summary of what was built.
 */
import type { IndexInfoJson } from '@rewind/protocol';
import type { Bundle } from './bundle/reader';
import { extraSnapshotsText, formatBytes } from './cli-format';
import { indexProgressPrinter } from './cli-progress';
import { buildIndex, type IndexPassOptions } from './index/index-pass';
import { indexStatus } from './index/index-store';
import { formatIcount, type TimePoint } from './timepoint';

export interface IndexRun {
  status: IndexInfoJson;
  /** Instructions replayed (those of the slices that were not kept), of the recording's. */
  replayed: TimePoint;
  seconds: number;
}

/** Runs the pass with progress on stderr (unless `quiet`); a cancel or an error propagates, the progress line cleared. */
export async function runIndexPass(bundle: Bundle, opts: Omit<IndexPassOptions, 'onProgress'> & { quiet?: boolean }): Promise<IndexRun> {
  const started = Date.now();
  const progress = opts.quiet ? undefined : indexProgressPrinter(started);
  let replayed = 0;
  try {
    await buildIndex(bundle, {
      onRetry: (why) => process.stderr.write(`rewind index: ${why}\n`),
      ...opts,
      onProgress: (done, total) => {
        replayed = total;
        progress?.update(done, total);
      },
    });
  } finally {
    progress?.done();
  }
  return { status: await indexStatus(bundle), replayed, seconds: (Date.now() - started) / 1000 };
}

/** The summary `rewind index` prints: where, how big, how many buckets, how long. */
export function formatIndexRun(r: IndexRun, end: TimePoint): string {
  const s = r.status;
  const rows: Array<[string, string]> = [
    ['index', `${s.where} (${formatBytes(s.bytes ?? 0)})`],
    ['buckets', `${s.buckets} of ${formatIcount(s.bucket ?? 0)} instructions, in ${s.slices} slices`],
    ['replayed', r.replayed === end ? `${formatIcount(r.replayed)} instructions` : r.replayed === 0 ? 'nothing: every slice was there already' : `${formatIcount(r.replayed)} of ${formatIcount(end)} instructions (the other slices were there already)`],
    ...(s.extraSnapshots ? [['saved', `${extraSnapshotsText(s)}, verified`] as [string, string]] : []),
    ['wall time', `${r.seconds.toFixed(1)} s`],
  ];
  return rows.map(([k, v]) => `${k.padEnd(9)}  ${v}`).join('\n');
}
