/**
 * Where the debuggee is in time (rewind/position, rewind/positionChanged): the time point, its
 * share of the recording, and the nearest notable event of the index on either side.
 */
import type { ReplayEvent, RewindPosition } from '@rewind/protocol';
import type { TimePoint } from '@rewind/core';
import type { Debuggee } from './debuggee';

/** Event kinds that make a useful "nearest event" (clock reads and checkpoints are noise). */
const NOTABLE_KINDS = ['interrupt', 'exception', 'serial-input', 'block', 'network', 'input', 'shutdown', 'char-write'];

export class PositionReader {
  /** The notable events of the recording, by time point (read once, on first use). */
  private notable?: ReplayEvent[];

  constructor(private readonly d: Debuggee) {}

  async read(): Promise<RewindPosition> {
    const p = await this.d.position();
    const nearestEvent = await this.nearestEvent(p.icount);
    return {
      icount: p.icount,
      end: p.end,
      percent: p.end > 0 ? Math.round((p.icount / p.end) * 10000) / 100 : 0,
      atStart: p.icount === 0,
      atEnd: p.icount >= p.end,
      ...(nearestEvent ? { nearestEvent } : {}),
    };
  }

  private async nearestEvent(icount: TimePoint): Promise<ReplayEvent | undefined> {
    this.notable ??= (await this.d.client.events(this.d.sessionId, { kinds: NOTABLE_KINDS, limit: 1_000_000 })).events;
    const list = this.notable;
    if (list.length === 0) return undefined;
    let lo = 0;
    let hi = list.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.icount < icount) lo = mid + 1;
      else hi = mid;
    }
    const after = list[lo]!;
    const before = lo > 0 ? list[lo - 1]! : undefined;
    return before && icount - before.icount <= after.icount - icount ? before : after;
  }
}
