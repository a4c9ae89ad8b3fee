/**
 * The bridge daemon: JSON-RPC 2.0 (vscode-jsonrpc) over a Unix socket or TCP, serving replay
 * sessions (one ReplayEngine each) to the debug adapter, the extension, or any other client.
 * The protocol's types are in ../protocol.ts; docs/bridge.md describes it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createMessageConnection, Message, ResponseError, SocketMessageReader, SocketMessageWriter, type CancellationToken } from 'vscode-jsonrpc/node';
import type { ErrorCode } from '../error-codes';
import { CancelledError, isUserError, UserError } from '../errors';
import { BRIDGE_PROTOCOL_VERSION, BridgeErrorCode, type BridgeErrorData, type BridgeRequests } from '@rewind/protocol';
import type { EngineOptions } from '../replay/engine';
import { REWIND_VERSION } from '../version';
import { checkListenHost, defaultSocketPath, formatAddress, toAddress, type BridgeAddress } from './address';
import type { Connection, MethodTable, Params } from './connection';
import { clearStaleSocket, listenOn, writeSecret } from './listen';
import { methodTable } from './methods';
import { RequestLog } from './request-log';

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
  // A bundle opened without an index gets one built in the background (REWIND_INDEX=use|off: not).
  // REWIND_PROBE=off: scans stop at each hit under the gdbstub, never by probe replays (benchmarks).
  const bridge = new Bridge(root, token, log, { index: indexMode(process.env['REWIND_INDEX']), probe: probeMode(process.env['REWIND_PROBE']), ...opts.engine }, opts.maxSessions ?? 16);
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

/** Constant-time token comparison (hashing first makes the lengths equal). */
function tokenMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
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

class Bridge {
  private server?: Server;
  private socketPath?: string;
  private readonly connections = new Set<Connection>();
  private nextConnection = 1;
  private closing?: Promise<void>;
  private readonly methods: MethodTable;

  constructor(
    root: string,
    private readonly token: string | undefined,
    private readonly log: RequestLog,
    engineOptions: EngineOptions,
    maxSessions: number,
  ) {
    this.methods = methodTable({
      root,
      engineOptions,
      maxSessions,
      openSessions: () => [...this.connections].reduce((n, c) => n + c.sessions.size, 0),
      isClosing: () => this.closing !== undefined,
      connections: () => this.connections,
    });
  }

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
    const conn: Connection = { id: this.nextConnection++, socket, rpc, authenticated: false, closed: false, sessions: new Map(), follows: new Set() };
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
    const params = (rawParams ?? {}) as Params;
    if (method === 'rewind/hello') return this.hello(conn, params);
    if (!conn.authenticated) throw bridgeError(BridgeErrorCode.helloRequired, `call rewind/hello first (before ${method})`, 'hello-required');
    const handler = (this.methods as Record<string, MethodTable[keyof MethodTable] | undefined>)[method];
    if (!handler) throw bridgeError(BridgeErrorCode.methodNotFound, `unknown method ${method}`, 'method-not-found');
    return handler(conn, params, token);
  }

  private hello(conn: Connection, p: Params): BridgeRequests['rewind/hello']['result'] {
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

/** The engine's index mode from $REWIND_INDEX: 'build' (default), 'use' (only a stored one), 'off'. */
export function indexMode(v: string | undefined): 'build' | 'use' | 'off' {
  if (v === undefined || v === '' || v === 'build') return 'build';
  if (v === 'use' || v === 'off') return v;
  throw new UserError(`REWIND_INDEX must be build, use or off, not "${v}"`, 'bad-option');
}

/** The engine's probe mode from $REWIND_PROBE: 'use' (default) or 'off'. */
export function probeMode(v: string | undefined): 'use' | 'off' {
  if (v === undefined || v === '' || v === 'use') return 'use';
  if (v === 'off') return v;
  throw new UserError(`REWIND_PROBE must be use or off, not "${v}"`, 'bad-option');
}
