/**
 * A small typed client of the bridge: one method per request, notifications as callbacks, errors
 * as BridgeRequestError (with the bridge's string code), cancellation by AbortSignal.
 */
import { connect as netConnect, type Socket } from 'node:net';
import {
  CancellationTokenSource,
  createMessageConnection,
  ResponseError,
  SocketMessageReader,
  SocketMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import {
  BRIDGE_PROTOCOL_VERSION,
  BridgeErrorCode,
  type BridgeBreakpoint,
  type BridgeErrorData,
  type BridgeMethod,
  type BridgeNotifications,
  type BridgeRequests,
  type BridgeTaskProbe,
  type BridgeWatchpoint,
  type HexAddress,
} from '@rewind/protocol';
import type { ErrorCode } from '../error-codes';
import type { TimePoint } from '../timepoint';
import { toAddress, type BridgeAddress } from './address';

/** A request the bridge answered with an error. */
export class BridgeRequestError extends Error {
  constructor(
    message: string,
    /** The JSON-RPC error code (BridgeErrorCode). */
    readonly rpcCode: number,
    /** The bridge's string code (error.data.code; error-codes.ts). */
    readonly code: ErrorCode,
  ) {
    super(message);
    this.name = 'BridgeRequestError';
  }
}

export interface RequestOptions {
  signal?: AbortSignal;
}

type Addr = bigint | HexAddress;

/** A breakpoint for continue, reverseContinue and hits: an address, or one with a stack-pointer filter. */
export type BreakpointSpec = Addr | { address: Addr; stack?: { min?: Addr; max?: Addr } };

type WatchSpec = Omit<BridgeWatchpoint, 'address'> & { address: Addr };

function hexOf(a: Addr): HexAddress {
  return typeof a === 'bigint' ? '0x' + a.toString(16) : a;
}

function wireBreakpoint(b: BreakpointSpec): HexAddress | BridgeBreakpoint {
  if (typeof b === 'bigint' || typeof b === 'string') return hexOf(b);
  if (!b.stack) return { address: hexOf(b.address) };
  const stack = { ...(b.stack.min !== undefined ? { min: hexOf(b.stack.min) } : {}), ...(b.stack.max !== undefined ? { max: hexOf(b.stack.max) } : {}) };
  return { address: hexOf(b.address), stack };
}

function wirePoints(o: { breakpoints?: BreakpointSpec[]; watchpoints?: WatchSpec[] }): { breakpoints?: Array<HexAddress | BridgeBreakpoint>; watchpoints?: BridgeWatchpoint[] } {
  return {
    ...(o.breakpoints ? { breakpoints: o.breakpoints.map(wireBreakpoint) } : {}),
    ...(o.watchpoints ? { watchpoints: o.watchpoints.map((w) => ({ size: w.size, access: w.access, address: hexOf(w.address), ...(w.changes ? { changes: true } : {}) })) } : {}),
  };
}

export class BridgeClient {
  private closed = false;
  private readonly closeWaiters: Array<() => void> = [];

  private constructor(
    private readonly rpc: MessageConnection,
    private readonly socket: Socket,
  ) {
    socket.on('close', () => {
      this.closed = true;
      // Pending requests fail (vscode-jsonrpc rejects them on dispose).
      this.rpc.dispose();
      for (const w of this.closeWaiters.splice(0)) w();
    });
  }

  /**
   * Connects and says hello (with the token, needed on TCP). `hello: false` skips the hello, for
   * clients that want to send it themselves.
   */
  static async connect(address: BridgeAddress | string, token?: string, opts: { hello?: boolean; client?: string } = {}): Promise<BridgeClient> {
    const a = toAddress(address);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = 'socket' in a ? netConnect(a.socket) : netConnect(a.port, a.host);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    socket.on('error', () => undefined); // surfaced as a close
    const rpc = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket), {
      error: () => undefined,
      warn: () => undefined,
      info: () => undefined,
      log: () => undefined,
    });
    rpc.listen();
    const client = new BridgeClient(rpc, socket);
    if (opts.hello !== false) {
      try {
        await client.hello(token, opts.client);
      } catch (e) {
        client.dispose();
        throw e;
      }
    }
    return client;
  }

  /** True once the connection is gone. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves when the connection is gone (either side closed it). */
  whenClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /** Any request by method name, typed by BridgeRequests. */
  async request<M extends BridgeMethod>(method: M, params: BridgeRequests[M]['params'], opts: RequestOptions = {}): Promise<BridgeRequests[M]['result']> {
    if (this.closed) throw new BridgeRequestError('the bridge connection is closed', -32096, 'connection-closed');
    // Cancelled before it was sent: vscode-jsonrpc would send it anyway and never cancel it.
    if (opts.signal?.aborted) throw new BridgeRequestError(`${method} cancelled`, BridgeErrorCode.cancelled, 'cancelled');
    let source: CancellationTokenSource | undefined;
    let onAbort: (() => void) | undefined;
    if (opts.signal) {
      const src = new CancellationTokenSource();
      source = src;
      onAbort = () => src.cancel();
      opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    try {
      return (await (source ? this.rpc.sendRequest(method, params, source.token) : this.rpc.sendRequest(method, params))) as BridgeRequests[M]['result'];
    } catch (e) {
      if (e instanceof ResponseError) {
        const data = e.data as BridgeErrorData | undefined;
        throw new BridgeRequestError(e.message, e.code, data?.code ?? (e.code === -32097 ? 'connection-closed' : 'rpc-error'));
      }
      throw e;
    } finally {
      if (onAbort) opts.signal!.removeEventListener('abort', onAbort);
      source?.dispose();
    }
  }

  onNotification<N extends keyof BridgeNotifications>(method: N, cb: (params: BridgeNotifications[N]) => void): { dispose(): void } {
    return this.rpc.onNotification(method, cb);
  }

  onProgress(cb: (p: BridgeNotifications['rewind/progress']) => void): { dispose(): void } {
    return this.onNotification('rewind/progress', cb);
  }

  onPositionChanged(cb: (p: BridgeNotifications['rewind/positionChanged']) => void): { dispose(): void } {
    return this.onNotification('rewind/positionChanged', cb);
  }

  /** Where the sessions of other connections on the bundle move, as rewind/followedPosition notifications. */
  onFollowedPosition(cb: (p: BridgeNotifications['rewind/followedPosition']) => void): { dispose(): void } {
    return this.onNotification('rewind/followedPosition', cb);
  }

  hello(token?: string, client?: string) {
    return this.request('rewind/hello', { ...(token !== undefined ? { token } : {}), protocolVersion: BRIDGE_PROTOCOL_VERSION, ...(client ? { client } : {}) });
  }

  open(bundle: string) {
    return this.request('rewind/open', { bundle });
  }

  /** Follows the sessions that other connections open on `bundle` (onFollowedPosition). */
  follow(bundle: string) {
    return this.request('rewind/follow', { bundle });
  }

  close(sessionId: string) {
    return this.request('rewind/close', { sessionId });
  }

  position(sessionId: string) {
    return this.request('rewind/position', { sessionId });
  }

  seek(sessionId: string, icount: TimePoint) {
    return this.request('rewind/seek', { sessionId, icount });
  }

  stepi(sessionId: string) {
    return this.request('rewind/stepi', { sessionId });
  }

  reverseStepi(sessionId: string) {
    return this.request('rewind/reverseStepi', { sessionId });
  }

  /** Runs forward to a trigger, `until` or the end; aborting the signal interrupts it where it is (a 'time' stop). */
  continue(sessionId: string, opts: { breakpoints?: BreakpointSpec[]; watchpoints?: WatchSpec[]; until?: TimePoint } & RequestOptions = {}) {
    return this.request('rewind/continue', { sessionId, ...wirePoints(opts), ...(opts.until !== undefined ? { until: opts.until } : {}) }, opts);
  }

  /** Back to the last trigger before now (or the start); aborting the signal cancels it ('cancelled'; the position stays). */
  reverseContinue(sessionId: string, opts: { breakpoints?: BreakpointSpec[]; watchpoints?: WatchSpec[] } & RequestOptions = {}) {
    return this.request('rewind/reverseContinue', { sessionId, ...wirePoints(opts) }, opts);
  }

  registers(sessionId: string) {
    return this.request('rewind/registers', { sessionId });
  }

  /** The bytes, decoded from the wire's base64. */
  async readMemory(sessionId: string, address: Addr, length: number): Promise<Buffer> {
    const r = await this.request('rewind/readMemory', { sessionId, address: hexOf(address), length });
    return Buffer.from(r.data, 'base64');
  }

  snapshots(sessionId: string) {
    return this.request('rewind/snapshots', { sessionId });
  }

  events(sessionId: string, filter: { from?: TimePoint; to?: TimePoint; kinds?: string[]; limit?: number } = {}) {
    return this.request('rewind/events', { sessionId, ...filter });
  }

  /** The console's lines that end at or after `from` (default: all), at most `limit` (default 1000). */
  console(sessionId: string, opts: { from?: TimePoint; limit?: number } = {}) {
    return this.request('rewind/console', { sessionId, ...opts });
  }

  /** Every execution of an address, or of any of several (a list: e.g. every address of a source line, optionally with stack filters). */
  hits(sessionId: string, address: Addr | BreakpointSpec[], opts: { from?: TimePoint; to?: TimePoint; snapFrom?: boolean; task?: BridgeTaskProbe } & RequestOptions = {}) {
    const where = Array.isArray(address) ? { addresses: address.map(wireBreakpoint) } : { address: hexOf(address) };
    return this.request('rewind/hits', { sessionId, ...where, ...range(opts), ...(opts.snapFrom ? { snapFrom: true } : {}), ...(opts.task ? { task: opts.task } : {}) }, opts);
  }

  /** Every write to the range; with `values`, each with the bytes before and after it (value history). */
  writes(sessionId: string, address: Addr, size: number, opts: { from?: TimePoint; to?: TimePoint; values?: boolean; task?: BridgeTaskProbe } & RequestOptions = {}) {
    return this.request('rewind/writes', { sessionId, address: hexOf(address), size, ...range(opts), ...(opts.values ? { values: true } : {}), ...(opts.task ? { task: opts.task } : {}) }, opts);
  }

  /** How often each code address ran in the range (exact; from the index when there is one). */
  counts(sessionId: string, addresses: Addr[], opts: { from?: TimePoint; to?: TimePoint } & RequestOptions = {}) {
    return this.request('rewind/counts', { sessionId, addresses: addresses.map(hexOf), ...range(opts) }, opts);
  }

  /** The code in [low, high) that ran in the range, rounded out to the index's buckets (needs the index). */
  coverage(sessionId: string, low: Addr, high: Addr, opts: { from?: TimePoint; to?: TimePoint } & RequestOptions = {}) {
    return this.request('rewind/coverage', { sessionId, low: hexOf(low), high: hexOf(high), ...range(opts) }, opts);
  }

  indexStatus(sessionId: string) {
    return this.request('rewind/indexStatus', { sessionId });
  }

  lastWrite(sessionId: string, address: Addr, size: number, opts: RequestOptions = {}) {
    return this.request('rewind/lastWrite', { sessionId, address: hexOf(address), size }, opts);
  }

  /** The newest run of any of the addresses before `before` (default: the session's time), without moving it. */
  lastHit(sessionId: string, addresses: Addr[], opts: { before?: TimePoint } & RequestOptions = {}) {
    return this.request('rewind/lastHit', { sessionId, addresses: addresses.map(hexOf), ...(opts.before !== undefined ? { before: opts.before } : {}) }, opts);
  }

  /** The earliest run of any of the addresses at or after `from` (default: just after the session's time), without moving it. */
  firstHit(sessionId: string, addresses: Addr[], opts: { from?: TimePoint } & RequestOptions = {}) {
    return this.request('rewind/firstHit', { sessionId, addresses: addresses.map(hexOf), ...(opts.from !== undefined ? { from: opts.from } : {}) }, opts);
  }

  /**
   * One read-only gdb remote-protocol packet ("g", "m100a9a,10", ...) at the current time, as
   * `thread` if given; writes and execution are refused ('packet-refused').
   */
  gdbPacket(sessionId: string, packet: string, opts: { thread?: string } & RequestOptions = {}) {
    return this.request('rewind/gdbPacket', { sessionId, packet, ...(opts.thread !== undefined ? { thread: opts.thread } : {}) }, opts);
  }

  /** A snapshot at the current time (kept for the session, never in the bundle). */
  createSnapshot(sessionId: string, opts: RequestOptions = {}) {
    return this.request('rewind/createSnapshot', { sessionId }, opts);
  }

  /** Closes the connection (the bridge then closes this connection's sessions). */
  dispose(): void {
    this.rpc.dispose();
    this.socket.destroy();
  }
}

function range(o: { from?: TimePoint; to?: TimePoint }): { from?: TimePoint; to?: TimePoint } {
  return { ...(o.from !== undefined ? { from: o.from } : {}), ...(o.to !== undefined ? { to: o.to } : {}) };
}
