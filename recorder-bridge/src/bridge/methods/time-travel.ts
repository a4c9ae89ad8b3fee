/** rewind/seek, stepi, reverseStepi, continue, reverseContinue: the requests that move a session's current time. */
import { move, progressTo, sessionOf, withCancellation, type MethodTable } from '../connection';
import { breakpointList, icount, optionalIcount, stopJson, watchList } from '../wire';

export const timeTravelMethods: Pick<MethodTable, 'rewind/seek' | 'rewind/stepi' | 'rewind/reverseStepi' | 'rewind/continue' | 'rewind/reverseContinue'> = {
  'rewind/seek': async (conn, p) => {
    const s = sessionOf(conn, p);
    const t = icount(p.icount, 'icount');
    return move(conn, s, async (e) => ({ icount: await e.seek(t), end: e.end }));
  },
  'rewind/stepi': async (conn, p) => {
    const s = sessionOf(conn, p);
    return move(conn, s, async (e) => ({ icount: await e.stepi(), end: e.end }));
  },
  'rewind/reverseStepi': async (conn, p) => {
    const s = sessionOf(conn, p);
    return move(conn, s, async (e) => ({ icount: await e.reverseStepi(), end: e.end }));
  },
  'rewind/continue': async (conn, p, token) => {
    const s = sessionOf(conn, p);
    const breakpoints = breakpointList(p.breakpoints, 'breakpoints');
    const watchpoints = watchList(p.watchpoints);
    const until = optionalIcount(p.until, 'until');
    // Cancelling a forward continue interrupts it where it is (a 'time' stop), like gdb's ^C;
    // also while it still waits in the session's queue (it then stops at once).
    return withCancellation(token, async (signal) => stopJson(await move(conn, s, (e) => e.continueForward({ breakpoints, watchpoints, signal, ...(until !== undefined ? { until } : {}) }))));
  },
  'rewind/reverseContinue': async (conn, p, token) => {
    const s = sessionOf(conn, p);
    const breakpoints = breakpointList(p.breakpoints, 'breakpoints');
    const watchpoints = watchList(p.watchpoints);
    return withCancellation(token, async (signal) => {
      const stop = await move(conn, s, (e) => e.reverseContinue({ breakpoints, watchpoints, signal, onProgress: progressTo(conn, s) }), signal, 'reverse continue');
      return stopJson(stop);
    });
  },
};
