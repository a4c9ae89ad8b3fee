/**
 * Reverse step over, reverse step into and reverse step out, built from two engine primitives
 * instead of gdb's instruction-by-instruction reverse stepping (one replay per instruction):
 *
 * - one `reverseStepi`, to leave the current line range or see what ran just before;
 * - one `reverseContinue` to a breakpoint that only counts in the right frame (the engine's
 *   stack-filtered breakpoints), which replays from the nearest snapshot once.
 *
 * The semantics follow gdb's reverse-next/-step/-finish: go back to the start of the previous
 * line range executed in this frame (skipping callees and interrupts), or into the callee that
 * ran last, or to the call instruction that created this frame. A frame is identified as gdb does
 * it: by its CFA and its function. Where this cannot be decided cheaply (an inlined frame for
 * step-out, no unwind information), the caller is told to fall back on gdb's own command.
 */
import { sameActivation, type FrameInfo } from './frame-info';

export interface FilteredBreakpoint {
  address: bigint;
  /** Counts only when the stack pointer is within [min, max]. */
  stack?: { min?: bigint; max?: bigint };
}

/** What reverse stepping needs from the debuggee at its current time point. */
export interface ReverseStepTarget {
  /** The innermost frame of the current thread, now. */
  frame(): Promise<FrameInfo>;
  /** One instruction back; false when already at the start of the recording. */
  reverseStepi(): Promise<boolean>;
  /** Back to the last trigger strictly before now; `start` when none triggered. */
  reverseContinue(breakpoints: FilteredBreakpoint[]): Promise<{ kind: 'breakpoint' | 'start' | 'other'; address?: bigint }>;
  /** Forward to the first trigger, but no further than `until`. */
  continueTo(breakpoints: FilteredBreakpoint[], until: number): Promise<{ kind: 'breakpoint' | 'other'; address?: bigint }>;
  /** The current time point. */
  icount(): Promise<number>;
}

export type ReverseStepResult =
  | { kind: 'step' }
  /** Stopped early on one of the user's breakpoints. */
  | { kind: 'breakpoint'; address: bigint }
  | { kind: 'start' }
  /** Not decidable here: use gdb's own reverse command. */
  | { kind: 'fallback'; reason: string };

export type ReverseStepKind = 'over' | 'into' | 'out';

export class ReverseStepper {
  constructor(
    private readonly target: ReverseStepTarget,
    /** Addresses of the user's enabled breakpoints: reaching one stops any step. */
    private readonly userBreakpoints: () => bigint[],
  ) {}

  async step(kind: ReverseStepKind): Promise<ReverseStepResult> {
    const r = await this.stepRaw(kind);
    return r.kind === 'step' && kind !== 'out' ? this.toRunStart() : r;
  }

  private async stepRaw(kind: ReverseStepKind): Promise<ReverseStepResult> {
    const f0 = await this.target.frame();
    if (kind === 'out') return this.stepOut(f0);
    if (!f0.line || !f0.function) {
      // No line information here (assembly, the reset vector): a line is an instruction.
      return (await this.target.reverseStepi()) ? { kind: 'step' } : { kind: 'start' };
    }
    if (f0.pc !== f0.line.start) {
      // Mid-range: back to where this range started, in this activation.
      return this.toRangeStart(f0, f0.line.start);
    }
    if (!(await this.target.reverseStepi())) return { kind: 'start' };
    const f1 = await this.target.frame();
    const hit = this.userHit(f1.pc);
    if (hit !== undefined) return { kind: 'breakpoint', address: hit };
    if (f0.cfa !== undefined && f1.sp >= f0.cfa) {
      // We were at the function's first instruction: now on the call instruction in the caller.
      return f1.line && f1.pc !== f1.line.start ? this.toRangeStart(f1, f1.line.start) : { kind: 'step' };
    }
    if (f0.cfa !== undefined && f1.cfa !== f0.cfa) {
      // Just before, a callee returned (or an interrupt handler ended): we are in its last instruction.
      if (kind === 'into' && f1.line && f1.function) {
        return f1.pc === f1.line.start ? { kind: 'step' } : this.toRangeStart(f1, f1.line.start);
      }
      return this.toLastLineStart(f0);
    }
    if (!f1.line) return { kind: 'step' };
    return f1.pc === f1.line.start ? { kind: 'step' } : this.toRangeStart(sameActivation(f0, f1) ? f0 : f1, f1.line.start);
  }

  /**
   * A source line can own several address ranges (a for-loop header: its init, and its
   * increment-and-test). Stepping back lands on the start of one range; when the line has others,
   * go to where the whole run of that line began, so that stepping back retraces exactly the
   * stops of stepping forward (gdb's `next` treats the ranges of one line as one line). Two engine
   * moves: back to the last start of any other line of this activation, then forward to the first
   * start of this line's ranges.
   */
  private async toRunStart(): Promise<ReverseStepResult> {
    const f = await this.target.frame();
    if (!f.line || !f.function || f.pc !== f.line.start || f.cfa === undefined) return { kind: 'step' };
    const line = f.line.line;
    const starts = f.function.lineStarts;
    if (starts.filter((s) => s.line === line).length < 2) return { kind: 'step' };
    const stack = activationStack(f);
    const here = await this.target.icount();
    const others: FilteredBreakpoint[] = starts.filter((s) => s.line !== line).map((s) => ({ address: s.address, ...stack }));
    const entry = this.entryGuard(f);
    if (entry && !others.some((o) => o.address === entry.address)) others.push(entry);
    const back = await this.target.reverseContinue(others);
    if (back.kind === 'start') return { kind: 'start' };
    const mine = starts.filter((s) => s.line === line).map((s) => ({ address: s.address, ...stack }));
    await this.target.continueTo(mine, here);
    return { kind: 'step' };
  }

  /** Back to the call instruction that created this frame. */
  private async stepOut(f0: FrameInfo): Promise<ReverseStepResult> {
    if (f0.inline) return { kind: 'fallback', reason: 'reverse step out of an inlined function' };
    if (f0.cfa === undefined || !f0.realFunction) return { kind: 'fallback', reason: 'no caller frame known here' };
    const entry = f0.realFunction.start;
    // At the entry of this activation the return address is on top of the stack: sp == CFA - 8.
    const r = await this.target.reverseContinue([{ address: entry, stack: exactly(f0.cfa - 8n) }, ...this.userBps()]);
    if (r.kind === 'start') return { kind: 'start' };
    if (r.address !== undefined && r.address !== entry && this.userHit(r.address) !== undefined) return { kind: 'breakpoint', address: r.address };
    if (!(await this.target.reverseStepi())) return { kind: 'start' };
    return { kind: 'step' };
  }

  /**
   * The last time `start` ran in the activation of `frame`, bounded by the activation's entry (so
   * that an earlier call of the same function never counts).
   */
  private async toRangeStart(frame: FrameInfo, start: bigint): Promise<ReverseStepResult> {
    const bps: FilteredBreakpoint[] = [{ address: start, ...activationStack(frame) }];
    const entry = this.entryGuard(frame);
    if (entry && entry.address !== start) bps.push(entry);
    return this.finish(await this.target.reverseContinue([...bps, ...this.userBps()]), [start, ...(entry ? [entry.address] : [])]);
  }

  /** The last line start that ran in the activation of `frame` (any line), bounded by its entry. */
  private async toLastLineStart(frame: FrameInfo): Promise<ReverseStepResult> {
    const stack = activationStack(frame);
    const starts = (frame.function?.lineStarts ?? []).map((s) => s.address);
    const bps: FilteredBreakpoint[] = starts.map((address) => ({ address, ...stack }));
    const entry = this.entryGuard(frame);
    if (entry && !starts.includes(entry.address)) bps.push(entry);
    if (bps.length === 0) return { kind: 'fallback', reason: 'no line information for this function' };
    return this.finish(await this.target.reverseContinue([...bps, ...this.userBps()]), [...starts, ...(entry ? [entry.address] : [])]);
  }

  private finish(r: { kind: string; address?: bigint }, own: bigint[]): ReverseStepResult {
    if (r.kind === 'start') return { kind: 'start' };
    if (r.address !== undefined && !own.includes(r.address) && this.userHit(r.address) !== undefined) return { kind: 'breakpoint', address: r.address };
    return { kind: 'step' };
  }

  /** The real function's first instruction, in this activation only (sp == CFA - 8 there). */
  private entryGuard(frame: FrameInfo): FilteredBreakpoint | undefined {
    if (!frame.realFunction || frame.cfa === undefined) return undefined;
    return { address: frame.realFunction.start, stack: exactly(frame.cfa - 8n) };
  }

  private userBps(): FilteredBreakpoint[] {
    return this.userBreakpoints().map((address) => ({ address }));
  }

  private userHit(pc: bigint): bigint | undefined {
    return this.userBreakpoints().find((a) => a === pc);
  }
}

/**
 * The stack range of an activation's own line starts. Above: the CFA less the return address
 * (older activations of the same function live higher). Below: only a function that calls itself
 * can run the same code in a deeper activation, so only then is the current stack pointer the
 * floor (a known weakness: in a recursive function's epilogue the body's line starts sit lower).
 * Without that floor, stepping back from an epilogue (sp above the body's) finds the body.
 */
function activationStack(frame: FrameInfo): { stack?: { min?: bigint; max: bigint } } {
  if (frame.cfa === undefined) return {};
  return frame.realFunction?.recursive === false ? { stack: { max: frame.cfa - 8n } } : { stack: { min: frame.sp, max: frame.cfa - 8n } };
}

function exactly(v: bigint): { min: bigint; max: bigint } {
  return { min: v, max: v };
}
