/**
 * Rewind's DAP session: a thin mapping of DAP requests onto the debuggee (bridge + relay + gdb).
 *
 * Request handling (why dispatchRequest is replaced): the base class calls handlers without
 * awaiting them, so an async failure would send no response. Here every handler is awaited and
 * any error becomes an error response. Execution requests run one at a time (ExecutionGate) and
 * are answered before the `stopped` event that follows them; inspection requests still pending
 * when an execution starts are cancelled.
 */
import { DebugSession, InitializedEvent, Response, TerminatedEvent } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BridgeClient } from '../../recorder-bridge/src/bridge/client';
import { UserError } from '../../recorder-bridge/src/errors';
import type { RelayExecutionEvent } from '../../recorder-bridge/src/gdb/relay';
import {
  type RewindDmesgArguments,
  type RewindDmesgResponse,
  type RewindEventsArguments,
  type RewindEventsResponse,
  type RewindHitsArguments,
  type RewindHitsResponse,
  type RewindKernelEventsResponse,
  type RewindSnapshot,
  type RewindSnapshotsResponse,
} from '../../recorder-bridge/src/protocol';
import { defaultBundleName } from '../../recorder-bridge/src/record/bundle-name';
import { record } from '../../recorder-bridge/src/record/recorder';
import { EXCEPTION_FILTERS } from './breakpoints';
import { Debuggee, isBridgeUserError } from './debuggee';
import { AdapterError, CancelledRequestError, ErrorId, messageOf, userMessage } from './errors';
import { HandlerContext } from './handlers/context';
import { openRecording } from './open-recording';
import { gdbContinue } from './handlers/gdb-moves';
import { timeTravelHandlers } from './handlers/time-travel';
import { inspectionHandlers } from './handlers/inspection';
import { memoryHandlers } from './handlers/memory';
import { breakpointHandlers } from './handlers/breakpoints';
import { refusedHandlers } from './handlers/refused';
import { parseAddress } from './handlers/arguments';
import { LineBase } from './line-base';
import { parseAttachArguments, parseLaunchArguments, type CommonConfig, type NormalizedRecordSpec, type SessionConfig } from './launch-config';
import { exec } from './mi/exec';
import { GdbCommandError, GdbNotFoundError } from './mi/gdb';
import type { Command, HandlerTable, RequestContext } from './requests';
import { LinuxSupport } from './linux/linux-support';

/** A handler as dispatch calls it: with the wire's arguments, which each handler checks as it reads them. */
type UntypedHandler = (args: unknown, ctx: RequestContext) => Promise<unknown>;

export class RewindDebugSession extends DebugSession {
  private readonly c = new HandlerContext(
    (e) => this.sendEvent(e),
    () => this.clientCaps.supportsProgressReporting === true,
  );
  private clientCaps: DebugProtocol.InitializeRequestArguments = { adapterID: 'rewind' };
  private config?: SessionConfig;
  /** The client's line numbering (from initialize). */
  private lines = new LineBase(true);
  private readonly cwd: string;

  constructor(opts: { cwd?: string } = {}) {
    super();
    this.cwd = opts.cwd ?? process.cwd();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
  }

  // ---- dispatch ------------------------------------------------------------------------------

  protected override dispatchRequest(request: DebugProtocol.Request): void {
    void this.handle(request);
  }

  private async handle(request: DebugProtocol.Request): Promise<void> {
    const response = new Response(request);
    let responded = false;
    const ctx: RequestContext = {
      request,
      respond: (body?: unknown) => {
        if (responded) return;
        responded = true;
        ctx.beforeRespond?.();
        if (body !== undefined) (response as DebugProtocol.Response).body = this.lines.response(request.command, body);
        this.sendResponse(response);
      },
      get responded() {
        return responded;
      },
    };
    // Own handlers only: "toString", "valueOf", "__proto__"... must not reach Object.prototype.
    const handler = typeof request.command === 'string' && Object.hasOwn(this.handlers, request.command) ? (this.handlers[request.command as Command] as UntypedHandler) : undefined;
    try {
      if (!handler) throw new AdapterError(`Rewind does not support the request "${request.command}"`, ErrorId.user);
      if (!isObjectOrMissing(request.arguments)) throw new AdapterError(`the arguments of "${request.command}" must be an object`, ErrorId.user);
      this.lines.request(request.command, request.arguments);
      const body = await handler.call(this, request.arguments ?? {}, ctx);
      ctx.respond(body === undefined ? undefined : body);
    } catch (e) {
      if (!responded) {
        responded = true;
        this.sendError(response, e);
      } else {
        this.c.output(`${request.command}: ${messageOf(e)}\n`, 'stderr');
      }
    }
  }

  /** Every event goes out in the client's line numbering. */
  override sendEvent(event: DebugProtocol.Event): void {
    super.sendEvent(this.lines.event(event));
  }

  private sendError(response: DebugProtocol.Response, e: unknown): void {
    const known = userMessage(e) ?? (isBridgeUserError(e) ? e.message : e instanceof GdbCommandError || e instanceof GdbNotFoundError ? e.message : undefined);
    const id = e instanceof AdapterError ? e.id : known !== undefined ? ErrorId.user : ErrorId.internal;
    const format = known ?? `internal error in the Rewind debug adapter: ${messageOf(e)}`;
    if (known === undefined) this.c.output(`${(e as Error)?.stack ?? String(e)}\n`, 'stderr');
    response.success = false;
    response.message = e instanceof CancelledRequestError ? 'cancelled' : format;
    response.body = { error: { id, format: format.replace(/[{}]/g, (c) => (c === '{' ? '(' : ')')), showUser: e instanceof AdapterError ? e.showUser : false } };
    this.sendResponse(response);
  }

  private readonly handlers: HandlerTable = {
    initialize: this.initialize,
    launch: this.launch,
    attach: this.attach,
    configurationDone: this.configurationDone,
    disconnect: this.disconnect,
    terminate: this.terminate,
    cancel: this.cancel,
    'rewind/events': this.eventsRequest,
    'rewind/snapshots': this.snapshotsRequest,
    'rewind/takeSnapshot': this.takeSnapshotRequest,
    'rewind/hits': this.hitsRequest,
    'rewind/dmesg': this.dmesgRequest,
    'rewind/kernelEvents': this.kernelEventsRequest,
    ...timeTravelHandlers(this.c),
    ...inspectionHandlers(this.c),
    ...memoryHandlers(this.c),
    ...breakpointHandlers(this.c),
    ...refusedHandlers,
  };

  // ---- lifecycle -----------------------------------------------------------------------------

  private async initialize(args: DebugProtocol.InitializeRequestArguments): Promise<DebugProtocol.Capabilities> {
    if (args.pathFormat !== undefined && args.pathFormat !== 'path') throw new AdapterError('Rewind only supports native paths (pathFormat "path")');
    this.clientCaps = args;
    this.lines = new LineBase(args.linesStartAt1 !== false);
    return {
      supportsConfigurationDoneRequest: true,
      supportsStepBack: true,
      supportsConditionalBreakpoints: true,
      supportsHitConditionalBreakpoints: true,
      supportsLogPoints: true,
      supportsFunctionBreakpoints: true,
      supportsInstructionBreakpoints: true,
      supportsDataBreakpoints: true,
      supportsDataBreakpointBytes: true,
      supportsDisassembleRequest: true,
      supportsReadMemoryRequest: true,
      supportsWriteMemoryRequest: false,
      supportsSetVariable: false,
      supportsSetExpression: false,
      supportsGotoTargetsRequest: false,
      supportsSteppingGranularity: true,
      supportsLoadedSourcesRequest: true,
      supportsEvaluateForHovers: true,
      supportsCancelRequest: true,
      supportsTerminateRequest: true,
      supportsValueFormattingOptions: true,
      supportsExceptionInfoRequest: true,
      exceptionBreakpointFilters: EXCEPTION_FILTERS,
    };
  }

  private async launch(args: unknown, ctx: RequestContext): Promise<void> {
    if (this.c.debuggee) throw new AdapterError('this session already debugs a recording');
    const cwd = typeof (args as { cwd?: unknown }).cwd === 'string' ? (args as { cwd: string }).cwd : this.cwd;
    const config = parseLaunchArguments(args, cwd);
    let bundle: string;
    if (config.kind === 'record') bundle = await this.recordFirst(config.record, ctx.request.seq, cwd);
    else if (config.kind === 'open') bundle = config.recording;
    else throw new Error('unreachable');
    await this.openRecording({ kind: 'local', bundle }, config);
    ctx.respond();
    this.sendEvent(new InitializedEvent());
  }

  private async attach(args: unknown, ctx: RequestContext): Promise<void> {
    if (this.c.debuggee) throw new AdapterError('this session already debugs a recording');
    const config = parseAttachArguments(args, this.cwd);
    if (config.kind !== 'attach') throw new Error('unreachable');
    let client: BridgeClient;
    try {
      client = await BridgeClient.connect(config.bridge, config.token, { client: 'rewind-dap' });
    } catch (e) {
      if (isBridgeUserError(e) || e instanceof UserError) throw new AdapterError(`the bridge refused the connection: ${e.message}`, ErrorId.badConfig, true);
      throw new AdapterError(`cannot reach the bridge at ${'socket' in config.bridge ? config.bridge.socket : `${config.bridge.host}:${config.bridge.port}`} (${messageOf(e)}): is \`rewind bridge\` running there?`, ErrorId.badConfig, true);
    }
    await this.openRecording({ kind: 'remote', client, recording: config.recording }, config);
    ctx.respond();
    this.sendEvent(new InitializedEvent());
  }

  private async openRecording(target: Parameters<typeof Debuggee.open>[0], config: SessionConfig): Promise<void> {
    this.config = config;
    const log = (line: string) => this.c.output(`${line}\n`, 'console');
    const debuggee = await Debuggee.open(target, { ...(config as CommonConfig), log, onRelayExecution: (e) => this.onRelayExecution(e) });
    const recording = openRecording(debuggee, { log, currentOperation: () => this.c.ops.current, firstThread: () => this.c.firstThread });
    this.c.opened(recording);
    this.c.linux = await LinuxSupport.attach(debuggee, recording.inspector, {
      inspect: (op) => this.c.inspectOutsideRequests(op),
      progress: (title, requestSeq, cancel) => this.scanProgress(title, requestSeq, cancel),
      eventsChanged: (body) => this.c.sendCustomEvent('rewind/eventsChanged', body),
      log,
    });
    const what = target.kind === 'local' ? target.bundle : target.recording;
    this.c.output(`Rewind: debugging ${what} (${debuggee.end.toLocaleString('en-US')} instructions), symbols from ${debuggee.symbolFile}\n`, 'console');
  }

  private async configurationDone(_args: unknown, ctx: RequestContext): Promise<void> {
    const d = this.c.requireDebuggee();
    const config = this.config!;
    await this.c.open().breakpoints.setExceptionFilters(this.c.exceptionFilters);
    await this.c.move(ctx, async (signal) => {
      if (config.startAt !== undefined) {
        await d.seek(config.startAt === 'end' ? d.end : config.startAt);
        return { reason: 'entry', description: 'Paused at the requested start time', cause: 'seek' };
      }
      if (config.stopOnEntry) return { reason: 'entry', description: 'Paused at the start of the recording', cause: 'entry' };
      return gdbContinue(this.c, exec.continue(), 'forward', ctx, signal);
    });
  }

  private async disconnect(_args: unknown, ctx: RequestContext): Promise<void> {
    await this.endSession();
    ctx.respond();
    // DAP: the adapter then shuts itself down (a process of its own exits; a session hosted inline stays).
    this.shutdown();
  }

  private async terminate(_args: unknown, ctx: RequestContext): Promise<void> {
    ctx.respond();
    await this.endSession();
    this.sendEvent(new TerminatedEvent());
  }

  /** Kills gdb and every replay process; idempotent. */
  async endSession(): Promise<void> {
    await this.c.end()?.dispose();
  }

  /** The base class calls this when the client's stream closes; in a process of its own it then exits. */
  override shutdown(): void {
    void this.endSession().finally(() => super.shutdown());
  }

  override dispose(): void {
    void this.endSession();
    super.dispose();
  }

  // ---- execution -----------------------------------------------------------------------------

  private async cancel(args: DebugProtocol.CancelArguments): Promise<void> {
    this.c.ops.cancel(args);
  }

  /** The relay tells about execution packets gdb sends (diagnostics when tracing). */
  private onRelayExecution(e: RelayExecutionEvent): void {
    if (this.config?.trace && e.phase !== "start") this.c.output(`relay: ${e.packet} -> ${e.phase === "end" ? `${e.stop.kind} at ${e.stop.icount}` : e.error.message}\n`, "console");
  }

  // ---- Rewind's custom requests --------------------------------------------------------------

  private async eventsRequest(args: RewindEventsArguments, ctx: RequestContext): Promise<RewindEventsResponse> {
    const d = this.c.requireDebuggee();
    if (this.c.linux) return this.c.linux.events(args, ctx.request.seq);
    return d.client.events(d.sessionId, {
      ...(args.from !== undefined ? { from: args.from } : {}),
      ...(args.to !== undefined ? { to: args.to } : {}),
      ...(args.kinds !== undefined ? { kinds: args.kinds } : {}),
      ...(args.limit !== undefined ? { limit: args.limit } : {}),
    });
  }

  private async snapshotsRequest(): Promise<RewindSnapshotsResponse> {
    const d = this.c.requireDebuggee();
    const r = await d.client.snapshots(d.sessionId);
    return { snapshots: r.snapshots.map((s) => ({ name: s.name, icount: s.icount, source: (s as { source?: 'record' | 'replay' }).source ?? 'record' })) };
  }

  private async takeSnapshotRequest(): Promise<{ snapshot: RewindSnapshot }> {
    const d = this.c.requireDebuggee();
    const r = await d.client.createSnapshot(d.sessionId);
    return { snapshot: r.snapshot };
  }

  private async hitsRequest(args: RewindHitsArguments, ctx: RequestContext): Promise<RewindHitsResponse> {
    const d = this.c.requireDebuggee();
    let spec: string;
    if (args.address !== undefined) spec = `*${parseAddress(args.address).toString()}`;
    else if (args.function !== undefined) spec = args.function;
    else if (args.source?.path && typeof args.line === 'number') spec = `${args.source.path}:${args.line}`;
    else throw new AdapterError('rewind/hits needs "source" and "line", "function", or "address"');
    const addresses = await this.c.inspect(ctx, async () => {
      if (args.address !== undefined) return [parseAddress(args.address)];
      const out = await d.gdb.console(`rewind-line-addresses ${spec}`);
      const json = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { locations?: Array<{ address: string }>; error?: string };
      if (json.error) throw new AdapterError(`no code for ${spec}: ${json.error}`);
      return (json.locations ?? []).map((l) => BigInt(l.address));
    });
    if (addresses.length === 0) throw new AdapterError(`no code for ${spec}`);
    const r = await this.c.query(ctx, `All hits of ${spec}`, (signal) =>
      d.client.hits(d.sessionId, addresses, { ...(args.from !== undefined ? { from: args.from } : {}), ...(args.to !== undefined ? { to: args.to } : {}), signal }),
    );
    return { addresses: addresses.map((a) => `0x${a.toString(16)}`), hits: r.hits.map((h) => ({ icount: h.icount, address: h.address })) };
  }

  // ---- Linux guests (debug-adapter/src/linux/) -------------------------------------------------

  private requireLinux(what: string): LinuxSupport {
    this.c.requireDebuggee();
    if (!this.c.linux) throw new AdapterError(`${what} needs a Linux guest: these symbols have no linux_banner and init_task`);
    return this.c.linux;
  }

  private async dmesgRequest(args: RewindDmesgArguments, ctx: RequestContext): Promise<RewindDmesgResponse> {
    const linux = this.requireLinux('rewind/dmesg');
    return this.c.inspect(ctx, (signal) => linux.dmesg(args.limit, signal));
  }

  /** Not an inspection: the scan runs in a bridge session of its own, whatever the user does meanwhile. */
  private async kernelEventsRequest(_args: unknown, ctx: RequestContext): Promise<RewindKernelEventsResponse> {
    const linux = this.requireLinux('rewind/kernelEvents');
    return this.c.ops.run(ctx.request.seq, 'Kernel events', { current: 'never' }, (op) => linux.kernelEvents(ctx.request.seq, op.signal));
  }

  /** Progress of a kernel-event scan: a cancellable progress notification of its own. */
  private scanProgress(title: string, requestSeq: number, cancel: () => void): { update(done: number, total: number): void; end(): void } {
    const op = this.c.ops.begin(requestSeq, title, { current: 'never', showNow: true, onCancel: cancel });
    return { update: (done, total) => op.progress(done, total, 'of the recording scanned'), end: () => op.end() };
  }

  // ---- recording first -----------------------------------------------------------------------

  private async recordFirst(spec: NormalizedRecordSpec, requestSeq: number, cwd: string): Promise<string> {
    const out = spec.out ?? join(cwd, 'recordings', defaultBundleName(spec.kernel));
    await fs.mkdir(dirname(out), { recursive: true });
    const run = this.c.ops.begin(requestSeq, `Recording ${basename(spec.kernel)}`, { current: 'always', showNow: true });
    let last = 0;
    try {
      const result = await record({
        ...spec,
        out,
        signal: run.signal,
        onProgress: (p) => {
          if (Date.now() - last < 250) return;
          last = Date.now();
          const tail = p.consoleTail[p.consoleTail.length - 1] ?? '';
          run.message(`${p.phase}: ${(p.icount / 1e6).toFixed(1)}M instructions, ${Math.round(p.elapsedMs / 1000)} s${tail ? ` — ${tail.slice(0, 60)}` : ''}`);
        },
      });
      this.c.output(`Rewind: recorded ${result.bundle} (${result.stopReason}${result.stopDetail ? `: ${result.stopDetail}` : ''})\n`, 'console');
      for (const w of result.warnings) this.c.output(`Rewind: warning: ${w}\n`, 'console');
      return result.bundle;
    } finally {
      run.end();
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

}

function isObjectOrMissing(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v));
}
