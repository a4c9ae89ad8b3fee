/**
 * Rewind's DAP session: a thin mapping of DAP requests onto the debuggee (bridge + relay + gdb).
 *
 * Request handling (why dispatchRequest is replaced): the base class calls handlers without
 * awaiting them, so an async failure would send no response. Here every handler is awaited and
 * any error becomes an error response. Execution requests run one at a time (ExecutionGate) and
 * are answered before the `stopped` event that follows them; inspection requests still pending
 * when an execution starts are cancelled.
 */
import { DebugSession, InitializedEvent, Response, Source, TerminatedEvent } from '@vscode/debugadapter';
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
  type RewindLastWriteArguments,
  type RewindLastWriteResponse,
  type RewindSnapshot,
  type RewindSnapshotsResponse,
} from '../../recorder-bridge/src/protocol';
import { defaultBundleName } from '../../recorder-bridge/src/record/bundle-name';
import { record } from '../../recorder-bridge/src/record/recorder';
import { EXCEPTION_FILTERS, noDataBreakpoint, type DataId } from './breakpoints';
import { Debuggee, isBridgeUserError } from './debuggee';
import { AdapterError, CancelledRequestError, ErrorId, historyError, messageOf, userMessage } from './errors';
import { HandlerContext } from './handlers/context';
import { openRecording } from './open-recording';
import { gdbContinue } from './handlers/gdb-moves';
import { timeTravelHandlers } from './handlers/time-travel';
import { inspectionHandlers } from './handlers/inspection';
import { isListOfObjects, optionalInteger, parseAddress, requireNumber } from './handlers/arguments';
import { LineBase } from './line-base';
import { parseAttachArguments, parseLaunchArguments, type CommonConfig, type NormalizedRecordSpec, type SessionConfig } from './launch-config';
import { disassemble, evaluate, readMemory as miReadMemory, symbolInfoLine } from './mi/commands';
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
    setBreakpoints: this.setBreakpoints,
    setFunctionBreakpoints: this.setFunctionBreakpoints,
    setInstructionBreakpoints: this.setInstructionBreakpoints,
    setExceptionBreakpoints: this.setExceptionBreakpoints,
    dataBreakpointInfo: this.dataBreakpointInfo,
    setDataBreakpoints: this.setDataBreakpoints,
    cancel: this.cancel,
    disassemble: this.disassemble,
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
    'rewind/events': this.eventsRequest,
    'rewind/snapshots': this.snapshotsRequest,
    'rewind/takeSnapshot': this.takeSnapshotRequest,
    'rewind/lastWrite': this.lastWriteRequest,
    'rewind/hits': this.hitsRequest,
    'rewind/dmesg': this.dmesgRequest,
    'rewind/kernelEvents': this.kernelEventsRequest,
    ...timeTravelHandlers(this.c),
    ...inspectionHandlers(this.c),
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

  // ---- inspection ----------------------------------------------------------------------------

  private async disassemble(args: DebugProtocol.DisassembleArguments, ctx: RequestContext): Promise<DebugProtocol.DisassembleResponse['body']> {
    const d = this.c.requireDebuggee();
    const base = parseAddress(args.memoryReference) + BigInt(optionalInteger(args.offset, 'offset') ?? 0);
    const count = requireNumber(args.instructionCount, 'instructionCount');
    if (count > 10_000) throw new AdapterError('at most 10000 instructions at a time');
    // Bounded like the count: gdb would disassemble the whole span in between.
    const offset = optionalInteger(args.instructionOffset, 'instructionOffset', -10_000, 10_000) ?? 0;
    const before = Math.max(0, -offset);
    const skip = Math.max(0, offset);
    return this.c.inspect(ctx, async (signal) => {
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
    const d = this.c.requireDebuggee();
    const address = parseAddress(args.memoryReference) + BigInt(optionalInteger(args.offset, 'offset') ?? 0);
    const count = requireNumber(args.count, 'count');
    if (!Number.isInteger(count) || count < 0 || count > 1 << 20) throw new AdapterError('readMemory reads at most 1 MiB at a time ("count": a whole number of bytes)');
    return this.c.inspect(ctx, async (signal) => {
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
    return this.c.inspect(ctx, async () => ({ breakpoints: await this.c.open().breakpoints.setSourceBreakpoints(path, bps) }));
  }

  private async setFunctionBreakpoints(args: DebugProtocol.SetFunctionBreakpointsArguments, ctx: RequestContext): Promise<DebugProtocol.SetFunctionBreakpointsResponse['body']> {
    if (!isListOfObjects(args.breakpoints)) throw new AdapterError('setFunctionBreakpoints needs "breakpoints", a list of {"name": FUNCTION, ...}');
    return this.c.inspect(ctx, async () => ({ breakpoints: await this.c.open().breakpoints.setFunctionBreakpoints(args.breakpoints) }));
  }

  private async setInstructionBreakpoints(args: DebugProtocol.SetInstructionBreakpointsArguments, ctx: RequestContext): Promise<DebugProtocol.SetInstructionBreakpointsResponse['body']> {
    if (!Array.isArray(args.breakpoints)) throw new AdapterError('setInstructionBreakpoints needs "breakpoints"');
    return this.c.inspect(ctx, async () => ({ breakpoints: await this.c.open().breakpoints.setInstructionBreakpoints(args.breakpoints) }));
  }

  private async setExceptionBreakpoints(args: DebugProtocol.SetExceptionBreakpointsArguments, ctx: RequestContext): Promise<void> {
    this.c.exceptionFilters = Array.isArray(args.filters) ? args.filters.filter((f) => typeof f === 'string') : [];
    if (this.c.debuggee) await this.c.inspect(ctx, () => this.c.open().breakpoints.setExceptionFilters(this.c.exceptionFilters));
  }

  private async dataBreakpointInfo(args: DebugProtocol.DataBreakpointInfoArguments, ctx: RequestContext): Promise<DebugProtocol.DataBreakpointInfoResponse['body']> {
    const d = this.c.requireDebuggee();
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
    return this.c.inspect(ctx, async () => {
      let expression = args.name;
      let frame = this.c.open().inspector.frame(args.frameId);
      if (args.variablesReference !== undefined && args.variablesReference > 0) {
        const e = await this.c.open().inspector.expressionOf(args.variablesReference, args.name);
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
    return this.c.inspect(ctx, async () => ({ breakpoints: await this.c.open().breakpoints.setDataBreakpoints(args.breakpoints) }));
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

  private async lastWriteRequest(args: RewindLastWriteArguments, ctx: RequestContext<RewindLastWriteResponse>): Promise<RewindLastWriteResponse | void> {
    const d = this.c.requireDebuggee();
    let address: bigint;
    let size: number;
    let label: string;
    if (args.expression !== undefined) {
      if (typeof args.expression !== 'string' || args.expression.trim() === '') throw new AdapterError('"expression" must be a C expression');
      const frame = this.c.open().inspector.frame(args.frameId);
      const id = await this.c.inspect(ctx, () => this.dataIdOf(d, args.expression!, frame));
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
    const { hit } = await this.c.query(ctx, `Last write of ${label}`, (signal) => d.client.lastWrite(d.sessionId, address, size, { signal }));
    const base = { address: `0x${address.toString(16)}`, size };
    if (!hit) return { found: false, ...base };
    if (!args.seek) {
      const lines = await symbolInfoLine(d.gdb, `*${hit.address}`).catch(() => []);
      return { found: true, ...base, icount: hit.icount, writer: { address: hit.address, ...(lines[0] ? { function: lines[0].func, path: lines[0].fullname, line: lines[0].line } : {}) }, ...(after ? { after: after.toString('hex') } : {}) };
    }
    await this.c.move(ctx, async () => {
      const at = await d.seek(hit!.icount - 1);
      const before = await d.client.readMemory(d.sessionId, address, size).catch(() => undefined);
      const f = await d.frame(0).catch(() => undefined);
      ctx.respond({
        found: true,
        ...base,
        icount: hit!.icount,
        writer: { address: f ? `0x${f.pc.toString(16)}` : hit!.address, ...(f?.function ? { function: f.function.name } : {}), ...(f?.line ? { path: f.line.file, line: f.line.line } : {}) },
        ...(before ? { before: before.toString('hex') } : {}),
        ...(after ? { after: after.toString('hex') } : {}),
      });
      return { reason: 'data breakpoint', description: `The last write of ${label} before icount ${(at + 1).toLocaleString('en-US')}${before && after ? `: ${before.toString('hex')} → ${after.toString('hex')}` : ''}`, cause: 'seek' };
    }, 'Find last write');
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
