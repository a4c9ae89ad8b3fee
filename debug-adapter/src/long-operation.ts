/**
 * The bookkeeping of long operations, in one place: every move, query, scan, recording and
 * inspection is cancellable by its request (DAP `cancel` with requestId), and the long ones show a
 * progress notification that is cancellable too (`cancel` with progressId). At most one is
 * "current": the one the bridge's progress reports (rewind/progress) and `pause` go to.
 */
import { ProgressEndEvent, ProgressStartEvent, ProgressUpdateEvent } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';

export interface LongOperationOptions {
  /**
   * Whether it becomes the current operation: 'always' (moves and recordings, which run
   * exclusively), 'ifIdle' (queries: unless a move is current), 'never' (inspections, scans).
   */
  current: 'always' | 'ifIdle' | 'never';
  /** Show the progress notification from the start, not only from the first progress report. */
  showNow?: boolean;
  /** Called once when it is cancelled. */
  onCancel?: () => void;
}

export class LongOperation {
  private readonly abortController = new AbortController();
  progressId?: string;
  private lastPercent?: number;
  private ended = false;

  constructor(
    private readonly ops: LongOperations,
    readonly requestSeq: number,
    readonly title: string,
  ) {}

  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  cancel(): void {
    this.abortController.abort();
  }

  /** Shows the progress notification, if the client shows them and it is not shown yet. */
  show(percent?: number): void {
    if (this.ended || this.progressId !== undefined || !this.ops.clientShowsProgress()) return;
    this.progressId = this.ops.registerProgress(this);
    const e = new ProgressStartEvent(this.progressId, this.title) as DebugProtocol.ProgressStartEvent;
    e.body.cancellable = true;
    e.body.requestId = this.requestSeq;
    if (percent !== undefined) e.body.percentage = percent;
    this.lastPercent = percent;
    this.ops.send(e);
  }

  /** `done` of `total`: shown as a percentage with `what` ("of the way scanned"); shows the notification first if `showOnFirst`. */
  progress(done: number, total: number, what: string, showOnFirst = false): void {
    const percent = total > 0 ? Math.min(100, Math.round((done / total) * 100)) : undefined;
    if (this.progressId === undefined) {
      if (showOnFirst) this.show(percent);
      return;
    }
    if (percent === this.lastPercent) return;
    this.lastPercent = percent;
    const e = new ProgressUpdateEvent(this.progressId, `${percent ?? 0}% ${what}`) as DebugProtocol.ProgressUpdateEvent;
    if (percent !== undefined) e.body.percentage = percent;
    this.ops.send(e);
  }

  /** A free-form progress message (a recording's phase and console). */
  message(text: string): void {
    if (this.progressId !== undefined) this.ops.send(new ProgressUpdateEvent(this.progressId, text));
  }

  /** Ends the notification and forgets the operation; idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.ops.forget(this);
    if (this.progressId !== undefined) this.ops.send(new ProgressEndEvent(this.progressId, this.signal.aborted ? 'cancelled' : undefined));
  }
}

export class LongOperations {
  private currentOp?: LongOperation;
  private readonly byRequest = new Map<number, Set<LongOperation>>();
  private readonly byProgress = new Map<string, LongOperation>();
  private progressSeq = 0;

  constructor(
    /** Sends a DAP event to the client. */
    readonly send: (e: DebugProtocol.Event) => void,
    readonly clientShowsProgress: () => boolean,
  ) {}

  /** The operation the bridge's progress reports and `pause` go to. */
  get current(): LongOperation | undefined {
    return this.currentOp;
  }

  begin(requestSeq: number, title: string, o: LongOperationOptions): LongOperation {
    const op = new LongOperation(this, requestSeq, title);
    if (o.onCancel) op.signal.addEventListener('abort', o.onCancel, { once: true });
    let set = this.byRequest.get(requestSeq);
    if (!set) this.byRequest.set(requestSeq, (set = new Set()));
    set.add(op);
    if (o.current === 'always' || (o.current === 'ifIdle' && !this.currentOp)) this.currentOp = op;
    if (o.showNow) op.show();
    return op;
  }

  /** Runs `fn` as a long operation, ended however it ends. */
  async run<T>(requestSeq: number, title: string, o: LongOperationOptions, fn: (op: LongOperation) => Promise<T>): Promise<T> {
    const op = this.begin(requestSeq, title, o);
    try {
      return await fn(op);
    } finally {
      op.end();
    }
  }

  /** DAP `cancel`: by request, by progress notification, or both. */
  cancel(args: { requestId?: number; progressId?: string }): void {
    if (args.progressId !== undefined) this.byProgress.get(args.progressId)?.cancel();
    if (args.requestId !== undefined) for (const op of this.byRequest.get(args.requestId) ?? []) op.cancel();
  }

  cancelAll(): void {
    for (const set of this.byRequest.values()) for (const op of set) op.cancel();
  }

  /** @internal */
  registerProgress(op: LongOperation): string {
    const id = `rewind-${++this.progressSeq}`;
    this.byProgress.set(id, op);
    return id;
  }

  /** @internal */
  forget(op: LongOperation): void {
    if (this.currentOp === op) this.currentOp = undefined;
    const set = this.byRequest.get(op.requestSeq);
    set?.delete(op);
    if (set?.size === 0) this.byRequest.delete(op.requestSeq);
    if (op.progressId !== undefined) this.byProgress.delete(op.progressId);
  }
}
