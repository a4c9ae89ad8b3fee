/** rewind/events, rewind/console: what the recording holds (its event index, its console transcript), without replaying. */
import { UserError } from '../../errors';
import { sessionOf, type MethodTable } from '../connection';
import { optionalIcount } from '../wire';

const DEFAULT_EVENT_LIMIT = 10_000;
const DEFAULT_CONSOLE_LIMIT = 1000;

export const recordingMethods: Pick<MethodTable, 'rewind/events' | 'rewind/console'> = {
  'rewind/events': async (conn, p) => {
    const s = sessionOf(conn, p);
    const from = optionalIcount(p.from, 'from');
    const to = optionalIcount(p.to, 'to');
    const limit = optionalIcount(p.limit, 'limit') ?? DEFAULT_EVENT_LIMIT;
    let kinds: Set<string> | undefined;
    if (p.kinds !== undefined && p.kinds !== null) {
      if (!Array.isArray(p.kinds) || p.kinds.some((k) => typeof k !== 'string')) throw new UserError('"kinds" must be a list of event kinds', 'bad-params');
      kinds = new Set(p.kinds as string[]);
    }
    const index = s.engine.index;
    const selected = index.events.filter((e) => (!kinds || kinds.has(e.kind)) && (from === undefined || e.icount >= from) && (to === undefined || e.icount <= to));
    return { totalIcount: index.totalIcount, counts: index.counts, events: selected.slice(0, limit), truncated: selected.length > limit };
  },
  'rewind/console': async (conn, p) => {
    const s = sessionOf(conn, p);
    const from = optionalIcount(p.from, 'from') ?? 0;
    const limit = optionalIcount(p.limit, 'limit') ?? DEFAULT_CONSOLE_LIMIT;
    const bundle = s.engine.bundle;
    const selected = (await bundle.consoleLines()).filter((l) => l.icount >= from);
    return { lines: selected.slice(0, limit), truncated: selected.length > limit, timepoints: bundle.manifest.console.timepoints };
  },
};
