/**
 * One client connection of the bridge, and what every request handler does with it: find the
 * request's session, run a move in the session's queue and report the new position, send
 * notifications, and turn the request's cancellation into an AbortSignal.
 */
import type { Socket } from 'node:net';
import type { CancellationToken, MessageConnection } from 'vscode-jsonrpc/node';
import { UserError } from '../errors';
import type { BridgeMethod, BridgeNotifications, BridgeRequests } from '@rewind/protocol';
import type { ReplayEngine } from '../replay/engine';
import type { TimePoint } from '../timepoint';
import type { BridgeSession } from './session';

export interface Connection {
  id: number;
  socket: Socket;
  rpc: MessageConnection;
  authenticated: boolean;
  closed: boolean;
  sessions: Map<string, BridgeSession>;
  /** Bundles (paths on this host) whose sessions on other connections this one follows (rewind/follow). */
  follows: Set<string>;
}

/** A request's parameters, by name (checked by its handler). */
export type Params = Record<string, unknown>;

/** The handlers of every method but rewind/hello (which the server answers before any other). */
export type MethodTable = { [M in Exclude<BridgeMethod, 'rewind/hello'>]: (conn: Connection, p: Params, token: CancellationToken) => Promise<BridgeRequests[M]['result']> };

export function notify<M extends keyof BridgeNotifications>(conn: Connection, method: M, params: BridgeNotifications[M]): void {
  if (conn.closed) return;
  conn.rpc.sendNotification(method, params).catch(() => undefined);
}

/** The session a request names ("sessionId"), which must be one of this connection's. */
export function sessionOf(conn: Connection, p: Params): BridgeSession {
  const id = p.sessionId;
  if (typeof id !== 'string') throw new UserError('this request needs "sessionId" (from rewind/open)', 'bad-params');
  const s = conn.sessions.get(id);
  if (!s) throw new UserError(`no session "${id}" on this connection; open one with rewind/open`, 'no-session');
  return s;
}

/** Runs a time-moving operation in the session's queue, then reports the new position. */
export function move<T>(conn: Connection, s: BridgeSession, op: (e: ReplayEngine) => Promise<T>, signal?: AbortSignal, what?: string): Promise<T> {
  return s.run(
    async (e) => {
      try {
        return await op(e);
      } finally {
        if (!s.closed) notify(conn, 'rewind/positionChanged', { sessionId: s.id, icount: e.icount });
        s.moved();
      }
    },
    signal,
    what,
  );
}

/** Runs `op` with an AbortSignal that fires when the request is cancelled. */
export async function withCancellation<T>(token: CancellationToken, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  if (token.isCancellationRequested) ac.abort();
  const sub = token.onCancellationRequested(() => ac.abort());
  try {
    return await op(ac.signal);
  } finally {
    sub.dispose();
  }
}

/** Progress of a session's long operation, as rewind/progress notifications. */
export function progressTo(conn: Connection, s: BridgeSession): (done: TimePoint, total: TimePoint) => void {
  return (done, total) => notify(conn, 'rewind/progress', { sessionId: s.id, done, total });
}
