/**
 * Moves made through gdb (continue, steps, finish, either way): each answers its request once gdb
 * runs and turns gdb's `*stopped` record into a StopInfo. Used by the time-travel handlers,
 * configurationDone and `-exec` in the Debug Console, always inside HandlerContext.move.
 */
import { AdapterError, messageOf } from '../errors';
import { exec } from '../mi/exec';
import { miString, type MiTuple } from '../mi/parser';
import type { OpenRecording } from '../open-recording';
import type { RequestContext } from '../requests';
import { classifyStop, stopNeedsPosition, watchpointOf, type StopInfo } from '../stops';
import type { HandlerContext } from './context';

export type Direction = 'forward' | 'reverse';

/**
 * A continue through gdb (forward or reverse), resumed by the adapter after logpoints and
 * breakpoints whose hit condition is not met. Answers the request once gdb runs.
 */
export async function gdbContinue(c: HandlerContext, command: string, direction: Direction, ctx: RequestContext, signal: AbortSignal): Promise<StopInfo> {
  const r = c.open();
  const linux = c.linux;
  await linux?.moduleStops.prepare(r.breakpoints.followsModules(linux.modules.ranges()));
  let cmd = command;
  for (;;) {
    const st = await r.debuggee.exec(cmd, signal, () => ctx.respond({ allThreadsContinued: true }));
    const reason = miString(st, 'reason') ?? '';
    if (!signal.aborted && (reason === 'breakpoint-hit' || reason.endsWith('watchpoint-trigger'))) {
      const n = Number(miString(st, 'bkptno') ?? miString(watchpointOf(st), 'number'));
      if (linux?.moduleStops.owns(n)) {
        // A module loads or unloads here: its symbols (and so the breakpoints in its code) follow, then on.
        await c.refreshModules();
        cmd = exec.continue({ reverse: direction === 'reverse' });
        continue;
      }
      const decision = await r.breakpoints.onHit(n, { thread: Number(miString(st, 'thread-id') ?? 1), level: 0 });
      if (decision?.log !== undefined) c.output(`${direction === 'reverse' ? '◀ ' : ''}${decision.log}\n`, 'console');
      if (decision && !decision.stop) {
        cmd = exec.continue({ reverse: direction === 'reverse' });
        continue;
      }
    }
    return stopFromMi(r, st, direction, signal.aborted);
  }
}

/** A step through gdb: breakpoints that only count or log are disabled meanwhile. */
export async function gdbStep(c: HandlerContext, command: string, direction: Direction, ctx: RequestContext, signal: AbortSignal): Promise<StopInfo> {
  const r = c.open();
  await c.linux?.moduleStops.prepare(false);
  await r.breakpoints.setCountingEnabled(false);
  try {
    const st = await r.debuggee.exec(command, signal, () => ctx.respond());
    return await stopFromMi(r, st, direction, signal.aborted);
  } finally {
    await r.breakpoints.setCountingEnabled(true).catch(() => undefined);
  }
}

/**
 * A forward step. Where the pc has no line information (boot code, assembly without DWARF),
 * gdb refuses to step a line ("Cannot find bounds of current function"): step one instruction
 * instead, as a kernel developer stepping through entry code expects, and say so.
 */
export async function lineStep(c: HandlerContext, command: string, thread: number, ctx: RequestContext, signal: AbortSignal): Promise<StopInfo> {
  try {
    return await gdbStep(c, command, 'forward', ctx, signal);
  } catch (e) {
    if (ctx.responded || !/Cannot find bounds of current function/.test((e as Error).message)) throw e;
    c.output('Rewind: no line information at this address: stepped one instruction\n', 'console');
    return gdbStep(c, exec.step({ thread, instruction: true }), 'forward', ctx, signal);
  }
}

/**
 * gdb's finish (either way). Where the pc belongs to no function (the kernel's boot
 * decompressor runs before vmlinux and has no symbols) it refuses: say why, in the user's terms.
 */
export async function gdbFinish(c: HandlerContext, command: string, direction: Direction, ctx: RequestContext, signal: AbortSignal): Promise<StopInfo> {
  try {
    return await gdbStep(c, command, direction, ctx, signal);
  } catch (e) {
    if (ctx.responded || !/Cannot find bounds of current function|not meaningful in the outermost frame/.test(messageOf(e))) throw e;
    const pc = (await c.requireDebuggee().frame().catch(() => undefined))?.pc;
    const instead = direction === 'reverse' ? 'step back by instruction, or reverse continue to a breakpoint' : 'step by instruction, or continue to a breakpoint';
    const at = pc !== undefined ? ` at 0x${pc.toString(16)}` : '';
    throw new AdapterError(`there is no function to step out of here: the code${at} has no symbols or no caller gdb can find (gdb: ${messageOf(e)}); ${instead} instead`);
  }
}

/** What a gdb `*stopped` record means for the user (stops.ts decides; this gathers the facts). */
export async function stopFromMi(r: OpenRecording, st: MiTuple, direction: Direction, aborted = false): Promise<StopInfo> {
  const position = stopNeedsPosition(st, aborted) ? await r.debuggee.position() : undefined;
  return classifyStop(st, { direction, aborted, ...(position ? { position } : {}), breakpoint: (n) => r.breakpoints.lookup(n) });
}
