/**
 * gdb's range stepping (`vCont;r START,END`): step once, then keep stepping while the pc stays in
 * [START, END). gdb uses it for `next` and `step` within a source line when the target offers it;
 * without it, gdb sends one `s` per instruction and reads the registers after each.
 *
 * The reason the relay offers it: a REP string instruction (`rep stos`, `rep movs`...) is one
 * instruction per iteration for single-stepping and for icount, so `next` over a line like
 * Linux's clear_bss (`memset` of 5.5 MB, inlined as `rep stosb`) took 5.5 million steps, hours.
 * Here a REP string instruction is run to its end in one continue, to a temporary breakpoint just
 * after it (with gdb's own breakpoints and watchpoints still in force): the same place the steps
 * would reach, since a REP string instruction goes nowhere else.
 */
import type { TimePoint } from '../timepoint';
import type { RelayStop } from './relay-target';

/** What range stepping needs of the relay's target, at the current time point. */
export interface RangeStepTarget {
  icount(): Promise<TimePoint>;
  /** The program counter. */
  pc(): Promise<bigint>;
  /** Up to 16 bytes of code at `address` (fewer where memory ends). */
  code(address: bigint): Promise<Buffer>;
  /** One instruction forward; the new time point (unchanged at the end of the recording). */
  stepi(): Promise<TimePoint>;
  /** Runs forward with gdb's breakpoints and watchpoints plus one at `address`. */
  continueTo(address: bigint, signal: AbortSignal): Promise<RelayStop>;
  /** A breakpoint gdb inserted is at `address`. */
  hasBreakpoint(address: bigint): boolean;
  /** The code is 64-bit (a REX prefix can come before the opcode). */
  is64: boolean;
}

const STRING_OPCODES = new Set([0x6c, 0x6d, 0x6e, 0x6f, 0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf]);
const LEGACY_PREFIXES = new Set([0x66, 0x67, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0xf0, 0xf2, 0xf3]);

/** The length of the REP-prefixed string instruction these bytes start with, or undefined. */
export function repStringLength(code: Buffer, is64: boolean): number | undefined {
  let rep = false;
  let i = 0;
  while (i < code.length && i < 15 && LEGACY_PREFIXES.has(code[i]!)) {
    if (code[i] === 0xf2 || code[i] === 0xf3) rep = true;
    i++;
  }
  if (is64 && i < code.length && (code[i]! & 0xf0) === 0x40) i++; // REX
  if (!rep || i >= code.length || !STRING_OPCODES.has(code[i]!)) return undefined;
  return i + 1;
}

/** Steps as `vCont;r` asks; the stop to report. An aborted signal stops it where it is. */
export async function rangeStep(t: RangeStepTarget, start: bigint, end: bigint, signal: AbortSignal): Promise<RelayStop> {
  const code = new Map<bigint, number | undefined>(); // the REP check per pc, for loops within the range
  for (let first = true; ; first = false) {
    const icount = await t.icount();
    const pc = await t.pc();
    if (!first) {
      if (pc < start || pc >= end) return { kind: 'time', icount };
      if (t.hasBreakpoint(pc)) return { kind: 'breakpoint', icount, address: pc };
    }
    if (signal.aborted) return { kind: 'time', icount };
    if (!code.has(pc)) code.set(pc, repStringLength(await t.code(pc), t.is64));
    const rep = code.get(pc);
    if (rep !== undefined) {
      const after = pc + BigInt(rep);
      const stop = await t.continueTo(after, signal);
      // Anything but the temporary breakpoint (gdb's own there included) is gdb's business.
      if (stop.kind !== 'breakpoint' || stop.address !== after || t.hasBreakpoint(after)) return stop;
      continue;
    }
    if ((await t.stepi()) === icount) return { kind: 'end', icount };
  }
}
