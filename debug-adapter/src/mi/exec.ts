/**
 * gdb/MI execution commands, typed: the session says what to do (continue, step, next, finish;
 * which thread; backward; by instruction) and never writes an -exec string itself.
 */

export interface ExecOptions {
  /** The vCPU (gdb thread) to run the command on; gdb's current one when absent. */
  thread?: number;
  /** Backward in the recording (gdb's reverse execution). */
  reverse?: boolean;
}

export interface StepOptions extends ExecOptions {
  /** One machine instruction instead of one source line. */
  instruction?: boolean;
}

// gdb's general options (--thread) must come before the command's own (--reverse).
function command(base: string, o: ExecOptions): string {
  return `${base}${o.thread !== undefined ? ` --thread ${o.thread}` : ''}${o.reverse ? ' --reverse' : ''}`;
}

export const exec = {
  continue: (o: ExecOptions = {}): string => command('-exec-continue', o),
  /** Into calls. */
  step: (o: StepOptions = {}): string => command(o.instruction ? '-exec-step-instruction' : '-exec-step', o),
  /** Over calls. */
  next: (o: StepOptions = {}): string => command(o.instruction ? '-exec-next-instruction' : '-exec-next', o),
  /** Out of the current function. */
  finish: (o: ExecOptions = {}): string => command('-exec-finish', o),
};

export function threadSelect(thread: number): string {
  return `-thread-select ${thread}`;
}
