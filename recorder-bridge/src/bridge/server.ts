/**
 * The bridge daemon: JSON-RPC 2.0 (vscode-jsonrpc) over a Unix socket or TCP, serving replay
 * sessions (one ReplayEngine each) to the debug adapter, the extension, or any other client.
 * The protocol's types are in ../protocol.ts; docs/bridge.md describes it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, openSync, promises as fs, unlinkSync, writeSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';
import {
  createMessageConnection,
  Message,
  ResponseError,
  SocketMessageReader,
  SocketMessageWriter,
  type CancellationToken,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { CancelledError, isUserError, UserError } from '../errors';
import { checkReadPacket } from '../gdb/read-packets';
import {
  BRIDGE_PROTOCOL_VERSION,
  BridgeErrorCode,
  type BridgeErrorData,
  type BridgeBreakpoint,
  type BridgeHit,
  type BridgeMethod,
  type BridgeNotifications,
  type BridgeRequests,
  type BridgeStop,
  type BridgeWatchpoint,
  type HexAddress,
} from '@rewind/protocol';
import { ReplayEngine, type EngineOptions, type Hit } from '../replay/engine';
import type { Breakpoint, Watchpoint } from '../replay/worker';
import type { TimePoint } from '../timepoint';
import { REWIND_VERSION } from '../version';
import { checkListenHost, defaultSocketPath, formatAddress, toAddress, type BridgeAddress } from './address';
import { resolveInRoot } from './root';
import { BridgeSession } from './session';
import type { ErrorCode } from '../error-codes';

export interface BridgeOptions {
  /** Bundles are opened only inside this directory. */
  root: string;
  /** Unix socket path (the default transport; default defaultSocketPath()). */
  socket?: string;
  /** TCP instead: "HOST:PORT" or an object; port 0 picks a free port. Always token-protected. */
  listen?: string | { host: string; port: number };
  /** Allow a non-loopback TCP address. */
  allowRemote?: boolean;
  /** TCP: write the generated token here (mode 0600) instead of only returning it. */
  tokenFile?: string;
  /** Where the request log goes: a file path (appended) or a stream. Default stderr. */
  log?: string | NodeJS.WritableStream;
  /** Options of every session's engine. */
  engine?: EngineOptions;
  /** Open sessions allowed at once, over all connections. Default 16. */
  maxSessions?: number;
}

export interface RunningBridge {
  address: BridgeAddress;
  /** TCP only: the token every connection must present in rewind/hello. */
  token?: string;
  /** Stops listening, drops every connection and closes every session (killing its replay processes). */
  close(): Promise<void>;
}

const MAX_READ = 1 << 20;
const DEFAULT_EVENT_LIMIT = 10_000;
const DEFAULT_CONSOLE_LIMIT = 1000;

/** Starts a bridge; resolves once it listens. */
export async function startBridge(opts: BridgeOptions): Promise<RunningBridge> {
  let root: string;
  try {
    root = await fs.realpath(opts.root);
    if (!(await fs.stat(root)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new UserError(`--root ${opts.root} is not a directory`, 'bad-option');
  }
  let token: string | undefined;
  let target: BridgeAddress;
  if (opts.listen !== undefined) {
    if (opts.socket !== undefined) throw new UserError('use either --socket or --listen, not both', 'bad-option');
    const a = toAddress(typeof opts.listen === 'string' ? (opts.listen.startsWith('tcp:') ? opts.listen : `tcp:${opts.listen}`) : opts.listen);
    if ('socket' in a) throw new UserError(`--listen needs HOST:PORT, got "${String(opts.listen)}"`, 'bad-option');
    checkListenHost(a.host, opts.allowRemote === true);
    target = a;
    token = randomBytes(32).toString('hex');
  } else {
    if (opts.tokenFile !== undefined) throw new UserError('--token-file goes with --listen (a Unix socket is protected by its file mode)', 'bad-option');
    target = { socket: opts.socket ?? defaultSocketPath() };
  }
  const log = new RequestLog(opts.log);
  const bridge = new Bridge(root, token, log, opts.engine ?? {}, opts.maxSessions ?? 16);
  try {
    if (token !== undefined && opts.tokenFile !== undefined) await writeSecret(opts.tokenFile, token);
    const address = await bridge.listen(target);
    log.line(`listening on ${formatAddress(address)}, root ${root}`);
    return { address, ...(token !== undefined ? { token } : {}), close: () => bridge.close() };
  } catch (e) {
    await bridge.close();
    throw e;
  }
}

/** Writes a secret readable by its owner only (a fresh file renamed into place). */
async function writeSecret(file: string, secret: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    await fs.writeFile(tmp, secret + '\n', { mode: 0o600, flag: 'wx' });
    await fs.chmod(tmp, 0o600);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw new UserError(`cannot write the token file ${file}: ${(e as Error).message}`, 'bad-option');
  }
}

/** Constant-time token comparison (hashing first makes the lengths equal). */
function tokenMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/**
 * One line per request (and per connection event), to a file or stderr. A file is written
 * synchronously, so that no line is lost when a signal ends the process.
 */
class RequestLog {
  private readonly out?: NodeJS.WritableStream;
  private fd?: number;

  constructor(target: string | NodeJS.WritableStream | undefined) {
    if (typeof target === 'string') {
      try {
        this.fd = openSync(target, 'a', 0o600);
      } catch (e) {
        throw new UserError(`cannot open the log ${target}: ${(e as Error).message}`, 'bad-option');
      }
    } else {
      this.out = target ?? process.stderr;
    }
  }

  line(text: string): void {
    const l = `${new Date().toISOString()} ${text}\n`;
    if (this.fd !== undefined) {
      try {
        writeSync(this.fd, l);
      } catch {
        // a full disk must not stop the bridge
      }
    } else {
      this.out?.write(l);
    }
  }

  async close(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A response-error with the bridge's data.code. */
function bridgeError(code: number, message: string, dataCode: ErrorCode): ResponseError<BridgeErrorData> {
  return new ResponseError<BridgeErrorData>(code, message, { code: dataCode });
}

/** Closes the socket once a response with error code `unauthorized` has been written. */
class ClosingWriter extends SocketMessageWriter {
  constructor(private readonly sock: Socket) {
    super(sock);
  }

  override async write(msg: Message): Promise<void> {
    await super.write(msg);
    if (Message.isResponse(msg) && msg.error?.code === BridgeErrorCode.unauthorized) {
      this.sock.end();
      setTimeout(() => this.sock.destroy(), 1000).unref();
    }
  }
}

interface Connection {
  id: number;
  socket: Socket;
  rpc: MessageConnection;
  authenticated: boolean;
  closed: boolean;
  sessions: Map<string, BridgeSession>;
}

class Bridge {
  private server?: Server;
  private socketPath?: string;
  private readonly connections = new Set<Connection>();
  private nextConnection = 1;
  private nextSession = 1;
  private openingSessions = 0;
  private closing?: Promise<void>;

  constructor(
    private readonly root: string,
    private readonly token: string | undefined,
    private readonly log: RequestLog,
    private readonly engineOptions: EngineOptions,
    private readonly maxSessions: number,
  ) {}

  async listen(target: BridgeAddress): Promise<BridgeAddress> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    if ('socket' in target) {
      await clearStaleSocket(target.socket);
      // The socket file is created 0600: only its owner may connect.
      const old = process.umask(0o177);
      try {
        await listenOn(server, () => server.listen(target.socket));
      } finally {
        process.umask(old);
      }
      this.socketPath = target.socket;
      await fs.chmod(target.socket, 0o600);
      return { socket: target.socket };
    }
    await listenOn(server, () => server.listen(target.port, target.host));
    const a = server.address();
    if (a === null || typeof a === 'string') throw new Error('the TCP server has no address');
    return { host: target.host, port: a.port };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = this.server ? new Promise<void>((resolve) => this.server!.close(() => resolve())) : Promise.resolve();
      await Promise.all([...this.connections].map((c) => this.drop(c)));
      await closed;
      if (this.socketPath) await fs.rm(this.socketPath, { force: true });
      this.log.line('bridge closed');
      await this.log.close();
    })();
    return this.closing;
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const rpc = createMessageConnection(new SocketMessageReader(socket), new ClosingWriter(socket), {
      error: (m) => this.log.line(`conn ${conn.id} jsonrpc error: ${m}`),
      warn: (m) => this.log.line(`conn ${conn.id} jsonrpc warning: ${m}`),
      info: () => undefined,
      log: () => undefined,
    });
    const conn: Connection = { id: this.nextConnection++, socket, rpc, authenticated: false, closed: false, sessions: new Map() };
    this.connections.add(conn);
    const peer = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix socket';
    this.log.line(`conn ${conn.id} opened (${peer})`);
    socket.on('error', (e) => this.log.line(`conn ${conn.id} socket error: ${e.message}`));
    socket.on('close', () => void this.drop(conn));
    rpc.onRequest((method, params, token) => this.handle(conn, method, params, token));
    rpc.onError(([e]) => this.log.line(`conn ${conn.id} transport error: ${e.message}`));
    rpc.listen();
  }

  /** Ends a connection: its sessions are closed (their replay processes killed). */
  private async drop(conn: Connection): Promise<void> {
    if (conn.closed) return;
    conn.closed = true;
    this.connections.delete(conn);
    try {
      conn.rpc.dispose();
    } catch {
      // already disposed
    }
    conn.socket.destroy();
    const sessions = [...conn.sessions.values()];
    conn.sessions.clear();
    await Promise.all(sessions.map((s) => s.close().catch((e) => this.log.line(`conn ${conn.id} closing session ${s.id}: ${(e as Error).message}`))));
    this.log.line(`conn ${conn.id} closed${sessions.length ? ` (${sessions.length} session${sessions.length > 1 ? 's' : ''} closed)` : ''}`);
  }

  private async handle(conn: Connection, method: string, params: unknown, token: CancellationToken): Promise<unknown> {
    const started = Date.now();
    const sid = typeof (params as { sessionId?: unknown } | undefined)?.sessionId === 'string' ? ` ${(params as { sessionId: string }).sessionId}` : '';
    try {
      const result = await this.dispatch(conn, method, params, token);
      this.log.line(`conn ${conn.id} ${method}${sid} ${Date.now() - started}ms ok`);
      return result ?? null;
    } catch (e) {
      const err = this.toResponseError(e);
      this.log.line(`conn ${conn.id} ${method}${sid} ${Date.now() - started}ms error ${err.data?.code ?? err.code}: ${err.message}`);
      if (err.code === BridgeErrorCode.internal) this.log.line(`conn ${conn.id} internal error: ${(e as Error)?.stack ?? String(e)}`);
      throw err;
    }
  }

  private toResponseError(e: unknown): ResponseError<BridgeErrorData> {
    if (e instanceof ResponseError) return e as ResponseError<BridgeErrorData>;
    if (e instanceof CancelledError) return bridgeError(BridgeErrorCode.cancelled, e.message, 'cancelled');
    if (isUserError(e)) return bridgeError(e.code === 'bad-params' ? BridgeErrorCode.invalidParams : BridgeErrorCode.userError, e.message, e.code);
    return bridgeError(BridgeErrorCode.internal, 'internal error in the bridge (see its log)', 'internal');
  }

  private async dispatch(conn: Connection, method: string, rawParams: unknown, token: CancellationToken): Promise<unknown> {
    if (rawParams !== undefined && rawParams !== null && (typeof rawParams !== 'object' || Array.isArray(rawParams))) {
      throw new UserError(`${method} takes its parameters by name (an object)`, 'bad-params');
    }
    const params = (rawParams ?? {}) as Record<string, unknown>;
    if (method === 'rewind/hello') return this.hello(conn, params);
    if (!conn.authenticated) throw bridgeError(BridgeErrorCode.helloRequired, `call rewind/hello first (before ${method})`, 'hello-required');
    const handler = (this.handlers as Record<string, Handler | undefined>)[method];
    if (!handler) throw bridgeError(BridgeErrorCode.methodNotFound, `unknown method ${method}`, 'method-not-found');
    return handler(conn, params, token);
  }

  private hello(conn: Connection, p: Record<string, unknown>): BridgeRequests['rewind/hello']['result'] {
    if (this.token !== undefined && !tokenMatches(this.token, p.token)) {
      conn.authenticated = false;
      throw bridgeError(
        BridgeErrorCode.unauthorized,
        p.token === undefined || p.token === null ? 'this bridge needs a token: pass the one it printed or wrote to --token-file' : 'wrong token',
        p.token === undefined || p.token === null ? 'token-required' : 'bad-token',
      );
    }
    if (p.protocolVersion !== BRIDGE_PROTOCOL_VERSION) {
      throw bridgeError(
        BridgeErrorCode.protocolMismatch,
        `this bridge speaks protocol version ${BRIDGE_PROTOCOL_VERSION}, the client asked for ${String(p.protocolVersion)}; update the client or the bridge (rewind ${REWIND_VERSION})`,
        'protocol-mismatch',
      );
    }
    conn.authenticated = true;
    return { protocolVersion: BRIDGE_PROTOCOL_VERSION, rewindVersion: REWIND_VERSION };
  }

  private notify<M extends keyof BridgeNotifications>(conn: Connection, method: M, params: BridgeNotifications[M]): void {
    if (conn.closed) return;
    conn.rpc.sendNotification(method, params).catch(() => undefined);
  }

  private session(conn: Connection, p: Record<string, unknown>): BridgeSession {
    const id = p.sessionId;
    if (typeof id !== 'string') throw new UserError('this request needs "sessionId" (from rewind/open)', 'bad-params');
    const s = conn.sessions.get(id);
    if (!s) throw new UserError(`no session "${id}" on this connection; open one with rewind/open`, 'no-session');
    return s;
  }

  /** Runs a time-moving operation in the session's queue, then reports the new position. */
  private move<T>(conn: Connection, s: BridgeSession, op: (e: ReplayEngine) => Promise<T>, signal?: AbortSignal, what?: string): Promise<T> {
    return s.run(
      async (e) => {
        try {
          return await op(e);
        } finally {
          if (!s.closed) this.notify(conn, 'rewind/positionChanged', { sessionId: s.id, icount: e.icount });
        }
      },
      signal,
      what,
    );
  }

  /** An AbortSignal that fires when the request is cancelled. */
  private signalOf(token: CancellationToken): { signal: AbortSignal; dispose(): void } {
    const ac = new AbortController();
    if (token.isCancellationRequested) ac.abort();
    const sub = token.onCancellationRequested(() => ac.abort());
    return { signal: ac.signal, dispose: () => sub.dispose() };
  }

  /** A whole-range query (hits, writes), run between snapshots a few slices at a time: progress and prompt cancellation. */
  private async query(conn: Connection, s: BridgeSession, token: CancellationToken, what: string, from: TimePoint, to: TimePoint, scan: (e: ReplayEngine, range: { from: TimePoint; to: TimePoint; signal: AbortSignal }) => Promise<Hit[]>): Promise<BridgeHit[]> {
    const c = this.signalOf(token);
    try {
      return await s.run(
        async (e) => {
          const end = Math.min(to, e.end + 1);
          const total = Math.max(0, end - from);
          // Chunks cut at snapshots (where the engine cuts its slices anyway), two slices a chunk.
          const cuts = e.snapshots().map((x) => x.icount).filter((t) => t > from && t < end);
          const bounds = [from, ...cuts.filter((_, i) => i % 2 === 1), end];
          const seen = new Set<string>();
          const out: BridgeHit[] = [];
          this.notify(conn, 'rewind/progress', { sessionId: s.id, done: 0, total });
          for (let i = 0; i + 1 < bounds.length; i++) {
            if (c.signal.aborted) throw new CancelledError(what);
            const a = bounds[i]!;
            const b = bounds[i + 1]!;
            if (a >= b) continue;
            for (const h of await scan(e, { from: a, to: b, signal: c.signal })) {
              const key = `${h.icount}:${h.address}:${h.dataAddress ?? ''}`;
              if (seen.has(key)) continue;
              seen.add(key);
              out.push(hitJson(h));
            }
            this.notify(conn, 'rewind/progress', { sessionId: s.id, done: b - from, total });
          }
          return out;
        },
        c.signal,
        what,
      );
    } finally {
      c.dispose();
    }
  }

  private readonly handlers: { [M in Exclude<BridgeMethod, 'rewind/hello'>]: (conn: Connection, p: Record<string, unknown>, token: CancellationToken) => Promise<BridgeRequests[M]['result']> } = {
    'rewind/open': async (conn, p) => {
      const path = await resolveInRoot(this.root, p.bundle);
      const open = [...this.connections].reduce((n, c) => n + c.sessions.size, 0) + this.openingSessions;
      if (open >= this.maxSessions) throw new UserError(`too many open sessions (${this.maxSessions}); close one first`, 'too-many-sessions');
      this.openingSessions++;
      let engine: ReplayEngine;
      try {
        engine = await ReplayEngine.open(path, this.engineOptions);
      } finally {
        this.openingSessions--;
      }
      if (conn.closed || this.closing) {
        await engine.close();
        throw new UserError('the connection closed while the bundle was opening', 'connection-closed');
      }
      const s = new BridgeSession(`s${this.nextSession++}`, engine, path);
      conn.sessions.set(s.id, s);
      const k = engine.bundle.manifest.guest.kernel;
      return {
        sessionId: s.id,
        end: engine.end,
        totalIcount: engine.index.totalIcount,
        snapshots: engine.listSnapshots(),
        icount: engine.icount,
        path: engine.bundle.dir,
        kernel: { format: k.format, sha256: k.sha256, originalPath: k.originalPath, ...(k.buildId ? { buildId: k.buildId } : {}), ...(k.linuxVersion ? { linuxVersion: k.linuxVersion } : {}) },
      };
    },
    'rewind/close': async (conn, p) => {
      const s = this.session(conn, p);
      conn.sessions.delete(s.id);
      await s.close();
      return null;
    },
    'rewind/position': async (conn, p) => {
      const s = this.session(conn, p);
      return s.run(async (e) => ({ icount: e.icount, end: e.end }));
    },
    'rewind/seek': async (conn, p) => {
      const s = this.session(conn, p);
      const t = icount(p.icount, 'icount');
      return this.move(conn, s, async (e) => ({ icount: await e.seek(t), end: e.end }));
    },
    'rewind/stepi': async (conn, p) => {
      const s = this.session(conn, p);
      return this.move(conn, s, async (e) => ({ icount: await e.stepi(), end: e.end }));
    },
    'rewind/reverseStepi': async (conn, p) => {
      const s = this.session(conn, p);
      return this.move(conn, s, async (e) => ({ icount: await e.reverseStepi(), end: e.end }));
    },
    'rewind/continue': async (conn, p, token) => {
      const s = this.session(conn, p);
      const breakpoints = breakpointList(p.breakpoints, 'breakpoints');
      const watchpoints = watchList(p.watchpoints);
      const until = p.until === undefined || p.until === null ? undefined : icount(p.until, 'until');
      // Cancelling a forward continue interrupts it where it is (a 'time' stop), like gdb's ^C;
      // also while it still waits in the session's queue (it then stops at once).
      const c = this.signalOf(token);
      try {
        const stop = await this.move(conn, s, (e) => e.continueForward({ breakpoints, watchpoints, signal: c.signal, ...(until !== undefined ? { until } : {}) }));
        return stopJson(stop);
      } finally {
        c.dispose();
      }
    },
    'rewind/reverseContinue': async (conn, p, token) => {
      const s = this.session(conn, p);
      const breakpoints = breakpointList(p.breakpoints, 'breakpoints');
      const watchpoints = watchList(p.watchpoints);
      const c = this.signalOf(token);
      try {
        const stop = await this.move(
          conn,
          s,
          (e) =>
            e.reverseContinue({
              breakpoints,
              watchpoints,
              signal: c.signal,
              onProgress: (done, total) => this.notify(conn, 'rewind/progress', { sessionId: s.id, done, total }),
            }),
          c.signal,
          'reverse continue',
        );
        return stopJson(stop);
      } finally {
        c.dispose();
      }
    },
    'rewind/registers': async (conn, p) => {
      const s = this.session(conn, p);
      const regs = await s.run((e) => e.registers());
      return Object.fromEntries(Object.entries(regs).map(([k, v]) => [k, hex(v)]));
    },
    'rewind/readMemory': async (conn, p) => {
      const s = this.session(conn, p);
      const address = parseHex(p.address, 'address');
      const length = p.length;
      if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > MAX_READ) {
        throw new UserError(`"length" must be a whole number of bytes from 0 to ${MAX_READ}`, 'bad-params');
      }
      const data = await s.run((e) => e.readMemory(address, length));
      return { data: data.toString('base64') };
    },
    'rewind/snapshots': async (conn, p) => {
      const s = this.session(conn, p);
      return { snapshots: s.engine.listSnapshots() };
    },
    'rewind/createSnapshot': async (conn, p) => {
      const s = this.session(conn, p);
      return s.run(async (e) => {
        const snap = await e.createSnapshot();
        if (!snap) throw new UserError(`QEMU could not save a snapshot at icount ${e.icount}; try another time point`, 'snapshot-failed');
        const { name, icount, vmClockNs, vmStateBytes, source } = snap;
        return { snapshot: { name, icount, vmClockNs, vmStateBytes, source } };
      });
    },
    'rewind/gdbPacket': async (conn, p) => {
      const s = this.session(conn, p);
      if (typeof p.packet !== 'string' || p.packet.length === 0 || p.packet.length > 4096) throw new UserError('"packet" must be a gdb remote-protocol packet payload such as "g" or "m100a9a,10"', 'bad-params');
      const packet = p.packet;
      const thread = p.thread === undefined || p.thread === null ? undefined : String(p.thread);
      checkReadPacket(packet, thread); // refused before it waits in the queue
      return { reply: await s.run((e) => e.gdbPacket(packet, thread)) };
    },
    'rewind/events': async (conn, p) => {
      const s = this.session(conn, p);
      const from = optionalIcount(p.from, 'from');
      const to = optionalIcount(p.to, 'to');
      const limit = p.limit === undefined || p.limit === null ? DEFAULT_EVENT_LIMIT : icount(p.limit, 'limit');
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
      const s = this.session(conn, p);
      const from = optionalIcount(p.from, 'from') ?? 0;
      const limit = p.limit === undefined || p.limit === null ? DEFAULT_CONSOLE_LIMIT : icount(p.limit, 'limit');
      const bundle = s.engine.bundle;
      const selected = (await bundle.consoleLines()).filter((l) => l.icount >= from);
      return { lines: selected.slice(0, limit), truncated: selected.length > limit, timepoints: bundle.manifest.console.timepoints };
    },
    'rewind/hits': async (conn, p, token) => {
      const s = this.session(conn, p);
      const some = (v: unknown) => v !== undefined && v !== null;
      if (some(p.address) === some(p.addresses)) throw new UserError('rewind/hits needs either "address" or "addresses"', 'bad-params');
      const breakpoints = some(p.address) ? [{ address: parseHex(p.address, 'address') }] : breakpointList(p.addresses, 'addresses');
      if (breakpoints.length === 0) throw new UserError('"addresses" is empty', 'bad-params');
      let from = optionalIcount(p.from, 'from') ?? 0;
      const to = optionalIcount(p.to, 'to') ?? Number.MAX_SAFE_INTEGER;
      if (p.snapFrom === true) from = s.engine.snapshotAtOrBefore(from);
      const hits = await this.query(conn, s, token, 'hits', from, to, (e, r) => e.hits(breakpoints, r));
      return { hits, from, to: Math.min(to, s.engine.end + 1) };
    },
    'rewind/writes': async (conn, p, token) => {
      const s = this.session(conn, p);
      const address = parseHex(p.address, 'address');
      const size = watchSize(p.size);
      const from = optionalIcount(p.from, 'from') ?? 0;
      const to = optionalIcount(p.to, 'to') ?? Number.MAX_SAFE_INTEGER;
      return { hits: await this.query(conn, s, token, 'writes', from, to, (e, r) => e.writes(address, size, r)) };
    },
    'rewind/lastWrite': async (conn, p, token) => {
      const s = this.session(conn, p);
      const address = parseHex(p.address, 'address');
      const size = watchSize(p.size);
      const c = this.signalOf(token);
      try {
        const hit = await s.run(
          async (e) => {
            const total = e.icount;
            this.notify(conn, 'rewind/progress', { sessionId: s.id, done: 0, total });
            const h = await e.lastWrite(address, size);
            this.notify(conn, 'rewind/progress', { sessionId: s.id, done: total, total });
            return h;
          },
          c.signal,
          'last write',
        );
        return { hit: hit ? hitJson(hit) : null };
      } finally {
        c.dispose();
      }
    },
  };
}

type Handler = (conn: Connection, p: Record<string, unknown>, token: CancellationToken) => Promise<unknown>;

// ---- wire conversions ----

function hex(v: bigint): HexAddress {
  return '0x' + v.toString(16);
}

function parseHex(v: unknown, name: string): bigint {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(v)) throw new UserError(`"${name}" must be a hex address string such as "0x100a9a", got ${JSON.stringify(v)}`, 'bad-params');
  return BigInt(v);
}

/** Hex strings, or {address, stack?: {min?, max?}} objects. */
function breakpointList(v: unknown, name: string): Breakpoint[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new UserError(`"${name}" must be a list of hex addresses or {address, stack?: {min?, max?}}`, 'bad-params');
  return v.map((x: unknown) => {
    if (typeof x === 'string') return { address: parseHex(x, name) };
    if (typeof x !== 'object' || x === null) throw new UserError(`"${name}" must hold hex addresses or {address, stack?: {min?, max?}}, got ${JSON.stringify(x)}`, 'bad-params');
    const b = x as Partial<BridgeBreakpoint>;
    const address = parseHex(b.address, `${name}[].address`);
    if (b.stack === undefined || b.stack === null) return { address };
    if (typeof b.stack !== 'object') throw new UserError(`"${name}[].stack" must be {min?, max?}`, 'bad-params');
    const stack: { min?: bigint; max?: bigint } = {};
    if (b.stack.min !== undefined && b.stack.min !== null) stack.min = parseHex(b.stack.min, `${name}[].stack.min`);
    if (b.stack.max !== undefined && b.stack.max !== null) stack.max = parseHex(b.stack.max, `${name}[].stack.max`);
    if (stack.min !== undefined && stack.max !== undefined && stack.min > stack.max) throw new UserError(`"${name}[].stack": min is above max`, 'bad-params');
    return { address, stack };
  });
}

function watchSize(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 4096) throw new UserError(`"size" must be a number of bytes from 1 to 4096, got ${JSON.stringify(v)}`, 'bad-params');
  return v;
}

function watchList(v: unknown): Watchpoint[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new UserError('"watchpoints" must be a list of {address, size, access}', 'bad-params');
  return v.map((w: Partial<BridgeWatchpoint>) => {
    const access = w?.access ?? 'write';
    if (access !== 'write' && access !== 'read' && access !== 'readWrite') throw new UserError(`watchpoint access must be "write", "read" or "readWrite", got ${JSON.stringify(access)}`, 'bad-params');
    return { address: parseHex(w?.address, 'watchpoints[].address'), size: watchSize(w?.size), access };
  });
}

function icount(v: unknown, name: string): TimePoint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new UserError(`"${name}" must be a non-negative whole number, got ${JSON.stringify(v)}`, 'bad-params');
  return v;
}

function optionalIcount(v: unknown, name: string): TimePoint | undefined {
  return v === undefined || v === null ? undefined : icount(v, name);
}

function hitJson(h: Hit): BridgeHit {
  return { icount: h.icount, address: hex(h.address), ...(h.dataAddress !== undefined ? { dataAddress: hex(h.dataAddress) } : {}) };
}

function stopJson(s: { kind: BridgeStop['kind']; icount: TimePoint; address?: bigint; dataAddress?: bigint }): BridgeStop {
  return {
    kind: s.kind,
    icount: s.icount,
    ...(s.address !== undefined ? { address: hex(s.address) } : {}),
    ...(s.dataAddress !== undefined ? { dataAddress: hex(s.dataAddress) } : {}),
  };
}

// ---- listening ----

function listenOn(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      server.removeListener('listening', onListening);
      reject(e.code === 'EADDRINUSE' ? new UserError(`the address is in use (${e.message}); is another bridge running?`, 'address-in-use') : new UserError(`cannot listen: ${e.message}`, 'listen-failed'));
    };
    const onListening = () => {
      server.removeListener('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    start();
  });
}

/** A socket file left by a bridge that died is removed; a live bridge's is not. */
async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await fs.lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new UserError(`${path} exists and is not a socket; remove it or pass another --socket`, 'address-in-use');
  const live = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new UserError(`another bridge is listening on ${path}; stop it or pass another --socket`, 'address-in-use');
  await fs.rm(path, { force: true });
}

/** For the CLI: SIGINT/SIGTERM close the bridge (and every replay process); resolves when closed. */
export function closeOnSignals(bridge: RunningBridge): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      if ('socket' in bridge.address) {
        try {
          unlinkSync(bridge.address.socket);
        } catch {
          // gone already
        }
      }
      void bridge.close().then(() => resolve(sig));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
