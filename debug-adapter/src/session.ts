/**
 * Rewind's DAP session: a thin mapping of DAP requests onto the debuggee (bridge + relay + gdb).
 * This file keeps dispatch and the session's lifecycle (initialize, launch, attach,
 * configurationDone, disconnect, terminate); the other requests are answered by groups of
 * handlers in handlers/, which share one HandlerContext (the open recording, the session's
 * state, and how inspections, queries and moves run).
 *
 * Request handling (why dispatchRequest is replaced): the base class calls handlers without
 * awaiting them, so an async failure would send no response. Here every handler is awaited and
 * any error becomes an error response. Execution requests run one at a time (ExecutionGate) and
 * are answered before the `stopped` event that follows them; inspection requests still pending
 * when an execution starts are cancelled.
 */
import { BreakpointEvent, DebugSession, InitializedEvent, Response, TerminatedEvent } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { BridgeClient } from '@rewind/core';
import { UserError, formatAddress } from '@rewind/core';
import type { RelayExecutionEvent } from '@rewind/core';
import { CAPABILITIES } from './capabilities';
import { Debuggee, isBridgeUserError, type BridgeTarget } from './debuggee';
import { AdapterError, CancelledRequestError, ErrorId, messageOf, userMessage } from './errors';
import { bookmarkHandlers } from './handlers/bookmarks';
import { breakpointHandlers } from './handlers/breakpoints';
import { HandlerContext } from './handlers/context';
import { gdbContinue } from './handlers/gdb-moves';
import { inspectionHandlers } from './handlers/inspection';
import { linuxHandlers, linuxSessionHooks } from './handlers/linux';
import { historyHandlers } from './handlers/history';
import { memoryHandlers } from './handlers/memory';
import { recordingHandlers } from './handlers/recording';
import { refusedHandlers } from './handlers/refused';
import { timeTravelHandlers } from './handlers/time-travel';
import { parseAttachArguments, parseLaunchArguments, type CommonConfig, type SessionConfig } from './launch-config';
import { LineBase } from './line-base';
import { LinuxSupport } from './linux/linux-support';
import { exec } from './mi/exec';
import { GdbCommandError, GdbNotFoundError } from './mi/gdb';
import { openRecording } from './open-recording';
import { recordFirst } from './record-first';
import type { ArgumentsOf, Command, HandlerTable, RequestContext } from './requests';

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

  private readonly handlers: HandlerTable = {
    initialize: async (args) => this.initialize(args),
    launch: (args, ctx) => this.launch(args, ctx),
    attach: (args, ctx) => this.attach(args, ctx),
    configurationDone: (_args, ctx) => this.configurationDone(ctx),
    disconnect: async (_args, ctx) => {
      await this.endSession();
      ctx.respond();
      // DAP: the adapter then shuts itself down (a process of its own exits; a session hosted inline stays).
      this.shutdown();
    },
    terminate: async (_args, ctx) => {
      ctx.respond();
      await this.endSession();
      this.sendEvent(new TerminatedEvent());
    },
    cancel: async (args) => this.c.ops.cancel(args),
    ...timeTravelHandlers(this.c),
    ...inspectionHandlers(this.c),
    ...memoryHandlers(this.c),
    ...historyHandlers(this.c),
    ...breakpointHandlers(this.c),
    ...recordingHandlers(this.c),
    ...bookmarkHandlers(this.c),
    ...linuxHandlers(this.c),
    ...refusedHandlers,
  };

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
      const body = await handler(request.arguments ?? {}, ctx);
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

  // ---- lifecycle -----------------------------------------------------------------------------

  private initialize(args: ArgumentsOf<'initialize'>): DebugProtocol.Capabilities {
    if (args.pathFormat !== undefined && args.pathFormat !== 'path') throw new AdapterError('Rewind only supports native paths (pathFormat "path")');
    this.clientCaps = args;
    this.lines = new LineBase(args.linesStartAt1 !== false);
    return { ...CAPABILITIES };
  }

  private async launch(args: ArgumentsOf<'launch'>, ctx: RequestContext<void>): Promise<void> {
    if (this.c.debuggee) throw new AdapterError('this session already debugs a recording');
    const cwd = typeof (args as { cwd?: unknown }).cwd === 'string' ? (args as { cwd: string }).cwd : this.cwd;
    const config = parseLaunchArguments(args, cwd);
    let bundle: string;
    if (config.kind === 'record') bundle = await recordFirst(config.record, ctx.request.seq, cwd, this.c.ops, (line) => this.c.output(`${line}\n`, 'console'));
    else if (config.kind === 'open') bundle = config.recording;
    else throw new Error('unreachable');
    await this.openRecording({ kind: 'local', bundle }, config);
    ctx.respond();
    this.sendEvent(new InitializedEvent());
  }

  private async attach(args: ArgumentsOf<'attach'>, ctx: RequestContext<void>): Promise<void> {
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
    await this.openRecording({ kind: 'remote', client, recording: config.recording, address: formatAddress(config.bridge), ...(config.token !== undefined ? { token: config.token } : {}) }, config);
    ctx.respond();
    this.sendEvent(new InitializedEvent());
  }

  private async openRecording(target: BridgeTarget, config: SessionConfig): Promise<void> {
    this.config = config;
    const log = (line: string) => this.c.output(`${line}\n`, 'console');
    const debuggee = await Debuggee.open(target, { ...(config as CommonConfig), log, onRelayExecution: (e) => this.onRelayExecution(e) });
    const recording = openRecording(debuggee, {
      log,
      currentOperation: () => this.c.ops.current,
      firstThread: () => this.c.firstThread,
      breakpointChanged: (bp) => this.sendEvent(new BreakpointEvent('changed', bp)),
    });
    // Usable from here on; a Linux guest's kernel awareness follows once detected.
    this.c.opened(recording);
    this.c.linux = await LinuxSupport.attach(debuggee, recording.inspector, linuxSessionHooks(this.c, log), config.moduleFolders);
    // A module's code is known only while it is loaded: a breakpoint in it waits, pending, until then.
    if (this.c.linux) recording.breakpoints.allowPending();
    const what = target.kind === 'local' ? target.bundle : target.recording;
    this.c.output(`Rewind: debugging ${what} (${debuggee.end.toLocaleString('en-US')} instructions), symbols from ${debuggee.symbolFile}\n`, 'console');
  }

  /** The first move: to the requested start, or forward to the first breakpoint. */
  private async configurationDone(ctx: RequestContext<void>): Promise<void> {
    const { debuggee: d, breakpoints } = this.c.open();
    const config = this.config!;
    await breakpoints.setExceptionFilters(this.c.exceptionFilters);
    await this.c.move(ctx, async (signal) => {
      if (config.startAt !== undefined) {
        await d.seek(config.startAt === 'end' ? d.end : config.startAt);
        return { reason: 'entry', description: 'Paused at the requested start time', cause: 'seek' };
      }
      if (config.stopOnEntry) return { reason: 'entry', description: 'Paused at the start of the recording', cause: 'entry' };
      return gdbContinue(this.c, exec.continue(), 'forward', ctx, signal);
    });
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

  /** The relay tells about execution packets gdb sends (diagnostics when tracing). */
  private onRelayExecution(e: RelayExecutionEvent): void {
    if (this.config?.trace && e.phase !== 'start') this.c.output(`relay: ${e.packet} -> ${e.phase === 'end' ? `${e.stop.kind} at ${e.stop.icount}` : e.error.message}\n`, 'console');
  }
}

function isObjectOrMissing(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v));
}
