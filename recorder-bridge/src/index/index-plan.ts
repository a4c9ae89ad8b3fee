/**
 * Where the index pass cuts a recording into slices: at the recorded snapshots that are known to
 * resume (verified while recording, or a good verdict in snapshot-verdicts.json). A slice runs
 * from its snapshot's start point (the first quiet point after it, where a replay from it first
 * stops) to the next slice's. A snapshot that is bad or not verified is never started from: its
 * stretch belongs to the slice before it.
 */
import type { SnapshotEntry } from '../bundle/manifest';
import * as layout from '../bundle/layout';
import type { Bundle } from '../bundle/reader';
import { UserError } from '../errors';
import type { ReplayLogIndex } from '../replay-log';
import { QuietPoints } from '../replay/quiet-points';
import { replayEnd } from '../replay/replay-end';
import { probeOf } from '../replay/snapshot-verify';
import { readVerdicts } from '../replay/verdict-file';
import type { TimePoint } from '../timepoint';

export interface PlannedSlice {
  snapshot: SnapshotEntry;
  from: TimePoint;
  to: TimePoint;
}

export async function planSlices(bundle: Bundle, log: ReplayLogIndex): Promise<{ end: TimePoint; slices: PlannedSlice[] }> {
  const end = replayEnd(log);
  const list = [...bundle.manifest.snapshots.list].sort((a, b) => a.icount - b.icount);
  const verdicts = list.every((s) => s.verified === true) ? undefined : (await readVerdicts(bundle))?.verdicts;
  const good = (s: SnapshotEntry) => s.verified === true || verdicts?.some((v) => v.name === s.name && v.icount === s.icount && v.verdict === 'ok') === true;
  const init = list.find((s) => s.icount === 0);
  if (!init) throw new UserError(`${bundle.dir} has no snapshot at the start of the recording (${layout.INITIAL_SNAPSHOT}); the bundle is damaged`, 'bundle-damaged');
  const quiet = new QuietPoints(log.events.map((e) => e.icount));
  // The initial snapshot is where every replay starts: always used.
  const slices: PlannedSlice[] = [{ snapshot: init, from: 0, to: end }];
  for (const s of list) {
    if (s === init || !good(s)) continue;
    const from = probeOf(s, quiet);
    const last = slices[slices.length - 1]!;
    if (from <= last.from || from >= end) continue;
    last.to = from;
    slices.push({ snapshot: s, from, to: end });
  }
  return { end, slices };
}
