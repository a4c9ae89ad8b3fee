/**
 * Reverse step over, reverse step into and reverse step out, built from a few engine primitives
 * instead of gdb's instruction-by-instruction reverse stepping (one replay per instruction):
 *
 * - step over: one scan of the recent past for the line starts of this activation (the engine's
 *   stack-filtered breakpoints, in windows that grow backward from now until the answer is in
 *   view), then one move to the start of the last line run found;
 * - step into: one `reverseStepi` to see what ran just before, then as above in that frame;
 * - step out: one such scan for this activation's entry, then one move to the call before it.
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
  /** The frame the user sees on top at the start of a step (after a step onto an inlined call: its caller). */
  presentedFrame(): Promise<FrameInfo>;
  /** One instruction back; false when already at the start of the recording. */
  reverseStepi(): Promise<boolean>;
  /** Forward to the first trigger, but no further than `until`. */
  continueTo(breakpoints: FilteredBreakpoint[], until: number): Promise<{ kind: 'breakpoint' | 'other'; address?: bigint }>;
  /** The current time point. */
  icount(): Promise<number>;
  /**
   * Every trigger in [from', to), oldest first, where from' is `from`, or with `snapFrom` `from`
   * lowered to the nearest snapshot (the cheapest window reaching back to `from`).
   */
  hitsBack(breakpoints: FilteredBreakpoint[], from: number, to: number, snapFrom: boolean): Promise<{ hits: Array<{ icount: number; address: bigint }>; from: number }>;
  /** Goes to a time point. */
  seek(icount: number): Promise<void>;
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
  /** Line starts met per instruction by the last step-over scan in each function (by its entry). */
  private readonly density = new Map<bigint, number>();

  constructor(
    private readonly target: ReverseStepTarget,
    /** Addresses of the user's enabled breakpoints: reaching one stops any step. */
    private readonly userBreakpoints: () => bigint[],
  ) {}

  /** Why a reverse step out from here would need gdb's own reverse-finish (see stepOutFallback), or undefined. */
  async outFallback(): Promise<string | undefined> {
    return stepOutFallback(await this.target.presentedFrame());
  }

  async step(kind: ReverseStepKind): Promise<ReverseStepResult> {
    if (kind === 'over') return this.stepOver(await this.target.presentedFrame());
    const r = await this.stepRaw(kind);
    return r.kind === 'step' && kind !== 'out' ? this.toRunStart() : r;
  }

  /**
   * Back to the start of the last run of a line of this activation before now: a run is a
   * stretch of consecutive line starts of one line, so the several address ranges of one line
   * count once, and callees, interrupts and inlined bodies (whose line starts are not this
   * function's own) are skipped, as gdb's `next` skips them. That is exactly where a forward
   * `next` from the previous line stopped. At the function's first line, back to the caller.
   */
  private async stepOver(f0: FrameInfo, depth = 0): Promise<ReverseStepResult> {
    if (!f0.line || !f0.function || f0.cfa === undefined || !f0.realFunction) {
      // No line or unwind information here (assembly, the reset vector): a line is an instruction.
      return (await this.target.reverseStepi()) ? { kind: 'step' } : { kind: 'start' };
    }
    // Inlined calls' first addresses get a key of their own (their call-site line is learnt on arrival).
    const lines = new Map(f0.function.lineStarts.map((l, i) => [l.address, l.inline ? -(i + 1) : l.line]));
    const entry = f0.realFunction.start;
    const stack = activationStack(f0);
    const users = this.userBreakpoints().filter((a) => !lines.has(a) && a !== entry);
    const bps: FilteredBreakpoint[] = [...[...lines.keys()].map((address) => ({ address, ...stack })), ...users.map((address) => ({ address }))];
    if (!lines.has(entry)) bps.push({ address: entry, stack: exactly(f0.cfa - 8n) });
    const now = await this.target.icount();
    if (f0.pc === entry && !f0.inline) return this.toCallerLine(depth);
    let hits: Array<{ icount: number; address: bigint }> = [];
    // Windows back from now: a few thousand instructions usually hold the previous line; breakpoints
    // slow a replay down, so the replay runs without them up to the window, then with them.
    let to = now;
    const first = this.firstWindow(entry);
    let size = first;
    for (;;) {
      if (to <= 0) break;
      const r = await this.target.hitsBack(bps, Math.max(0, to - size), to, size > 65536);
      if (to === now) this.learnDensity(entry, r.hits.length, now - Math.max(0, to - size));
      hits = [...r.hits.filter((h) => h.icount < to), ...hits];
      // Enough when the activation's start is in view, or two runs are (the last one then began in view).
      const started = hits.some((h) => h.address === entry);
      if (started || runsOf(hits, lines).length >= 2 || r.from === 0) break;
      to = r.from;
      size = Math.max(Math.max(size, 4096) * 16, now - to);
    }
    const mine = this.activationHits(hits, entry);
    const runs = runsOf(mine, lines);
    const last = runs[runs.length - 1];
    if (!last) {
      // Nothing of this activation ran before now: we are at its first instruction; go to the caller's line.
      if (f0.inline) return { kind: 'fallback', reason: 'stepping back out of an inlined function' };
      return this.toCallerLine(depth);
    }
    // A breakpoint of the user's between the target and now stops the step there.
    const user = hits.filter((h) => users.includes(h.address) && h.icount > last.start).pop();
    if (user) {
      await this.target.seek(user.icount);
      return { kind: 'breakpoint', address: user.address };
    }
    await this.target.seek(last.start);
    if (last.line < 0 && !f0.inline && runs.length >= 2) {
      // At an inlined call: gdb's forward `next` stops here only when the call site's line differs
      // from the line before it and from the line after it; otherwise the call is part of that line.
      const callSite = (await this.target.frame()).callSiteLine;
      const prev = runs[runs.length - 2]!;
      if (callSite !== undefined && (callSite === f0.line.line || callSite === prev.line)) await this.target.seek(prev.start);
    }
    return { kind: 'step' };
  }

  /**
   * The first scan window of a reverse step over in a function. Every line start the scan meets
   * stops the replay for about a millisecond: in a tight loop 4096 instructions hold about 900 of
   * them (measured on the demo), in kernel code that calls out between lines a handful. So the
   * window is sized for about 32 hits from what the last scan in the same function met, 4096
   * instructions when there was none yet.
   */
  private firstWindow(fn: bigint): number {
    const density = this.density.get(fn);
    if (density === undefined || density <= 0) return 4096;
    let size = 256;
    while (size < 4096 && size * density < 32) size *= 2;
    return size;
  }

  private learnDensity(fn: bigint, hits: number, instructions: number): void {
    if (instructions <= 0) return;
    this.density.delete(fn); // kept in last-use order, a few hundred functions at most
    this.density.set(fn, hits / instructions);
    if (this.density.size > 256) this.density.delete(this.density.keys().next().value!);
  }

  /** From a function's first instruction: one instruction back (the call, or a tail call's jump), then to the start of that line. */
  private async toCallerLine(depth: number): Promise<ReverseStepResult> {
    if (!(await this.target.reverseStepi())) return { kind: 'start' };
    if (depth > 0) return { kind: 'step' };
    const r = await this.stepOverMidLine(await this.target.frame());
    return r.kind === 'fallback' ? { kind: 'step' } : r;
  }

  /** In the middle of a line (after stepping back out of a call): to the start of its run, unless already there. */
  private async stepOverMidLine(f: FrameInfo): Promise<ReverseStepResult> {
    if (f.line && f.pc === f.line.start && !f.function?.lineStarts.some((l) => l.address === f.pc && l.inline)) {
      const here = f.function?.lineStarts.find((l) => l.address === f.pc);
      if (here) return { kind: 'step' };
    }
    return this.stepOver(f, 1);
  }

  /** The hits of this activation: the line starts after its last entry (earlier ones are earlier calls). */
  private activationHits(hits: Array<{ icount: number; address: bigint }>, entry: bigint): Array<{ icount: number; address: bigint }> {
    let k = -1;
    hits.forEach((h, i) => {
      if (h.address === entry) k = i;
    });
    return hits.slice(Math.max(0, k));
  }

  private async stepRaw(kind: ReverseStepKind): Promise<ReverseStepResult> {
    const f0 = await this.target.presentedFrame();
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
    const back = await this.backTo(others);
    if (back === undefined) return { kind: 'start' };
    const mine = starts.filter((s) => s.line === line).map((s) => ({ address: s.address, ...stack }));
    await this.target.continueTo(mine, here);
    return { kind: 'step' };
  }

  /** Back to the call instruction that created this frame. */
  private async stepOut(f0: FrameInfo): Promise<ReverseStepResult> {
    const fallback = stepOutFallback(f0);
    if (fallback !== undefined || f0.cfa === undefined || !f0.realFunction) return { kind: 'fallback', reason: fallback ?? 'no caller frame known here' };
    const entry = f0.realFunction.start;
    // At the entry itself the activation began now: the call (or a tail call's jump) is one instruction back.
    if (f0.pc === entry) return (await this.target.reverseStepi()) ? { kind: 'step' } : { kind: 'start' };
    // At the entry of this activation the return address is on top of the stack: sp == CFA - 8.
    // Found by a scan, then one move straight to the instruction before it (the call): landing on
    // the entry first and stepping back from there would cost a second replay process.
    const hit = await this.lastHitBefore([{ address: entry, stack: exactly(f0.cfa - 8n) }, ...this.userBps()], await this.target.icount());
    if (!hit) {
      await this.target.seek(0);
      return { kind: 'start' };
    }
    if (hit.address !== entry && this.userHit(hit.address) !== undefined) {
      await this.target.seek(hit.icount);
      return { kind: 'breakpoint', address: hit.address };
    }
    if (hit.icount === 0) {
      await this.target.seek(0);
      return { kind: 'start' };
    }
    await this.target.seek(hit.icount - 1);
    return { kind: 'step' };
  }

  /** The last trigger strictly before `now`, by scans in windows that grow backward (undefined: none since the start). */
  private async lastHitBefore(bps: FilteredBreakpoint[], now: number): Promise<{ icount: number; address: bigint } | undefined> {
    let to = now;
    let size = 4096;
    while (to > 0) {
      const r = await this.target.hitsBack(bps, Math.max(0, to - size), to, size > 65536);
      const before = r.hits.filter((h) => h.icount < to);
      if (before.length > 0) return before[before.length - 1];
      if (r.from === 0) return undefined;
      to = r.from;
      size = Math.max(size * 16, now - to);
    }
    return undefined;
  }

  /**
   * The last time `start` ran in the activation of `frame`, bounded by the activation's entry (so
   * that an earlier call of the same function never counts).
   */
  private async toRangeStart(frame: FrameInfo, start: bigint): Promise<ReverseStepResult> {
    const bps: FilteredBreakpoint[] = [{ address: start, ...activationStack(frame) }];
    const entry = this.entryGuard(frame);
    if (entry && entry.address !== start) bps.push(entry);
    return this.finish(await this.backTo([...bps, ...this.userBps()]), [start, ...(entry ? [entry.address] : [])]);
  }

  /** The last line start that ran in the activation of `frame` (any line), bounded by its entry. */
  private async toLastLineStart(frame: FrameInfo): Promise<ReverseStepResult> {
    const stack = activationStack(frame);
    const starts = (frame.function?.lineStarts ?? []).map((s) => s.address);
    const bps: FilteredBreakpoint[] = starts.map((address) => ({ address, ...stack }));
    const entry = this.entryGuard(frame);
    if (entry && !starts.includes(entry.address)) bps.push(entry);
    if (bps.length === 0) return { kind: 'fallback', reason: 'no line information for this function' };
    return this.finish(await this.backTo([...bps, ...this.userBps()]), [...starts, ...(entry ? [entry.address] : [])]);
  }

  /**
   * To the last trigger before now (its address), or to the start (undefined) when none: one scan
   * in windows grown backward from now, then one seek. Not the engine's reverse continue, whose
   * first window reaches back to a snapshot: with line starts that run often (a loop calling this
   * function) every rejected hit on the way costs a stop of the replay, seconds over millions of
   * instructions, while the step's target is usually a few instructions back.
   */
  private async backTo(bps: FilteredBreakpoint[]): Promise<bigint | undefined> {
    const hit = await this.lastHitBefore(bps, await this.target.icount());
    await this.target.seek(hit?.icount ?? 0);
    return hit?.address;
  }

  private finish(address: bigint | undefined, own: bigint[]): ReverseStepResult {
    if (address === undefined) return { kind: 'start' };
    if (!own.includes(address) && this.userHit(address) !== undefined) return { kind: 'breakpoint', address };
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

/** Why reverse step out from this frame needs gdb's own reverse-finish, or undefined when the engine path does it. */
export function stepOutFallback(f0: FrameInfo): string | undefined {
  if (f0.inline) return 'reverse step out of an inlined function';
  if (f0.cfa === undefined || !f0.realFunction) return 'no caller frame known here';
  return undefined;
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

/** Consecutive hits of one line form a run; each run with the time point it started. */
function runsOf(hits: Array<{ icount: number; address: bigint }>, lines: Map<bigint, number>): Array<{ line: number; start: number }> {
  const runs: Array<{ line: number; start: number }> = [];
  for (const h of hits) {
    const line = lines.get(h.address);
    if (line === undefined) continue;
    if (runs[runs.length - 1]?.line !== line) runs.push({ line, start: h.icount });
  }
  return runs;
}

function exactly(v: bigint): { min: bigint; max: bigint } {
  return { min: v, max: v };
}
