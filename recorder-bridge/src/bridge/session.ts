/** One open recording on a bridge connection: a ReplayEngine and the queue that serialises its operations. */
import { CancelledError, UserError } from '../errors';
import type { ReplayEngine } from '../replay/engine';

export class BridgeSession {
  private tail: Promise<unknown> = Promise.resolve();
  private closing?: Promise<void>;

  constructor(
    readonly id: string,
    readonly engine: ReplayEngine,
    readonly bundle: string,
    /** Tells the bundle's followers on other connections (rewind/follow) where this session is. */
    private readonly announce: (s: BridgeSession) => void = () => undefined,
  ) {}

  /** Called after every move. */
  moved(): void {
    if (!this.closed) this.announce(this);
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Runs `op` after every operation queued before it. With a signal, the caller gets a
   * CancelledError as soon as the signal fires (the operation itself stops at its next check, and
   * the queue waits for it); an operation still waiting in the queue when cancelled never starts.
   */
  run<T>(op: (engine: ReplayEngine) => Promise<T>, signal?: AbortSignal, what = 'operation'): Promise<T> {
    const task = this.tail.then(() => {
      if (this.closed) throw new UserError(`session ${this.id} is closed`, 'session-closed');
      if (signal?.aborted) throw new CancelledError(what);
      return op(this.engine);
    });
    this.tail = task.catch(() => undefined);
    if (!signal) return task;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new CancelledError(what));
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      task.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Closes the engine at once (its replay processes are killed; a running operation fails). */
  close(): Promise<void> {
    this.closing ??= this.engine.close();
    return this.closing;
  }
}
