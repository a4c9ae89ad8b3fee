/** rewind/open, rewind/close, rewind/position: a connection's sessions (one ReplayEngine each); rewind/follow: the positions of other connections' sessions on a bundle. */
import { UserError } from '../../errors';
import * as layout from '../../bundle/layout';
import { sha256OfFile } from '../../util/hash';
import { ReplayEngine, type EngineOptions } from '../../replay/engine';
import { notify, sessionOf, type Connection, type MethodTable } from '../connection';
import { resolveInRoot } from '../root';
import { BridgeSession } from '../session';

/** What opening a session needs of the bridge. */
export interface SessionHost {
  /** Bundles are opened only inside this directory. */
  root: string;
  engineOptions: EngineOptions;
  /** Open sessions allowed at once, over all connections. */
  maxSessions: number;
  /** Sessions open now, over all connections. */
  openSessions(): number;
  isClosing(): boolean;
  /** Every connection (rewind/follow reaches across them). */
  connections(): Iterable<Connection>;
}

export function sessionMethods(host: SessionHost): Pick<MethodTable, 'rewind/open' | 'rewind/close' | 'rewind/position' | 'rewind/follow'> {
  /** Sessions whose engine is still opening: they count against the limit too. */
  let opening = 0;
  let nextSession = 1;
  return {
    'rewind/open': async (conn, p) => {
      const path = await resolveInRoot(host.root, p.bundle);
      if (host.openSessions() + opening >= host.maxSessions) throw new UserError(`too many open sessions (${host.maxSessions}); close one first`, 'too-many-sessions');
      opening++;
      let engine: ReplayEngine;
      try {
        engine = await ReplayEngine.open(path, host.engineOptions);
      } finally {
        opening--;
      }
      if (conn.closed || host.isClosing()) {
        await engine.close();
        throw new UserError('the connection closed while the bundle was opening', 'connection-closed');
      }
      const s = new BridgeSession(`s${nextSession++}`, engine, path, (moved) => {
        for (const c of host.connections()) {
          if (c !== conn && c.authenticated && c.follows.has(moved.bundle)) notify(c, 'rewind/followedPosition', { path: moved.bundle, sessionId: moved.id, icount: moved.engine.icount });
        }
      });
      conn.sessions.set(s.id, s);
      const k = engine.bundle.manifest.guest.kernel;
      return {
        sessionId: s.id,
        end: engine.end,
        totalIcount: engine.index.totalIcount,
        snapshots: engine.listSnapshots(),
        icount: engine.icount,
        path: engine.bundle.dir,
        manifestSha256: await sha256OfFile(engine.bundle.path(layout.MANIFEST)),
        kernel: { format: k.format, sha256: k.sha256, originalPath: k.originalPath, ...(k.buildId ? { buildId: k.buildId } : {}), ...(k.linuxVersion ? { linuxVersion: k.linuxVersion } : {}) },
      };
    },
    'rewind/close': async (conn, p) => {
      const s = sessionOf(conn, p);
      conn.sessions.delete(s.id);
      await s.close();
      return null;
    },
    'rewind/follow': async (conn, p) => {
      const path = await resolveInRoot(host.root, p.bundle);
      conn.follows.add(path);
      const sessions = [...host.connections()].filter((c) => c !== conn).flatMap((c) => [...c.sessions.values()]).filter((s) => s.bundle === path && !s.closed);
      return { path, sessions: sessions.map((s) => ({ sessionId: s.id, icount: s.engine.icount })) };
    },
    'rewind/position': async (conn, p) => {
      const s = sessionOf(conn, p);
      return s.run(async (e) => ({ icount: e.icount, end: e.end }));
    },
  };
}
