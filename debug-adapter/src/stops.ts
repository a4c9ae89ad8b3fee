/**
 * What a stop means for the user: gdb's `*stopped` record turned into the DAP `stopped` event's
 * reason and text (pure: the session gathers the facts, this decides). Also the stops at either
 * end of the recording, which several moves report.
 */
import { REWIND_STOP_REASON } from '@rewind/protocol';
import type { TimePoint } from '@rewind/core';
import type { BreakpointKind } from './breakpoints';
import { miString, miTuple, type MiTuple } from './mi/parser';

export interface StopInfo {
  reason: string;
  description?: string;
  text?: string;
  threadId?: number;
  hitBreakpointIds?: number[];
  /** What moved time, for rewind/positionChanged. */
  cause: string;
}

export interface StopFacts {
  direction: 'forward' | 'reverse';
  /** The user paused (or cancelled) the move. */
  aborted: boolean;
  /** Where the replay stands; needed only when stopNeedsPosition(record). */
  position?: { icount: TimePoint; end: TimePoint };
  /** The breakpoint gdb numbers `n`, as the session set it. */
  breakpoint(n: number): { kind: BreakpointKind; dapId: number; label?: string } | undefined;
}

export function startStop(cause: string): StopInfo {
  return {
    reason: REWIND_STOP_REASON.start,
    description: 'The start of the recording: there is no history before this point',
    text: 'Start of the recording',
    cause,
  };
}

export function endStop(cause: string, icount: TimePoint): StopInfo {
  return {
    reason: REWIND_STOP_REASON.end,
    description: `The end of the recording (icount ${icount.toLocaleString('en-US')}): the recorded run stops here; go back with Step Back or Reverse Continue`,
    text: 'End of the recording',
    cause,
  };
}

function isStepEnd(reason: string): boolean {
  return reason === 'end-stepping-range' || reason === 'function-finished';
}

function isPauseByUser(reason: string, aborted: boolean): boolean {
  return aborted && (reason === 'signal-received' || reason === '');
}

/** Whether classifyStop needs to know where the replay stands: a stop that may be at either end. */
export function stopNeedsPosition(st: MiTuple, aborted: boolean): boolean {
  const reason = miString(st, 'reason') ?? '';
  if (isPauseByUser(reason, aborted)) return false;
  return reason === 'no-history' || reason === '' || reason === 'signal-received' || isStepEnd(reason);
}

/** The watchpoint tuple of a `*stopped` record, whichever kind of watchpoint triggered. */
export function watchpointOf(st: MiTuple): MiTuple | undefined {
  return miTuple(st, 'wpt') ?? miTuple(st, 'hw-rwpt') ?? miTuple(st, 'hw-awpt');
}

export function classifyStop(st: MiTuple, facts: StopFacts): StopInfo {
  const { direction } = facts;
  const reason = miString(st, 'reason') ?? '';
  const threadId = Number(miString(st, 'thread-id') ?? 1);
  const cause = direction === 'reverse' ? 'reverseContinue' : 'continue';
  if (isPauseByUser(reason, facts.aborted)) {
    return { reason: 'pause', threadId, description: direction === 'reverse' ? 'Cancelled: still where it started' : 'Paused', cause };
  }
  // A step that lands on the first or last time point is a stop at that end, too.
  if (stopNeedsPosition(st, facts.aborted)) {
    const pos = facts.position;
    if (!pos) throw new Error(`classifyStop: a "${reason}" stop needs the position`);
    const stepped = isStepEnd(reason);
    // gdb names "no-history" only going backward; the position tells either end apart.
    if (pos.icount >= pos.end && (!stepped || direction === 'forward')) return endStop(cause, pos.icount);
    if (pos.icount === 0 && (direction === 'reverse' || reason === 'no-history')) return startStop(cause);
  }
  if (reason === 'breakpoint-hit') {
    const bp = facts.breakpoint(Number(miString(st, 'bkptno')));
    const dapReason = bp?.kind === 'function' ? 'function breakpoint' : bp?.kind === 'instruction' ? 'instruction breakpoint' : bp?.kind === 'exception' ? 'exception' : 'breakpoint';
    return {
      reason: dapReason,
      threadId,
      ...(bp?.kind === 'exception' ? { description: 'Paused on a kernel panic', text: 'Kernel panic' } : {}),
      ...(bp ? { hitBreakpointIds: [bp.dapId] } : {}),
      cause,
    };
  }
  if (reason.endsWith('watchpoint-trigger')) {
    const wpt = watchpointOf(st);
    const value = miTuple(st, 'value');
    const bp = facts.breakpoint(Number(miString(wpt, 'number')));
    const oldV = miString(value, 'old');
    const newV = miString(value, 'new');
    const what = bp?.label ?? miString(wpt, 'exp') ?? 'the watched memory';
    const change = oldV !== undefined && newV !== undefined ? (direction === 'reverse' ? `: before the write ${newV}, after it ${oldV}` : `: ${oldV} → ${newV}`) : miString(value, 'value') ? `: value ${miString(value, 'value')}` : '';
    return {
      reason: 'data breakpoint',
      threadId,
      description: `${direction === 'reverse' ? 'Went back to the write of' : 'Paused on an access to'} ${what}${change}`,
      ...(bp ? { hitBreakpointIds: [bp.dapId] } : {}),
      cause,
    };
  }
  if (reason === 'signal-received' || reason === '' || reason === 'no-history') return { reason: 'pause', threadId, cause };
  return { reason: 'step', threadId, cause: direction === 'reverse' ? 'stepBack' : 'step' };
}

/** The message of the first panic line among console lines: the demo guest's "PANIC: ...", Linux's "Kernel panic - not syncing: ...". */
export function panicMessage(lines: string[]): string | undefined {
  for (const line of lines) {
    const m = /(?:^PANIC: |Kernel panic - not syncing: )(.*)$/.exec(line);
    if (m) return m[1]!.trim();
  }
  return undefined;
}
