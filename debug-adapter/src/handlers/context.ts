/**
 * What the request handlers share, in one object the session owns and passes to each group of
 * handlers (handlers/*.ts): the open recording, the state requests read and write (threads, the
 * last stop, the exception filters), and the ways work runs on the debuggee:
 * - inspect: concurrently with other inspections, after any running move, cancelled by the next;
 * - query: a long query over the recording on the bridge (progress, cancellable);
 * - move: exclusively, answered before the `stopped` event it ends with.
 * Every one of them is a LongOperation (long-operation.ts): cancellable by its request.
 */
import { ContinuedEvent, ModuleEvent, OutputEvent, StoppedEvent } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { RewindDapEvents, RewindPosition } from '@rewind/protocol';
import type { Debuggee } from '../debuggee';
import { AdapterError, CancelledRequestError, ErrorId, messageOf } from '../errors';
import { ExecutionGate } from '../execution-gate';
import type { LinuxSupport } from '../linux/linux-support';
import { LongOperations } from '../long-operation';
import type { OpenRecording } from '../open-recording';
import type { RequestContext } from '../requests';
import type { StopInfo } from '../stops';
import { dapModule } from '../linux/module-symbols';

/** Requests whose response tells DAP clients that execution continued (DAP: no `continued` event for them). */
const MOVES_THAT_IMPLY_CONTINUED = new Set(['configurationDone', 'continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue']);

export type OutputCategory = 'console' | 'stdout' | 'stderr';

export class HandlerContext {
  readonly ops: LongOperations;
  private readonly gate = new ExecutionGate();
  private recording?: OpenRecording;
  private ended = false;
  /** Kernel awareness, when the guest is Linux (debug-adapter/src/linux/). */
  linux?: LinuxSupport;
  /** The guest's vCPUs as last listed (`threads` refreshes them). */
  threads: DebugProtocol.Thread[] = [{ id: 1, name: 'vCPU 0' }];
  /** The reason of the last stop reported (exceptionInfo answers only at a panic stop). */
  lastStopReason?: string;
  exceptionFilters: string[] = ['panic'];

  constructor(
    /** Sends an event to the client (in its line numbering). */
    readonly sendEvent: (e: DebugProtocol.Event) => void,
    clientShowsProgress: () => boolean,
  ) {
    this.ops = new LongOperations(sendEvent, clientShowsProgress);
  }

  /** The debuggee, while a recording is open. */
  get debuggee(): Debuggee | undefined {
    return this.ended ? undefined : this.recording?.debuggee;
  }

  /** The open recording; a clear error before launch or attach, and after the session ended. */
  open(): OpenRecording {
    if (this.ended || !this.recording) {
      throw new AdapterError(this.ended ? 'the debug session has ended' : 'no recording is open yet: send "launch" or "attach" first', ErrorId.notLaunched);
    }
    return this.recording;
  }

  requireDebuggee(): Debuggee {
    return this.open().debuggee;
  }

  /** The recording is open: requests may use it (its Linux support follows once detected). */
  opened(recording: OpenRecording): void {
    this.recording = recording;
    recording.debuggee.client.onProgress((p) => {
      // A reverse continue or a query made progress: shown on the current operation.
      if (p.sessionId === this.debuggee?.sessionId) this.ops.current?.progress(p.done, p.total, 'of the way scanned', true);
    });
  }

  /** The session ends: every operation is cancelled; the debuggee is the caller's to dispose. Idempotent. */
  end(): Debuggee | undefined {
    if (this.ended) return undefined;
    const d = this.debuggee;
    this.ended = true;
    this.ops.cancelAll();
    this.linux?.dispose();
    return d;
  }

  output(text: string, category: OutputCategory): void {
    this.sendEvent(new OutputEvent(text, category));
  }

  sendCustomEvent<E extends keyof RewindDapEvents>(event: E, body: RewindDapEvents[E]): void {
    this.sendEvent({ seq: 0, type: 'event', event, body } as DebugProtocol.Event);
  }

  /** The thread a stop or `continued` names when gdb does not say. */
  get firstThread(): number {
    return this.threads[0]?.id ?? 1;
  }

  position(): Promise<RewindPosition> {
    return this.open().position.read();
  }

  /**
   * Runs an inspection of the open recording: after any running execution, cancelled by the next
   * one or by a cancel request.
   */
  inspect<T>(ctx: RequestContext, op: (signal: AbortSignal, r: OpenRecording) => Promise<T>): Promise<T> {
    const r = this.open();
    return this.ops.run(ctx.request.seq, ctx.request.command, { current: 'never' }, (o) => this.gate.inspection((signal) => op(signal, r), o.signal));
  }

  /** Runs `op` on gdb when no execution runs, outside any request (Linux support's own reads). */
  inspectOutsideRequests<T>(op: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.gate.inspection(op);
  }

  /** A query over the recording on the bridge: shown with progress, cancellable, current unless a move is. */
  query<T>(ctx: RequestContext, title: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.ops.run(ctx.request.seq, title, { current: 'ifIdle', showNow: true }, async (op) => {
      try {
        return await fn(op.signal);
      } catch (e) {
        if (op.signal.aborted) throw new CancelledRequestError();
        throw e;
      }
    });
  }

  /**
   * Runs a move: exclusively, after earlier ones, cancelling pending inspections; answers the
   * request (if the move did not already), then reports the stop.
   */
  move(ctx: RequestContext, op: (signal: AbortSignal) => Promise<StopInfo>, title?: string, progress = false): Promise<void> {
    const d = this.requireDebuggee();
    // DAP clients learn that a custom request (or a gdb command in the Debug Console) moves time only
    // from a `continued` event (the standard moves imply it): sent with a successful answer, so that
    // a refused move leaves the thread stopped.
    if (!MOVES_THAT_IMPLY_CONTINUED.has(ctx.request.command)) ctx.beforeRespond = () => this.sendEvent(new ContinuedEvent(this.firstThread, true));
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

  /** A Linux guest's module symbols for the new time point, and `module` events for the loads that came and went. */
  async refreshModules(): Promise<void> {
    const changed = await this.linux?.modules.refresh().catch((e: unknown) => {
      this.output(`Rewind: the module list could not be read here: ${messageOf(e)}\n`, 'console');
      return undefined;
    });
    for (const m of changed?.removed ?? []) this.sendEvent(new ModuleEvent('removed', dapModule(m)));
    for (const m of changed?.added ?? []) this.sendEvent(new ModuleEvent('new', dapModule(m)));
  }

  /** After a move: new handles, then the stop, the new position, and a refresh of every view. */
  private async reportStop(stop: StopInfo): Promise<void> {
    const r = this.debuggee ? this.recording : undefined;
    if (!r) return;
    await this.refreshModules();
    await r.inspector.reset(stop.reason);
    this.lastStopReason = stop.reason;
    const e = new StoppedEvent(stop.reason, stop.threadId ?? this.firstThread) as DebugProtocol.StoppedEvent;
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
}
