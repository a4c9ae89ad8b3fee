/**
 * rewind/counts, rewind/coverage, rewind/indexStatus: questions the recording's index answers
 * (docs/index-design.md). Counts stay exact without an index (the range is replayed); coverage
 * needs one.
 */
import { UserError } from '../../errors';
import { coverage, hitCounts } from '../../replay/counts';
import { progressTo, sessionOf, withCancellation, type MethodTable } from '../connection';
import { hex, optionalIcount, parseHex } from '../wire';

/** At most this many addresses per rewind/counts request (each costs a lookup per bucket). */
const MAX_ADDRESSES = 10_000;

export const indexQueryMethods: Pick<MethodTable, 'rewind/counts' | 'rewind/coverage' | 'rewind/indexStatus'> = {
  'rewind/counts': async (conn, p, token) => {
    const s = sessionOf(conn, p);
    if (!Array.isArray(p.addresses) || p.addresses.length === 0) throw new UserError('rewind/counts needs "addresses": a non-empty list of code addresses', 'bad-params');
    if (p.addresses.length > MAX_ADDRESSES) throw new UserError(`rewind/counts takes at most ${MAX_ADDRESSES} addresses per request`, 'bad-params');
    const addresses = p.addresses.map((a: unknown, i: number) => parseHex(a, `addresses[${i}]`));
    const from = optionalIcount(p.from, 'from');
    const to = optionalIcount(p.to, 'to');
    const r = await withCancellation(token, (signal) =>
      s.run((e) => hitCounts(e, addresses, { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}), signal, onProgress: progressTo(conn, s) }), signal, 'counts'),
    );
    return { counts: addresses.map((a) => ({ address: hex(a), count: r.counts.get(a) ?? 0 })), indexed: r.indexed };
  },
  'rewind/coverage': async (conn, p) => {
    const s = sessionOf(conn, p);
    const low = parseHex(p.low, 'low');
    const high = parseHex(p.high, 'high');
    if (high <= low) throw new UserError('"high" must be above "low"', 'bad-params');
    const from = optionalIcount(p.from, 'from');
    const to = optionalIcount(p.to, 'to');
    const r = coverage(s.engine, low, high, { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) });
    const counts = [...r.counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([address, count]) => ({ address: hex(address), count }));
    return { counts, from: r.from, to: r.to };
  },
  'rewind/indexStatus': async (conn, p) => {
    const st = sessionOf(conn, p).engine.indexing.status;
    return { ...st };
  },
};
