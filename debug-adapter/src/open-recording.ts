/**
 * A recording open for debugging: the debuggee and what the session keeps beside it (the
 * inspector's handles, the breakpoints, the reverse stepper, the position reader). Made once the
 * debuggee is open; kept until the session ends.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import { BreakpointManager } from './breakpoints';
import type { Debuggee } from './debuggee';
import { Inspector } from './inspector';
import type { LongOperation } from './long-operation';
import { PositionReader } from './position';
import { ReverseStepper } from './reverse-stepping';

export interface OpenRecording {
  readonly debuggee: Debuggee;
  readonly inspector: Inspector;
  readonly breakpoints: BreakpointManager;
  readonly stepper: ReverseStepper;
  readonly position: PositionReader;
}

export interface OpenRecordingHooks {
  log(line: string): void;
  /** The move or query running now (the reverse stepper's engine requests are cancelled with it). */
  currentOperation(): LongOperation | undefined;
  /** The thread shown first (the reverse stepper starts from its top frame). */
  firstThread(): number;
  /** A breakpoint's locations changed (a module's code came or went): the DAP `breakpoint` event. */
  breakpointChanged?(bp: DebugProtocol.Breakpoint): void;
}

export function openRecording(d: Debuggee, hooks: OpenRecordingHooks): OpenRecording {
  const inspector = new Inspector(d.gdb);
  const breakpoints = new BreakpointManager(d.gdb, hooks.log, (bp) => hooks.breakpointChanged?.(bp));
  const stepper = new ReverseStepper(
    {
      frame: () => d.frame(0),
      // The frame the user sees on top: after a step that ended on an inlined call, its caller.
      presentedFrame: async () => d.frame(await inspector.presentedLevel(hooks.firstThread())),
      reverseStepi: () => d.reverseStepi(),
      continueTo: async (bps, until) => {
        const stop = await d.continueTo(bps, until, hooks.currentOperation()?.signal);
        return { kind: stop.kind === 'breakpoint' ? 'breakpoint' : 'other', ...(stop.address ? { address: BigInt(stop.address) } : {}) };
      },
      icount: async () => (await d.position()).icount,
      hitsBack: async (bps, from, to, snapFrom) => {
        const signal = hooks.currentOperation()?.signal;
        const r = await d.client.hits(
          d.sessionId,
          bps.map((b) => ({ address: b.address, ...(b.stack ? { stack: b.stack } : {}) })),
          { from, to, snapFrom, ...(signal ? { signal } : {}) },
        );
        return { hits: r.hits.map((h) => ({ icount: h.icount, address: BigInt(h.address) })).sort((a, b) => a.icount - b.icount), from: r.from ?? from };
      },
      seek: async (icount) => {
        await d.seek(icount);
      },
    },
    () => breakpoints.stoppingAddresses(),
  );
  return { debuggee: d, inspector, breakpoints, stepper, position: new PositionReader(d) };
}
