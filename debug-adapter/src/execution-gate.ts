/**
 * Orders the adapter's work on the debuggee. Execution requests (continue, steps, seeks) run one
 * at a time, in the order they arrived. Inspection requests (stack, variables, evaluate, ...) run
 * while nothing executes, concurrently with each other; when an execution starts, the inspections
 * in flight or waiting are cancelled (their answers would describe a time point that is gone).
 */
import { CancelledRequestError } from './errors';

export class ExecutionGate {
  private tail: Promise<unknown> = Promise.resolve();
  private executing = 0;
  private readonly inspections = new Set<AbortController>();
  private idleWaiters: Array<() => void> = [];

  /** True while an execution request runs or waits. */
  get busy(): boolean {
    return this.executing > 0;
  }

  /** Runs `op` after every execution queued before it; cancels the inspections pending now. */
  execution<T>(op: () => Promise<T>): Promise<T> {
    this.executing++;
    for (const c of this.inspections) c.abort();
    const task = this.tail.then(op);
    this.tail = task.catch(() => undefined);
    const done = () => {
      this.executing--;
      if (this.executing === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
    task.then(done, done);
    return task;
  }

  /**
   * Runs `op` once no execution runs. `signal` aborts when an execution starts before `op`
   * finished; the result is then a CancelledRequestError.
   */
  async inspection<T>(op: (signal: AbortSignal) => Promise<T>, external?: AbortSignal): Promise<T> {
    const c = new AbortController();
    const onExternal = () => c.abort();
    external?.addEventListener('abort', onExternal, { once: true });
    this.inspections.add(c);
    try {
      while (this.executing > 0) {
        await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      }
      if (c.signal.aborted) throw new CancelledRequestError('cancelled: the debuggee moved in time');
      // An aborted op fails with whatever its signal's reason is (an AbortError): that is a cancellation too.
      const result = await op(c.signal).catch((e: unknown) => {
        throw c.signal.aborted ? new CancelledRequestError('cancelled: the debuggee moved in time') : e;
      });
      if (c.signal.aborted) throw new CancelledRequestError('cancelled: the debuggee moved in time');
      return result;
    } finally {
      this.inspections.delete(c);
      external?.removeEventListener('abort', onExternal);
    }
  }
}
