/**
 * Rewind's DAP session: a thin mapping of DAP requests onto the debuggee (bridge + relay + gdb).
 *
 * Request handling (why dispatchRequest is replaced): the base class calls handlers without
 * awaiting them, so an async failure would send no response. Here every handler is awaited and
 * any error becomes an error response. Execution requests run one at a time (ExecutionGate) and
 * are answered before the `stopped` event that follows them; inspection requests still pending
 * when an execution starts are cancelled.
 */
import { ContinuedEvent, DebugSession, InitializedEvent, OutputEvent, Response, Source, StoppedEvent, TerminatedEvent } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BridgeClient, UserError, type RelayExecutionEvent, defaultBundleName, record, type TimePoint } from '@rewind/core';
import { type ReplayEvent, type RewindDapCommand, type RewindDapEvents, type RewindHitsArguments, type RewindLastWriteArguments, type RewindPosition, type RewindSeekArguments } from '@rewind/protocol';
import { BreakpointManager, EXCEPTION_FILTERS, noDataBreakpoint, type DataId } from './breakpoints';
import { Debuggee, isBridgeUserError } from './debuggee';
import { AdapterError, CancelledRequestError, ErrorId, historyError, userMessage } from './errors';
import { ExecutionGate } from './execution-gate';
import { LineBase } from './line-base';
import { LongOperations } from './long-operation';
import { Inspector } from './inspector';
import { parseAttachArguments, parseLaunchArguments, type CommonConfig, type NormalizedRecordSpec, type SessionConfig } from './launch-config';
import { disassemble, evaluate, listSourceFiles, readMemory as miReadMemory, symbolInfoLine } from './mi/commands';
import { exec, threadSelect } from './mi/exec';
import { GdbCommandError, GdbNotFoundError } from './mi/gdb';
import { miString, type MiTuple } from './mi/parser';
import { ReverseStepper, type ReverseStepKind, type ReverseStepResult } from './reverse-stepping';
import { classifyStop, endStop, panicMessage, startStop, stopNeedsPosition, watchpointOf, type StopInfo } from './stops';
import { LinuxSupport } from './linux/linux-support';

/** Requests whose response tells DAP clients that execution continued (DAP: no `continued` event for them). */
const MOVES_THAT_IMPLY_CONTINUED = new Set(['configurationDone', 'continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue']);

/** One request being handled: its response is sent once, when the handler says (moves answer before their stop). */
interface RequestContext {
  request: DebugProtocol.Request;
  /** Sends the response now (handlers of execution requests answer before the stop). */
  respond(body?: unknown): void;
  /** Called once, just before the response goes out (a custom request that moves time sends `continued` there). */
  beforeRespond?: () => void;
  readonly responded: boolean;
}

type Handler = (args: any, ctx: RequestContext) => Promise<unknown>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Event kinds that make a useful "nearest event" (clock reads and checkpoints are noise). */
const NOTABLE_KINDS = ['interrupt', 'exception', 'serial-input', 'block', 'network', 'input', 'shutdown', 'char-write'];

export class RewindDebugSession extends DebugSession {
  private debuggee?: Debuggee;
  private inspector?: Inspector;
  private breakpoints?: BreakpointManager;
  private stepper?: ReverseStepper;
  /** Kernel awareness, when the guest is Linux (debug-adapter/src/linux/). */
  private linux?: LinuxSupport;
  private readonly gate = new ExecutionGate();
  private clientCaps: DebugProtocol.InitializeRequestArguments = { adapterID: 'rewind' };
  private config?: SessionConfig;
  private readonly ops = new LongOperations(
    (e) => this.sendEvent(e),
    () => this.clientCaps.supportsProgressReporting === true,
  );
  private notable?: ReplayEvent[];
  private lastThreads: DebugProtocol.Thread[] = [{ id: 1, name: 'vCPU 0' }];
  private disposed = false;
  private exceptionFilters: string[] = ['panic'];
  /** The client's line numbering (from initialize). */
  private lines = new LineBase(true);
  /** The reason of the last stop reported (exceptionInfo answers only at a panic stop). */
  private lastStopReason?: string;
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
    const handler = typeof request.command === 'string' && Object.hasOwn(this.handlers, request.command) ? this.handlers[request.command] : undefined;
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
        this.output(`${request.command}: ${messageOf(e)}\n`, 'stderr');
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
    if (known === undefined) this.output(`${(e as Error)?.stack ?? String(e)}\n`, 'stderr');
    response.success = false;
    response.message = e instanceof CancelledRequestError ? 'cancelled' : format;
    response.body = { error: { id, format: format.replace(/[{}]/g, (c) => (c === '{' ? '(' : ')')), showUser: e instanceof AdapterError ? e.showUser : false } };
    this.sendResponse(response);
  }

  private readonly handlers: Record<string, Handler> = {
    initialize: this.initialize,
    launch: this.launch,
    attach: this.attach,
    configurationDone: this.configurationDone,
    disconnect: this.disconnect,
    terminate: this.terminate,
    threads: this.threads,
    stackTrace: this.stackTrace,
    scopes: this.scopes,
    variables: this.variables,
    evaluate: this.evaluate,
    source: this.source,
    loadedSources: this.loadedSources,
    setBreakpoints: this.setBreakpoints,
    setFunctionBreakpoints: this.setFunctionBreakpoints,
    setInstructionBreakpoints: this.setInstructionBreakpoints,
    setExceptionBreakpoints: this.setExceptionBreakpoints,
    dataBreakpointInfo: this.dataBreakpointInfo,
    setDataBreakpoints: this.setDataBreakpoints,
    continue: this.continue,
    next: this.next,
    stepIn: this.stepIn,
    stepOut: this.stepOut,
    stepBack: this.stepBack,
    reverseContinue: this.reverseContinue,
    pause: this.pause,
    cancel: this.cancel,
    disassemble: this.disassemble,
    exceptionInfo: this.exceptionInfo,
    readMemory: this.readMemory,
    setVariable: async () => {
      throw historyError('Setting a variable');
    },
    setExpression: async () => {
      throw historyError('Setting an expression');
    },
    writeMemory: async () => {
      throw historyError('Writing memory');
    },
    goto: async () => {
      throw historyError('Set Next Statement (moving the instruction pointer)');
    },
    gotoTargets: async () => {
      throw historyError('Set Next Statement (moving the instruction pointer)');
    },
    restartFrame: async () => {
      throw historyError('Restarting a frame');
    },
    'rewind/position': this.positionRequest,
    'rewind/seek': this.seekRequest,
    'rewind/events': this.eventsRequest,
    'rewind/snapshots': this.snapshotsRequest,
    'rewind/takeSnapshot': this.takeSnapshotRequest,
    'rewind/lastWrite': this.lastWriteRequest,
    'rewind/hits': this.hitsRequest,
    'rewind/reverseStepIn': this.reverseStepInRequest,
    'rewind/reverseStepOut': this.reverseStepOutRequest,
    'rewind/dmesg': this.dmesgRequest,
    'rewind/kernelEvents': this.kernelEventsRequest,
  } satisfies Record<string, Handler> & Record<RewindDapCommand, Handler>;

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
    if (this.debuggee) throw new AdapterError('this session already debugs a recording');
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
    if (this.debuggee) throw new AdapterError('this session already debugs a recording');
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
    const log = (line: string) => this.output(`${line}\n`, 'console');
    this.debuggee = await Debuggee.open(target, { ...(config as CommonConfig), log, onRelayExecution: (e) => this.onRelayExecution(e) });
    this.debuggee.client.onProgress((p) => {
      // A reverse continue or a query made progress: shown on the current operation.
      if (p.sessionId === this.debuggee?.sessionId) this.ops.current?.progress(p.done, p.total, 'of the way scanned', true);
    });
    this.inspector = new Inspector(this.debuggee.gdb);
    this.breakpoints = new BreakpointManager(this.debuggee.gdb, log);
    this.stepper = new ReverseStepper(
      {
        frame: () => this.debuggee!.frame(0),
        // The frame the user sees on top: after a step that ended on an inlined call, its caller.
        presentedFrame: async () => this.debuggee!.frame(await this.inspector!.presentedLevel(this.lastThreads[0]?.id ?? 1)),
        reverseStepi: () => this.debuggee!.reverseStepi(),
        continueTo: async (bps, until) => {
          const stop = await this.debuggee!.continueTo(bps, until, this.ops.current?.signal);
          return { kind: stop.kind === 'breakpoint' ? 'breakpoint' : 'other', ...(stop.address ? { address: BigInt(stop.address) } : {}) };
        },
        icount: async () => (await this.debuggee!.position()).icount,
        hitsBack: async (bps, from, to, snapFrom) => {
          const d = this.debuggee!;
          const r = await d.client.hits(
            d.sessionId,
            bps.map((b) => ({ address: b.address, ...(b.stack ? { stack: b.stack } : {}) })),
            { from, to, snapFrom, ...(this.ops.current ? { signal: this.ops.current.signal } : {}) },
          );
          return { hits: r.hits.map((h) => ({ icount: h.icount, address: BigInt(h.address) })).sort((a, b) => a.icount - b.icount), from: r.from ?? from };
        },
        seek: async (icount) => {
          await this.debuggee!.seek(icount);
        },
      },
      () => this.breakpoints?.stoppingAddresses() ?? [],
    );
    this.linux = await LinuxSupport.attach(this.debuggee, this.inspector, {
      inspect: (op) => this.gate.inspection(op),
      progress: (title, requestSeq, cancel) => this.scanProgress(title, requestSeq, cancel),
      eventsChanged: (body) => this.sendCustomEvent('rewind/eventsChanged', body),
      log,
    });
    const what = target.kind === 'local' ? target.bundle : target.recording;
    this.output(`Rewind: debugging ${what} (${this.debuggee.end.toLocaleString('en-US')} instructions), symbols from ${this.debuggee.symbolFile}\n`, 'console');
  }

  private async configurationDone(_args: unknown, ctx: RequestContext): Promise<void> {
    const d = this.requireDebuggee();
    const config = this.config!;
    await this.breakpoints!.setExceptionFilters(this.exceptionFilters);
    await this.executeMove(ctx, async (signal) => {
      if (config.startAt !== undefined) {
        await d.seek(config.startAt === 'end' ? d.end : config.startAt);
        return { reason: 'entry', description: 'Paused at the requested start time', cause: 'seek' };
      }
      if (config.stopOnEntry) return { reason: 'entry', description: 'Paused at the start of the recording', cause: 'entry' };
      return this.gdbContinue(exec.continue(), 'forward', ctx, signal);
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
    if (this.disposed) return;
    this.disposed = true;
    this.ops.cancelAll();
    this.linux?.dispose();
    const d = this.debuggee;
    this.debuggee = undefined;
    await d?.dispose();
  }

  /** The base class calls this when the client's stream closes; in a process of its own it then exits. */
  override shutdown(): void {
    void this.endSession().finally(() => super.shutdown());
  }

  override dispose(): void {
    void this.endSession();
    super.dispose();
  }

  // ---- inspection ----------------------------------------------------------------------------

  /** Runs an inspection: after any running execution, cancelled by the next one or by a cancel request. */
  private inspect<T>(ctx: RequestContext, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.requireDebuggee();
    return this.ops.run(ctx.request.seq, ctx.request.command, { current: 'never' }, (o) => this.gate.inspection(op, o.signal));
  }

  private async threads(_args: unknown, ctx: RequestContext): Promise<DebugProtocol.ThreadsResponse['body']> {
    if (!this.debuggee) return { threads: this.lastThreads };
    const threads = await this.inspect(ctx, () => this.inspector!.threads());
    this.lastThreads = threads;
    return { threads };
  }

  private async stackTrace(args: DebugProtocol.StackTraceArguments, ctx: RequestContext): Promise<DebugProtocol.StackTraceResponse['body']> {
    requireNumber(args.threadId, 'threadId');
    optionalInteger(args.startFrame, 'startFrame', 0);
    optionalInteger(args.levels, 'levels', 0);
    return this.inspect(ctx, (signal) => this.inspector!.stackTrace(args, signal));
  }

  private async scopes(args: DebugProtocol.ScopesArguments, ctx: RequestContext): Promise<DebugProtocol.ScopesResponse['body']> {
    requireNumber(args.frameId, 'frameId');
    return this.inspect(ctx, async () => ({ scopes: this.inspector!.scopes(args.frameId) }));
  }

  private async variables(args: DebugProtocol.VariablesArguments, ctx: RequestContext): Promise<DebugProtocol.VariablesResponse['body']> {
    requireNumber(args.variablesReference, 'variablesReference');
    return this.inspect(ctx, async (signal) => ({ variables: await this.inspector!.variables(args, signal) }));
  }

  private async evaluate(args: DebugProtocol.EvaluateArguments, ctx: RequestContext): Promise<DebugProtocol.EvaluateResponse['body']> {
    if (typeof args.expression !== 'string') throw new AdapterError('evaluate needs "expression"');
    const text = args.expression.trim();
    if (text.startsWith('-exec ') || text === '-exec') return this.gdbCommand(text.slice(5).trim(), ctx);
    if (text === '') throw new AdapterError('nothing to evaluate');
    // Linux: `dmesg` in the Debug Console prints the kernel log at this time point.
    if (text === 'dmesg' && this.linux && (args.context === 'repl' || args.context === undefined)) {
      const linux = this.linux;
      return { result: (await this.inspect(ctx, (signal) => linux.dmesgText(signal))).replace(/\n$/, ''), variablesReference: 0 };
    }
    return this.inspect(ctx, (signal) => this.inspector!.evaluate(text, this.inspector!.frame(args.frameId), signal, args.format));
  }

  /**
   * `-exec CMD` in the Debug Console: a gdb command, passed through. Commands that move time
   * (continue, step, reverse-*, monitor seek, ...) run as executions and end in a stop.
   */
  private async gdbCommand(command: string, ctx: RequestContext): Promise<DebugProtocol.EvaluateResponse['body']> {
    const d = this.requireDebuggee();
    if (command === '') throw new AdapterError('usage: -exec GDB-COMMAND (for example: -exec info registers cr0)');
    if (/^(set\s+var(iable)?\b|(print|p|call|output)\b[^=]*[^=!<>]=[^=]|call\b|jump\b|j\b|return\b|signal\b|queue-signal\b|run\b|start\b|starti\b|kill\b|detach\b|disconnect\b|target\b|file\b|quit\b|q\b)/.test(command)) {
      throw historyError(`The gdb command "${command.split(/\s+/)[0]}"`);
    }
    if (/^(c|cont|continue|n|next|s|step|si|stepi|ni|nexti|finish|fin|until|u|advance|reverse-\S+|rc|rn|rs|rsi|rni|monitor\s+seek)\b/.test(command)) {
      let text = '';
      await this.executeMove(ctx, async (signal) => {
        if (/^monitor\s+seek/.test(command)) {
          text = await d.gdb.console(command);
          await d.resync();
          return { reason: 'goto', description: text.trim(), cause: 'seek' };
        }
        const st = await d.exec(`-interpreter-exec console ${JSON.stringify(command)}`, signal, () => ctx.respond({ result: '', variablesReference: 0 }));
        return this.stopFromMi(st, /^(reverse-|r[cns])/.test(command) ? 'reverse' : 'forward');
      });
      return { result: text, variablesReference: 0 };
    }
    const out = await this.inspect(ctx, (signal) => d.gdb.console(command, { signal }));
    return { result: out.replace(/\n$/, ''), variablesReference: 0 };
  }

  private async source(args: DebugProtocol.SourceArguments): Promise<DebugProtocol.SourceResponse['body']> {
    const path = args.source?.path;
    if (!path) throw new AdapterError('this source has no path; Rewind only serves source files that exist on disk (map build paths with "sourceMap")');
    try {
      return { content: await fs.readFile(path, 'utf8'), mimeType: 'text/x-c' };
    } catch {
      throw new AdapterError(`cannot read ${path}: map the build's source paths to this machine with "sourceMap" in the launch configuration`);
    }
  }

  private async loadedSources(_args: unknown, ctx: RequestContext): Promise<DebugProtocol.LoadedSourcesResponse['body']> {
    const d = this.requireDebuggee();
    const files = await this.inspect(ctx, (signal) => listSourceFiles(d.gdb, { signal }));
    return { sources: files.map((f) => new Source(basename(f.fullname), f.fullname)) };
  }

  /**
   * At a stop on the panic filter: the panic's message. A recording knows what the kernel printed
   * next: the first panic line of the console at or after this time point (the demo guest's
   * "PANIC: ...", Linux's "Kernel panic - not syncing: ...").
   */
  private async exceptionInfo(_args: DebugProtocol.ExceptionInfoArguments, ctx: RequestContext): Promise<DebugProtocol.ExceptionInfoResponse['body']> {
    const d = this.requireDebuggee();
    if (this.lastStopReason !== 'exception') throw new AdapterError('exceptionInfo: the debuggee is not stopped on a kernel panic');
    const { icount } = await d.position();
    const { lines } = await this.inspect(ctx, () => d.client.console(d.sessionId, { from: icount, limit: 200 }));
    const message = panicMessage(lines.map((l) => l.text));
    return {
      exceptionId: 'panic',
      description: message ?? 'The kernel panicked (the recording ends before it printed why)',
      breakMode: 'always',
      details: { typeName: 'Kernel panic', ...(message ? { message } : {}) },
    };
  }

  private async disassemble(args: DebugProtocol.DisassembleArguments, ctx: RequestContext): Promise<DebugProtocol.DisassembleResponse['body']> {
    const d = this.requireDebuggee();
    const base = parseAddress(args.memoryReference) + BigInt(optionalInteger(args.offset, 'offset') ?? 0);
    const count = requireNumber(args.instructionCount, 'instructionCount');
    if (count > 10_000) throw new AdapterError('at most 10000 instructions at a time');
    // Bounded like the count: gdb would disassemble the whole span in between.
    const offset = optionalInteger(args.instructionOffset, 'instructionOffset', -10_000, 10_000) ?? 0;
    const before = Math.max(0, -offset);
    const skip = Math.max(0, offset);
    return this.inspect(ctx, async (signal) => {
      // x86 has no fixed instruction length: disassemble from far enough back and keep the tail.
      const from = before > 0 ? base - BigInt(before * 15) : base;
      const insns = await disassemble(d.gdb, from < 0n ? 0n : from, base + BigInt((skip + count) * 15 + 16), { signal }).catch(() => []);
      const at = insns.findIndex((i) => BigInt(i.address) >= base);
      const startIdx = Math.max(0, (at < 0 ? insns.length : at) - before) + skip;
      const picked = insns.slice(startIdx, startIdx + count).map((i) => {
        const ins: DebugProtocol.DisassembledInstruction = {
          address: i.address,
          instruction: i.inst,
          ...(i.opcodes ? { instructionBytes: i.opcodes } : {}),
          ...(i.func ? { symbol: `${i.func}+${i.offset ?? 0}` } : {}),
          ...(i.fullname ? { location: new Source(basename(i.fullname), i.fullname) } : {}),
          ...(i.line ? { line: i.line } : {}),
        };
        return ins;
      });
      // Pad with "invalid" rows so the client gets the count it asked for.
      while (picked.length < count) picked.push({ address: `0x${(base + BigInt(picked.length)).toString(16)}`, instruction: '??', presentationHint: 'invalid' });
      return { instructions: picked };
    });
  }

  private async readMemory(args: DebugProtocol.ReadMemoryArguments, ctx: RequestContext): Promise<DebugProtocol.ReadMemoryResponse['body']> {
    const d = this.requireDebuggee();
    const address = parseAddress(args.memoryReference) + BigInt(optionalInteger(args.offset, 'offset') ?? 0);
    const count = requireNumber(args.count, 'count');
    if (!Number.isInteger(count) || count < 0 || count > 1 << 20) throw new AdapterError('readMemory reads at most 1 MiB at a time ("count": a whole number of bytes)');
    return this.inspect(ctx, async (signal) => {
      const blocks = count === 0 ? [] : await miReadMemory(d.gdb, address, count, { signal }).catch(() => []);
      // The readable bytes from the start; the rest is reported unreadable.
      let data = Buffer.alloc(0);
      for (const b of blocks) {
        if (b.offset !== data.length) break;
        data = Buffer.concat([data, b.data]);
      }
      return { address: `0x${address.toString(16)}`, data: data.toString('base64'), ...(data.length < count ? { unreadableBytes: count - data.length } : {}) };
    });
  }

  // ---- breakpoints ---------------------------------------------------------------------------

  private async setBreakpoints(args: DebugProtocol.SetBreakpointsArguments, ctx: RequestContext): Promise<DebugProtocol.SetBreakpointsResponse['body']> {
    const path = args.source?.path;
    if (!path) throw new AdapterError('setBreakpoints needs a source with a path');
    if (!isListOfObjects(args.breakpoints ?? [])) throw new AdapterError('"breakpoints" must be a list of source breakpoints ({"line": N, ...})');
    if (!Array.isArray(args.lines ?? []) || (args.lines ?? []).some((l) => typeof l !== 'number')) throw new AdapterError('"lines" must be a list of line numbers');
    const bps = args.breakpoints ?? (args.lines ?? []).map((line) => ({ line }));
    return this.inspect(ctx, async () => ({ breakpoints: await this.breakpoints!.setSourceBreakpoints(path, bps) }));
  }

  private async setFunctionBreakpoints(args: DebugProtocol.SetFunctionBreakpointsArguments, ctx: RequestContext): Promise<DebugProtocol.SetFunctionBreakpointsResponse['body']> {
    if (!isListOfObjects(args.breakpoints)) throw new AdapterError('setFunctionBreakpoints needs "breakpoints", a list of {"name": FUNCTION, ...}');
    return this.inspect(ctx, async () => ({ breakpoints: await this.breakpoints!.setFunctionBreakpoints(args.breakpoints) }));
  }

  private async setInstructionBreakpoints(args: DebugProtocol.SetInstructionBreakpointsArguments, ctx: RequestContext): Promise<DebugProtocol.SetInstructionBreakpointsResponse['body']> {
    if (!Array.isArray(args.breakpoints)) throw new AdapterError('setInstructionBreakpoints needs "breakpoints"');
    return this.inspect(ctx, async () => ({ breakpoints: await this.breakpoints!.setInstructionBreakpoints(args.breakpoints) }));
  }

  private async setExceptionBreakpoints(args: DebugProtocol.SetExceptionBreakpointsArguments, ctx: RequestContext): Promise<void> {
    this.exceptionFilters = Array.isArray(args.filters) ? args.filters.filter((f) => typeof f === 'string') : [];
    if (this.debuggee) await this.inspect(ctx, () => this.breakpoints!.setExceptionFilters(this.exceptionFilters));
  }

  private async dataBreakpointInfo(args: DebugProtocol.DataBreakpointInfoArguments, ctx: RequestContext): Promise<DebugProtocol.DataBreakpointInfoResponse['body']> {
    const d = this.requireDebuggee();
    if (typeof args.name !== 'string' || args.name === '') throw new AdapterError('dataBreakpointInfo needs "name"');
    const bytes = args.bytes === undefined ? undefined : optionalInteger(args.bytes, 'bytes', 1, 4096);
    const access: DebugProtocol.DataBreakpointAccessType[] = ['write', 'read', 'readWrite'];
    if (args.asAddress === true) {
      // Memory by address (a Memory view selection, a pointer's value): no expression, no type.
      let address: bigint;
      try {
        address = parseAddress(args.name);
      } catch (e) {
        return { dataId: null, description: messageOf(e) };
      }
      const size = bytes ?? 1;
      const hex = `0x${address.toString(16)}`;
      const id: DataId = { address: hex, size, expression: `${size} byte${size === 1 ? '' : 's'} at ${hex}` };
      return { dataId: JSON.stringify(id), description: id.expression, accessTypes: access, canPersist: true };
    }
    return this.inspect(ctx, async () => {
      let expression = args.name;
      let frame = this.inspector!.frame(args.frameId);
      if (args.variablesReference !== undefined && args.variablesReference > 0) {
        const e = await this.inspector!.expressionOf(args.variablesReference, args.name);
        expression = e.expression;
        frame = e.frame ?? frame;
      }
      if (expression.startsWith('$')) return { dataId: null, description: `${expression} is a register, not memory` };
      try {
        const found = await this.dataIdOf(d, expression, frame);
        // `bytes`: that many bytes from the variable's address (its type then no longer describes them).
        const id: DataId = bytes === undefined ? found : { address: found.address, size: bytes, expression: found.expression };
        return { dataId: JSON.stringify(id), description: `${expression} (${id.size} bytes at ${id.address})`, accessTypes: access, canPersist: false };
      } catch (e) {
        return { dataId: null, description: `no data breakpoint for ${expression}: ${messageOf(e)}` };
      }
    });
  }

  private async dataIdOf(d: Debuggee, expression: string, frame: { thread: number; level: number } | undefined): Promise<DataId> {
    const addressText = await evaluate(d.gdb, `&(${expression})`, frame).catch((e) => {
      throw noDataBreakpoint(expression, `it is not in memory (${messageOf(e)})`);
    });
    const m = /0x[0-9a-f]+/i.exec(addressText);
    if (!m) throw noDataBreakpoint(expression, `gdb gave no address (${addressText})`);
    const size = Number(await evaluate(d.gdb, `sizeof(${expression})`, frame));
    if (!Number.isInteger(size) || size <= 0) throw noDataBreakpoint(expression, 'its size is unknown');
    const whatis = await d.gdb.console(`whatis ${expression}`).catch(() => '');
    const type = /type = (.*)/.exec(whatis)?.[1]?.trim();
    return { address: `0x${BigInt(m[0]).toString(16)}`, size, expression, ...(type && !type.includes('[') ? { type } : {}) };
  }

  private async setDataBreakpoints(args: DebugProtocol.SetDataBreakpointsArguments, ctx: RequestContext): Promise<DebugProtocol.SetDataBreakpointsResponse['body']> {
    if (!Array.isArray(args.breakpoints)) throw new AdapterError('setDataBreakpoints needs "breakpoints"');
    return this.inspect(ctx, async () => ({ breakpoints: await this.breakpoints!.setDataBreakpoints(args.breakpoints) }));
  }

  // ---- execution -----------------------------------------------------------------------------

  /**
   * Runs a move: exclusively, after earlier ones, cancelling pending inspections; answers the
   * request (if the move did not already), then reports the stop.
   */
  private executeMove(ctx: RequestContext, op: (signal: AbortSignal) => Promise<StopInfo>, title?: string, progress = false): Promise<void> {
    const d = this.requireDebuggee();
    // DAP clients learn that a custom request (or a gdb command in the Debug Console) moves time only
    // from a `continued` event (the standard moves imply it): sent with a successful answer, so that
    // a refused move leaves the thread stopped.
    if (!MOVES_THAT_IMPLY_CONTINUED.has(ctx.request.command)) ctx.beforeRespond = () => this.sendEvent(new ContinuedEvent(this.lastThreads[0]?.id ?? 1, true));
    return this.gate.execution(async () => {
      // Long by nature (progress): shown (and cancellable) from the start, not from the first progress report.
      const run = this.ops.begin(ctx.request.seq, title ?? ctx.request.command, { current: 'always', showNow: progress });
      let stop: StopInfo;
      try {
        stop = await op(run.signal);
      } catch (e) {
        if (!ctx.responded) throw e;
        await d.resync().catch(() => undefined);
        if (run.signal.aborted) {
          stop = { reason: 'pause', description: 'Cancelled', cause: ctx.request.command };
        } else {
          // Answered already: the failure goes to the console, and the client still gets a stop.
          this.output(`${ctx.request.command} failed: ${messageOf(e)}\n`, 'stderr');
          stop = { reason: 'pause', description: `${ctx.request.command} failed: ${messageOf(e)}`, cause: ctx.request.command };
        }
      } finally {
        run.end();
      }
      ctx.respond();
      await this.reportStop(stop);
    });
  }

  private threadOf(args: { threadId?: unknown }): number {
    const t = args.threadId;
    if (typeof t !== 'number') throw new AdapterError('this request needs "threadId"');
    if (!this.lastThreads.some((x) => x.id === t)) throw new AdapterError(`unknown threadId ${t}; the guest's vCPUs are threads ${this.lastThreads.map((x) => x.id).join(', ')}`, ErrorId.unknownReference);
    return t;
  }

  private async continue(args: DebugProtocol.ContinueArguments, ctx: RequestContext): Promise<void> {
    this.threadOf(args);
    await this.executeMove(ctx, (signal) => this.gdbContinue(exec.continue(), 'forward', ctx, signal, { allThreadsContinued: true }));
  }

  private async reverseContinue(args: DebugProtocol.ReverseContinueArguments, ctx: RequestContext): Promise<void> {
    this.threadOf(args);
    await this.executeMove(ctx, (signal) => this.gdbContinue(exec.continue({ reverse: true }), 'reverse', ctx, signal, { allThreadsContinued: true }), 'Reverse continue', true);
  }

  private async next(args: DebugProtocol.NextArguments, ctx: RequestContext): Promise<void> {
    const t = this.threadOf(args);
    await this.executeMove(ctx, (signal) => this.lineStep(exec.next({ thread: t, instruction: args.granularity === 'instruction' }), t, ctx, signal));
  }

  private async stepIn(args: DebugProtocol.StepInArguments, ctx: RequestContext): Promise<void> {
    const t = this.threadOf(args);
    await this.executeMove(ctx, (signal) => this.lineStep(exec.step({ thread: t, instruction: args.granularity === 'instruction' }), t, ctx, signal));
  }

  /**
   * A forward step. Where the pc has no line information (boot code, assembly without DWARF),
   * gdb refuses to step a line ("Cannot find bounds of current function"): step one instruction
   * instead, as a kernel developer stepping through entry code expects, and say so.
   */
  private async lineStep(command: string, thread: number, ctx: RequestContext, signal: AbortSignal): Promise<StopInfo> {
    try {
      return await this.gdbStep(command, 'forward', ctx, signal);
    } catch (e) {
      if (ctx.responded || !/Cannot find bounds of current function/.test((e as Error).message)) throw e;
      this.output('Rewind: no line information at this address: stepped one instruction\n', 'console');
      return this.gdbStep(exec.step({ thread, instruction: true }), 'forward', ctx, signal);
    }
  }

  private async stepOut(args: DebugProtocol.StepOutArguments, ctx: RequestContext): Promise<void> {
    const t = this.threadOf(args);
    await this.executeMove(ctx, (signal) => this.finish(exec.finish({ thread: t }), 'forward', ctx, signal));
  }

  /**
   * gdb's finish (either way). Where the pc belongs to no function (the kernel's boot
   * decompressor runs before vmlinux and has no symbols) it refuses: say why, in the user's terms.
   */
  private async finish(command: string, direction: 'forward' | 'reverse', ctx: RequestContext, signal: AbortSignal): Promise<StopInfo> {
    try {
      return await this.gdbStep(command, direction, ctx, signal);
    } catch (e) {
      if (ctx.responded || !/Cannot find bounds of current function|not meaningful in the outermost frame/.test(messageOf(e))) throw e;
      const pc = (await this.requireDebuggee().frame().catch(() => undefined))?.pc;
      const instead = direction === 'reverse' ? 'step back by instruction, or reverse continue to a breakpoint' : 'step by instruction, or continue to a breakpoint';
      const at = pc !== undefined ? ` at 0x${pc.toString(16)}` : '';
      throw new AdapterError(`there is no function to step out of here: the code${at} has no symbols or no caller gdb can find (gdb: ${messageOf(e)}); ${instead} instead`);
    }
  }

  private async stepBack(args: DebugProtocol.StepBackArguments, ctx: RequestContext): Promise<void> {
    await this.reverseStep('over', args, ctx);
  }

  private async reverseStepInRequest(args: { threadId?: number; granularity?: string }, ctx: RequestContext): Promise<void> {
    await this.reverseStep('into', args, ctx);
  }

  private async reverseStepOutRequest(args: { threadId?: number; granularity?: string }, ctx: RequestContext): Promise<void> {
    await this.reverseStep('out', args, ctx);
  }

  /** Reverse steps: instruction granularity through gdb; lines and step-out by the fast engine path. */
  private async reverseStep(kind: ReverseStepKind, args: { threadId?: unknown; granularity?: unknown }, ctx: RequestContext): Promise<void> {
    const t = this.threadOf(args);
    const d = this.requireDebuggee();
    await this.executeMove(ctx, async (signal) => {
      if (args.granularity === 'instruction' && kind !== 'out') {
        // Exactly one instruction back, also over a `ret` (reverse-nexti would go back over the whole call).
        return this.gdbStep(exec.step({ thread: t, reverse: true, instruction: true }), 'reverse', ctx, signal);
      }
      const startedAt = (await d.position()).icount;
      if (startedAt === 0) return startStop('stepBack');
      await d.gdb.send(threadSelect(t));
      // Answered now, unless gdb's own reverse-finish does the step: that one is answered once gdb
      // runs, so that gdb refusing it (no symbols here, the outermost frame) is an error response.
      if (kind !== 'out' || (await this.stepper!.outFallback()) === undefined) ctx.respond();
      const r: ReverseStepResult = await this.stepper!.step(kind);
      if (r.kind === 'fallback') {
        this.output(`Rewind: ${r.reason}: using gdb's own reverse ${kind === 'out' ? 'finish' : kind === 'into' ? 'step' : 'next'} (slower)\n`, 'console');
        if (kind === 'out') return this.finish(exec.finish({ thread: t, reverse: true }), 'reverse', ctx, signal);
        return this.gdbStep((kind === 'into' ? exec.step : exec.next)({ thread: t, reverse: true }), 'reverse', ctx, signal);
      }
      if (r.kind === 'start' || (r.kind === 'step' && (await d.position()).icount === 0)) return startStop('stepBack');
      if (r.kind === 'breakpoint') {
        const ids = this.breakpoints!.idsAt(r.address);
        return { reason: 'breakpoint', description: 'Paused on a breakpoint while stepping back', threadId: t, ...(ids.length ? { hitBreakpointIds: ids } : {}), cause: 'stepBack' };
      }
      return { reason: 'step', threadId: t, cause: 'stepBack' };
    });
  }

  /**
   * A continue through gdb (forward or reverse), resumed by the adapter after logpoints and
   * breakpoints whose hit condition is not met. Answers the request once gdb runs.
   */
  private async gdbContinue(command: string, direction: 'forward' | 'reverse', ctx: RequestContext, signal: AbortSignal, _opts: { allThreadsContinued?: boolean } = {}): Promise<StopInfo> {
    const d = this.requireDebuggee();
    let cmd = command;
    for (;;) {
      const st = await d.exec(cmd, signal, () => ctx.respond({ allThreadsContinued: true }));
      const reason = miString(st, 'reason') ?? '';
      if (!signal.aborted && (reason === 'breakpoint-hit' || reason.endsWith('watchpoint-trigger'))) {
        const n = Number(miString(st, 'bkptno') ?? miString(watchpointOf(st), 'number'));
        const decision = await this.breakpoints!.onHit(n, { thread: Number(miString(st, 'thread-id') ?? 1), level: 0 });
        if (decision?.log !== undefined) this.output(`${direction === 'reverse' ? '◀ ' : ''}${decision.log}\n`, 'console');
        if (decision && !decision.stop) {
          cmd = exec.continue({ reverse: direction === 'reverse' });
          continue;
        }
      }
      return this.stopFromMi(st, direction, signal.aborted);
    }
  }

  /** A step through gdb: breakpoints that only count or log are disabled meanwhile. */
  private async gdbStep(command: string, direction: 'forward' | 'reverse', ctx: RequestContext, signal: AbortSignal): Promise<StopInfo> {
    const d = this.requireDebuggee();
    await this.breakpoints!.setCountingEnabled(false);
    try {
      const st = await d.exec(command, signal, () => ctx.respond());
      return await this.stopFromMi(st, direction, signal.aborted);
    } finally {
      await this.breakpoints!.setCountingEnabled(true).catch(() => undefined);
    }
  }

  /** What a gdb `*stopped` record means for the user (stops.ts decides; this gathers the facts). */
  private async stopFromMi(st: MiTuple, direction: 'forward' | 'reverse', aborted = false): Promise<StopInfo> {
    const position = stopNeedsPosition(st, aborted) ? await this.debuggee!.position() : undefined;
    return classifyStop(st, { direction, aborted, ...(position ? { position } : {}), breakpoint: (n) => this.breakpoints!.lookup(n) });
  }

  private async pause(): Promise<void> {
    // Nothing current: already stopped, nothing to do.
    this.ops.current?.cancel();
  }

  private async cancel(args: DebugProtocol.CancelArguments): Promise<void> {
    this.ops.cancel(args);
  }

  /** The relay tells about execution packets gdb sends (diagnostics when tracing). */
  private onRelayExecution(e: RelayExecutionEvent): void {
    if (this.config?.trace && e.phase !== "start") this.output(`relay: ${e.packet} -> ${e.phase === "end" ? `${e.stop.kind} at ${e.stop.icount}` : e.error.message}\n`, "console");
  }

  /** After a move: new handles, then the stop, the new position, and a refresh of every view. */
  private async reportStop(stop: StopInfo): Promise<void> {
    const d = this.debuggee;
    if (!d) return;
    await this.inspector!.reset(stop.reason);
    this.lastStopReason = stop.reason;
    const e = new StoppedEvent(stop.reason, stop.threadId ?? this.lastThreads[0]?.id ?? 1) as DebugProtocol.StoppedEvent;
    e.body.allThreadsStopped = true;
    if (stop.description) e.body.description = stop.description;
    if (stop.text) e.body.text = stop.text;
    if (stop.hitBreakpointIds) e.body.hitBreakpointIds = stop.hitBreakpointIds;
    this.sendEvent(e);
    const pos = await this.position().catch(() => undefined);
    // No `invalidated`: every move ends in `stopped` (after `continued` for custom ones), on which
    // clients refresh their views; an extra `invalidated` makes VS Code cancel the stack trace it is fetching.
    if (pos) this.sendCustomEvent('rewind/positionChanged', { ...pos, reason: stop.cause });
  }

  private sendCustomEvent<E extends keyof RewindDapEvents>(event: E, body: RewindDapEvents[E]): void {
    this.sendEvent({ seq: 0, type: 'event', event, body } as DebugProtocol.Event);
  }

  // ---- Rewind's custom requests --------------------------------------------------------------

  private async position(): Promise<RewindPosition> {
    const d = this.requireDebuggee();
    const p = await d.position();
    const nearestEvent = await this.nearestEvent(p.icount);
    return {
      icount: p.icount,
      end: p.end,
      percent: p.end > 0 ? Math.round((p.icount / p.end) * 10000) / 100 : 0,
      atStart: p.icount === 0,
      atEnd: p.icount >= p.end,
      ...(nearestEvent ? { nearestEvent } : {}),
    };
  }

  private async nearestEvent(icount: TimePoint): Promise<ReplayEvent | undefined> {
    const d = this.requireDebuggee();
    this.notable ??= (await d.client.events(d.sessionId, { kinds: NOTABLE_KINDS, limit: 1_000_000 })).events;
    const list = this.notable;
    if (list.length === 0) return undefined;
    let lo = 0;
    let hi = list.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.icount < icount) lo = mid + 1;
      else hi = mid;
    }
    const after = list[lo]!;
    const before = lo > 0 ? list[lo - 1]! : undefined;
    return before && icount - before.icount <= after.icount - icount ? before : after;
  }

  private async positionRequest(): Promise<RewindPosition> {
    return this.position();
  }

  private async seekRequest(args: RewindSeekArguments, ctx: RequestContext): Promise<void> {
    const d = this.requireDebuggee();
    const given = [args.icount, args.eventIndex, args.percent].filter((v) => v !== undefined && v !== null).length;
    if (given !== 1) throw new AdapterError('rewind/seek needs exactly one of "icount", "eventIndex" or "percent"');
    let target: TimePoint;
    let what: string;
    if (args.icount !== undefined) {
      if (!Number.isSafeInteger(args.icount) || args.icount < 0) throw new AdapterError(`"icount" must be a non-negative whole number, got ${JSON.stringify(args.icount)}`);
      target = args.icount;
      what = `icount ${target.toLocaleString('en-US')}`;
    } else if (args.percent !== undefined) {
      if (typeof args.percent !== 'number' || !(args.percent >= 0 && args.percent <= 100)) throw new AdapterError('"percent" must be between 0 and 100');
      target = Math.round((d.end * args.percent) / 100);
      what = `${args.percent}% of the recording`;
    } else {
      const idx = args.eventIndex!;
      if (!Number.isSafeInteger(idx) || idx < 0) throw new AdapterError('"eventIndex" must be a non-negative whole number');
      // A Linux kernel event (numbered after the event index's own, see rewind/events).
      const kernelEvent = this.linux?.eventByIndex(idx);
      const ev = kernelEvent ? { icount: kernelEvent.icount, kind: `kernel ${kernelEvent.kind}`, detail: `in ${kernelEvent.function}()` } : (await d.client.events(d.sessionId, { from: 0, limit: idx + 1 })).events.find((e) => e.index === idx);
      if (!ev) throw new AdapterError(`there is no event #${idx} in this recording`);
      target = ev.icount;
      what = `event #${idx} (${ev.kind}${ev.detail ? ` ${ev.detail}` : ''})`;
    }
    await this.executeMove(ctx, async () => {
      const at = await d.seek(Math.min(target, d.end));
      ctx.respond(await this.position());
      if (at >= d.end) return endStop('seek', at);
      if (at === 0) return { ...startStop('seek'), reason: 'goto' };
      return { reason: 'goto', description: `Went to ${what}`, cause: 'seek' };
    }, 'Go to time');
  }

  private async eventsRequest(args: { from?: number; to?: number; kinds?: string[]; limit?: number }, ctx: RequestContext): Promise<unknown> {
    const d = this.requireDebuggee();
    if (this.linux) return this.linux.events(args, ctx.request.seq);
    return d.client.events(d.sessionId, {
      ...(args.from !== undefined ? { from: args.from } : {}),
      ...(args.to !== undefined ? { to: args.to } : {}),
      ...(args.kinds !== undefined ? { kinds: args.kinds } : {}),
      ...(args.limit !== undefined ? { limit: args.limit } : {}),
    });
  }

  private async snapshotsRequest(): Promise<unknown> {
    const d = this.requireDebuggee();
    const r = await d.client.snapshots(d.sessionId);
    return { snapshots: r.snapshots.map((s) => ({ name: s.name, icount: s.icount, source: (s as { source?: 'record' | 'replay' }).source ?? 'record' })) };
  }

  private async takeSnapshotRequest(): Promise<unknown> {
    const d = this.requireDebuggee();
    const r = await d.client.createSnapshot(d.sessionId);
    return { snapshot: r.snapshot };
  }

  private async lastWriteRequest(args: RewindLastWriteArguments, ctx: RequestContext): Promise<unknown> {
    const d = this.requireDebuggee();
    let address: bigint;
    let size: number;
    let label: string;
    if (args.expression !== undefined) {
      if (typeof args.expression !== 'string' || args.expression.trim() === '') throw new AdapterError('"expression" must be a C expression');
      const frame = this.inspector!.frame(args.frameId);
      const id = await this.inspect(ctx, () => this.dataIdOf(d, args.expression!, frame));
      address = BigInt(id.address);
      size = id.size;
      label = args.expression;
    } else if (args.address !== undefined) {
      address = parseAddress(args.address);
      size = args.size ?? 1;
      if (!Number.isInteger(size) || size < 1 || size > 4096) throw new AdapterError('"size" must be 1 to 4096 bytes');
      label = `${size} bytes at ${args.address}`;
    } else throw new AdapterError('rewind/lastWrite needs "expression" (with an optional frameId) or "address" and "size"');

    const after = await d.client.readMemory(d.sessionId, address, size).catch(() => undefined);
    const { hit } = await this.query(ctx, `Last write of ${label}`, (signal) => d.client.lastWrite(d.sessionId, address, size, { signal }));
    const base = { address: `0x${address.toString(16)}`, size };
    if (!hit) return { found: false, ...base };
    if (!args.seek) {
      const lines = await symbolInfoLine(d.gdb, `*${hit.address}`).catch(() => []);
      return { found: true, ...base, icount: hit.icount, writer: { address: hit.address, ...(lines[0] ? { function: lines[0].func, path: lines[0].fullname, line: lines[0].line } : {}) }, ...(after ? { after: after.toString('hex') } : {}) };
    }
    let body: unknown;
    await this.executeMove(ctx, async () => {
      const at = await d.seek(hit!.icount - 1);
      const before = await d.client.readMemory(d.sessionId, address, size).catch(() => undefined);
      const f = await d.frame(0).catch(() => undefined);
      body = {
        found: true,
        ...base,
        icount: hit!.icount,
        writer: { address: f ? `0x${f.pc.toString(16)}` : hit!.address, ...(f?.function ? { function: f.function.name } : {}), ...(f?.line ? { path: f.line.file, line: f.line.line } : {}) },
        ...(before ? { before: before.toString('hex') } : {}),
        ...(after ? { after: after.toString('hex') } : {}),
      };
      ctx.respond(body);
      return { reason: 'data breakpoint', description: `The last write of ${label} before icount ${(at + 1).toLocaleString('en-US')}${before && after ? `: ${before.toString('hex')} → ${after.toString('hex')}` : ''}`, cause: 'seek' };
    }, 'Find last write');
    return body;
  }

  private async hitsRequest(args: RewindHitsArguments, ctx: RequestContext): Promise<unknown> {
    const d = this.requireDebuggee();
    let spec: string;
    if (args.address !== undefined) spec = `*${parseAddress(args.address).toString()}`;
    else if (args.function !== undefined) spec = args.function;
    else if (args.source?.path && typeof args.line === 'number') spec = `${args.source.path}:${args.line}`;
    else throw new AdapterError('rewind/hits needs "source" and "line", "function", or "address"');
    const addresses = await this.inspect(ctx, async () => {
      if (args.address !== undefined) return [parseAddress(args.address)];
      const out = await d.gdb.console(`rewind-line-addresses ${spec}`);
      const json = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { locations?: Array<{ address: string }>; error?: string };
      if (json.error) throw new AdapterError(`no code for ${spec}: ${json.error}`);
      return (json.locations ?? []).map((l) => BigInt(l.address));
    });
    if (addresses.length === 0) throw new AdapterError(`no code for ${spec}`);
    const r = await this.query(ctx, `All hits of ${spec}`, (signal) =>
      d.client.hits(d.sessionId, addresses, { ...(args.from !== undefined ? { from: args.from } : {}), ...(args.to !== undefined ? { to: args.to } : {}), signal }),
    );
    return { addresses: addresses.map((a) => `0x${a.toString(16)}`), hits: r.hits.map((h) => ({ icount: h.icount, address: h.address })) };
  }

  /** A query over the recording on the bridge: shown with progress, cancellable, current unless a move is. */
  private query<T>(ctx: RequestContext, title: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.ops.run(ctx.request.seq, title, { current: 'ifIdle', showNow: true }, async (op) => {
      try {
        return await fn(op.signal);
      } catch (e) {
        if (op.signal.aborted) throw new CancelledRequestError();
        throw e;
      }
    });
  }

  // ---- Linux guests (debug-adapter/src/linux/) -------------------------------------------------

  private requireLinux(what: string): LinuxSupport {
    this.requireDebuggee();
    if (!this.linux) throw new AdapterError(`${what} needs a Linux guest: these symbols have no linux_banner and init_task`);
    return this.linux;
  }

  private async dmesgRequest(args: { limit?: number }, ctx: RequestContext): Promise<unknown> {
    const linux = this.requireLinux('rewind/dmesg');
    return this.inspect(ctx, (signal) => linux.dmesg(args.limit, signal));
  }

  /** Not an inspection: the scan runs in a bridge session of its own, whatever the user does meanwhile. */
  private async kernelEventsRequest(_args: unknown, ctx: RequestContext): Promise<unknown> {
    const linux = this.requireLinux('rewind/kernelEvents');
    return this.ops.run(ctx.request.seq, 'Kernel events', { current: 'never' }, (op) => linux.kernelEvents(ctx.request.seq, op.signal));
  }

  /** Progress of a kernel-event scan: a cancellable progress notification of its own. */
  private scanProgress(title: string, requestSeq: number, cancel: () => void): { update(done: number, total: number): void; end(): void } {
    const op = this.ops.begin(requestSeq, title, { current: 'never', showNow: true, onCancel: cancel });
    return { update: (done, total) => op.progress(done, total, 'of the recording scanned'), end: () => op.end() };
  }

  // ---- recording first -----------------------------------------------------------------------

  private async recordFirst(spec: NormalizedRecordSpec, requestSeq: number, cwd: string): Promise<string> {
    const out = spec.out ?? join(cwd, 'recordings', defaultBundleName(spec.kernel));
    await fs.mkdir(dirname(out), { recursive: true });
    const run = this.ops.begin(requestSeq, `Recording ${basename(spec.kernel)}`, { current: 'always', showNow: true });
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
      this.output(`Rewind: recorded ${result.bundle} (${result.stopReason}${result.stopDetail ? `: ${result.stopDetail}` : ''})\n`, 'console');
      for (const w of result.warnings) this.output(`Rewind: warning: ${w}\n`, 'console');
      return result.bundle;
    } finally {
      run.end();
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  private requireDebuggee(): Debuggee {
    if (!this.debuggee) {
      throw new AdapterError(this.disposed ? 'the debug session has ended' : 'no recording is open yet: send "launch" or "attach" first', ErrorId.notLaunched);
    }
    return this.debuggee;
  }

  private output(text: string, category: 'console' | 'stdout' | 'stderr'): void {
    this.sendEvent(new OutputEvent(text, category));
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isObjectOrMissing(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v));
}

/** A whole number within [min, max], or undefined when absent. */
function optionalInteger(v: unknown, name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new AdapterError(`"${name}" must be a whole number${min > Number.MIN_SAFE_INTEGER ? ` from ${min}` : ''}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function isListOfObjects(v: unknown): v is object[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));
}

function requireNumber(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new AdapterError(`"${name}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function parseAddress(text: unknown): bigint {
  if (typeof text !== 'string' || !/^(0x[0-9a-f]+|\d+)$/i.test(text.trim())) throw new AdapterError(`"${String(text)}" is not an address (use a hex number such as 0x100a9a)`);
  return BigInt(text.trim());
}
