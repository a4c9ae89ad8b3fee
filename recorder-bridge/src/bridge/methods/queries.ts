/**
 * rewind/hits, writes, lastWrite, lastHit, firstHit: queries that replay part of the recording without moving the
 * session's current time. The engine reports their progress and stops them when cancelled.
 */
import type { CancellationToken } from 'vscode-jsonrpc/node';
import { UserError } from '../../errors';
import type { BridgeHit } from '@rewind/protocol';
import type { Hit, ReplayEngine, ScanOptions } from '../../replay/engine';
import type { Breakpoint } from '../../replay/worker';
import { progressTo, sessionOf, withCancellation, type Connection, type MethodTable } from '../connection';
import type { BridgeSession } from '../session';
import { breakpointList, hitJson, optionalIcount, parseHex, taskProbe, watchSize } from '../wire';

export const queryMethods: Pick<MethodTable, 'rewind/hits' | 'rewind/writes' | 'rewind/lastWrite' | 'rewind/lastHit' | 'rewind/firstHit'> = {
  'rewind/hits': async (conn, p, token) => {
    const s = sessionOf(conn, p);
    const some = (v: unknown) => v !== undefined && v !== null;
    if (some(p.address) === some(p.addresses)) throw new UserError('rewind/hits needs either "address" or "addresses"', 'bad-params');
    const breakpoints = some(p.address) ? [{ address: parseHex(p.address, 'address') }] : breakpointList(p.addresses, 'addresses');
    if (breakpoints.length === 0) throw new UserError('"addresses" is empty', 'bad-params');
    let from = optionalIcount(p.from, 'from') ?? 0;
    const to = optionalIcount(p.to, 'to') ?? Number.MAX_SAFE_INTEGER;
    if (p.snapFrom === true) from = s.engine.snapshotAtOrBefore(from);
    const task = taskProbe(p.task);
    // No bytes to sample, only the task (read at each hit).
    const sample = task ? { sample: { address: 0n, length: 0, task } } : {};
    const hits = await scan(conn, s, token, 'hits', (e, opts) => e.hits(breakpoints, { from, to, ...sample, ...opts }));
    return { hits, from, to: Math.min(to, s.engine.end + 1) };
  },
  'rewind/writes': async (conn, p, token) => {
    const s = sessionOf(conn, p);
    const address = parseHex(p.address, 'address');
    const size = watchSize(p.size);
    const from = optionalIcount(p.from, 'from') ?? 0;
    const to = optionalIcount(p.to, 'to') ?? Number.MAX_SAFE_INTEGER;
    const task = taskProbe(p.task);
    if (task && p.values !== true) throw new UserError('"task" goes with "values": true (the task is read with the values at each write)', 'bad-params');
    const sample = p.values === true ? { sample: { address, length: size, ...(task ? { task } : {}) } } : {};
    return { hits: await scan(conn, s, token, 'writes', (e, opts) => e.writes(address, size, { from, to, ...sample, ...opts })) };
  },
  'rewind/lastWrite': async (conn, p, token) => {
    const s = sessionOf(conn, p);
    const address = parseHex(p.address, 'address');
    const size = watchSize(p.size);
    const [hit] = await scan(conn, s, token, 'last write', async (e, opts) => {
      const h = await e.lastWrite(address, size, opts);
      return h ? [h] : [];
    });
    return { hit: hit ?? null };
  },
  'rewind/lastHit': async (conn, p, token) => {
    const before = optionalIcount(p.before, 'before');
    return oneHit(conn, p, token, 'last hit', (e, breakpoints, opts) => e.lastHit(breakpoints, before, opts));
  },
  'rewind/firstHit': async (conn, p, token) => {
    const from = optionalIcount(p.from, 'from');
    return oneHit(conn, p, token, 'first hit', (e, breakpoints, opts) => e.firstHit(breakpoints, from, opts));
  },
};

/** rewind/lastHit, rewind/firstHit: one hit of any of `p.addresses`, as `find` finds it, or null. */
async function oneHit(conn: Connection, p: { addresses?: unknown }, token: CancellationToken, what: string, find: (e: ReplayEngine, breakpoints: Breakpoint[], opts: ScanOptions) => Promise<Hit | undefined>): Promise<{ hit: BridgeHit | null }> {
  const s = sessionOf(conn, p);
  const breakpoints = breakpointList(p.addresses, 'addresses');
  if (breakpoints.length === 0) throw new UserError('"addresses" is empty', 'bad-params');
  const [hit] = await scan(conn, s, token, what, async (e, opts) => {
    const h = await find(e, breakpoints, opts);
    return h ? [h] : [];
  });
  return { hit: hit ?? null };
}

/** A query in the session's queue, with the request's cancellation and progress. */
async function scan(conn: Connection, s: BridgeSession, token: CancellationToken, what: string, run: (e: ReplayEngine, opts: ScanOptions) => Promise<Hit[]>): Promise<BridgeHit[]> {
  return withCancellation(token, async (signal) => {
    const hits = await s.run((e) => run(e, { signal, onProgress: progressTo(conn, s) }), signal, what);
    return hits.map(hitJson);
  });
}
