/**
 * Moving in time: continue and the steps either way (through gdb, or for reverse line steps by
 * the fast engine path, reverse-stepping.ts), pause, and Rewind's rewind/position and rewind/seek.
 * Every move runs through HandlerContext.move.
 */
import type { TimePoint } from '@rewind/core';
import { AdapterError, ErrorId } from '../errors';
import { exec, threadSelect } from '../mi/exec';
import type { HandlerTable, RequestContext } from '../requests';
import type { ReverseStepKind, ReverseStepResult } from '../reverse-stepping';
import { endStop, startStop } from '../stops';
import type { HandlerContext } from './context';
import { gdbContinue, gdbFinish, gdbStep, lineStep } from './gdb-moves';

export function timeTravelHandlers(c: HandlerContext) {
  /** The thread a request names: one of the vCPUs last listed. */
  const threadOf = (args: { threadId?: unknown }): number => {
    const t = args.threadId;
    if (typeof t !== 'number') throw new AdapterError('this request needs "threadId"');
    if (!c.threads.some((x) => x.id === t)) throw new AdapterError(`unknown threadId ${t}; the guest's vCPUs are threads ${c.threads.map((x) => x.id).join(', ')}`, ErrorId.unknownReference);
    return t;
  };

  /** Reverse steps: instruction granularity through gdb; lines and step-out by the fast engine path. */
  const reverseStep = async (kind: ReverseStepKind, args: { threadId?: unknown; granularity?: unknown }, ctx: RequestContext): Promise<void> => {
    const t = threadOf(args);
    const { debuggee: d, stepper, breakpoints } = c.open();
    await c.move(ctx, async (signal) => {
      if (args.granularity === 'instruction' && kind !== 'out') {
        // Exactly one instruction back, also over a `ret` (reverse-nexti would go back over the whole call).
        return gdbStep(c, exec.step({ thread: t, reverse: true, instruction: true }), 'reverse', ctx, signal);
      }
      const startedAt = (await d.position()).icount;
      if (startedAt === 0) return startStop('stepBack');
      await d.gdb.send(threadSelect(t));
      // Answered now, unless gdb's own reverse-finish does the step: that one is answered once gdb
      // runs, so that gdb refusing it (no symbols here, the outermost frame) is an error response.
      if (kind !== 'out' || (await stepper.outFallback()) === undefined) ctx.respond();
      const r: ReverseStepResult = await stepper.step(kind);
      if (r.kind === 'fallback') {
        c.output(`Rewind: ${r.reason}: using gdb's own reverse ${kind === 'out' ? 'finish' : kind === 'into' ? 'step' : 'next'} (slower)\n`, 'console');
        if (kind === 'out') return gdbFinish(c, exec.finish({ thread: t, reverse: true }), 'reverse', ctx, signal);
        return gdbStep(c, (kind === 'into' ? exec.step : exec.next)({ thread: t, reverse: true }), 'reverse', ctx, signal);
      }
      if (r.kind === 'start' || (r.kind === 'step' && (await d.position()).icount === 0)) return startStop('stepBack');
      if (r.kind === 'breakpoint') {
        const ids = breakpoints.idsAt(r.address);
        return { reason: 'breakpoint', description: 'Paused on a breakpoint while stepping back', threadId: t, ...(ids.length ? { hitBreakpointIds: ids } : {}), cause: 'stepBack' };
      }
      return { reason: 'step', threadId: t, cause: 'stepBack' };
    });
  };

  return {
    continue: async (args, ctx) => {
      threadOf(args);
      await c.move(ctx, (signal) => gdbContinue(c, exec.continue(), 'forward', ctx, signal));
    },

    reverseContinue: async (args, ctx) => {
      threadOf(args);
      await c.move(ctx, (signal) => gdbContinue(c, exec.continue({ reverse: true }), 'reverse', ctx, signal), 'Reverse continue', true);
    },

    next: async (args, ctx) => {
      const t = threadOf(args);
      await c.move(ctx, (signal) => lineStep(c, exec.next({ thread: t, instruction: args.granularity === 'instruction' }), t, ctx, signal));
    },

    stepIn: async (args, ctx) => {
      const t = threadOf(args);
      await c.move(ctx, (signal) => lineStep(c, exec.step({ thread: t, instruction: args.granularity === 'instruction' }), t, ctx, signal));
    },

    stepOut: async (args, ctx) => {
      const t = threadOf(args);
      await c.move(ctx, (signal) => gdbFinish(c, exec.finish({ thread: t }), 'forward', ctx, signal));
    },

    stepBack: (args, ctx) => reverseStep('over', args, ctx),
    'rewind/reverseStepIn': (args, ctx) => reverseStep('into', args, ctx),
    'rewind/reverseStepOut': (args, ctx) => reverseStep('out', args, ctx),

    pause: async () => {
      // Nothing current: already stopped, nothing to do.
      c.ops.current?.cancel();
    },

    'rewind/position': () => c.position(),

    'rewind/seek': async (args, ctx) => {
      const d = c.requireDebuggee();
      const given = [args.icount, args.eventIndex, args.percent].filter((v) => v !== undefined && v !== null).length;
      if (given !== 1) throw new AdapterError('rewind/seek needs exactly one of "icount", "eventIndex" or "percent"');
      let target: TimePoint;
      let what: string;
      if (args.icount !== undefined) {
        if (!Number.isSafeInteger(args.icount) || args.icount < 0) throw new AdapterError(`"icount" must be a non-negative whole number, got ${JSON.stringify(args.icount)}`);
        target = args.icount;
        what = `icount ${target.toLocaleString('en-US')}`;
      } else if (args.percent !== undefined) {
        if (typeof args.percent !== 'number' || !(args.percent >= 0 && args.percent <= 100)) throw new AdapterError('"percent" must be between 0 and 100');
        target = Math.round((d.end * args.percent) / 100);
        what = `${args.percent}% of the recording`;
      } else {
        const idx = args.eventIndex!;
        if (!Number.isSafeInteger(idx) || idx < 0) throw new AdapterError('"eventIndex" must be a non-negative whole number');
        // A Linux kernel event (numbered after the event index's own, see rewind/events).
        const kernelEvent = c.linux?.eventByIndex(idx);
        const ev = kernelEvent ? { icount: kernelEvent.icount, kind: `kernel ${kernelEvent.kind}`, detail: `in ${kernelEvent.function}()` } : (await d.client.events(d.sessionId, { from: 0, limit: idx + 1 })).events.find((e) => e.index === idx);
        if (!ev) throw new AdapterError(`there is no event #${idx} in this recording`);
        target = ev.icount;
        what = `event #${idx} (${ev.kind}${ev.detail ? ` ${ev.detail}` : ''})`;
      }
      await c.move(ctx, async () => {
        const at = await d.seek(Math.min(target, d.end));
        ctx.respond(await c.position());
        if (at >= d.end) return endStop('seek', at);
        if (at === 0) return { ...startStop('seek'), reason: 'goto' };
        return { reason: 'goto', description: `Went to ${what}`, cause: 'seek' };
      }, 'Go to time');
    },
  } satisfies Partial<HandlerTable>;
}
