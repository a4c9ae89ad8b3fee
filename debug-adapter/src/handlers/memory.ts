/**
 * The guest's memory at the current time point (readMemory, disassemble) and over the recording:
 * rewind/lastWrite, the last write of a variable or an address range before now, reported or
 * gone to.
 */
import { Source } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { basename } from 'node:path';
import { noDataBreakpoint, type DataId } from '../breakpoints';
import type { Debuggee } from '../debuggee';
import { AdapterError, messageOf } from '../errors';
import { disassemble, evaluate, readMemory, symbolInfoLine } from '../mi/commands';
import type { HandlerTable, RequestContext } from '../requests';
import { optionalInteger, parseAddress, requireNumber } from './arguments';
import type { HandlerContext } from './context';

/** Where an lvalue lives, how big it is, and its type (for a data breakpoint or a last-write query). */
export async function dataIdOf(d: Debuggee, expression: string, frame: { thread: number; level: number } | undefined): Promise<DataId> {
  const addressText = await evaluate(d.gdb, `&(${expression})`, frame).catch((e) => {
    throw noDataBreakpoint(expression, `it is not in memory (${messageOf(e)})`);
  });
  const m = /0x[0-9a-f]+/i.exec(addressText);
  if (!m) throw noDataBreakpoint(expression, `gdb gave no address (${addressText})`);
  const size = Number(await evaluate(d.gdb, `sizeof(${expression})`, frame));
  if (!Number.isInteger(size) || size <= 0) throw noDataBreakpoint(expression, 'its size is unknown');
  const whatis = await d.gdb.console(`whatis ${expression}`).catch(() => '');
  const type = /type = (.*)/.exec(whatis)?.[1]?.trim();
  return { address: `0x${BigInt(m[0]).toString(16)}`, size, expression, ...(type && !type.includes('[') ? { type } : {}) };
}

/**
 * The bytes a memory query is about: a C expression's (in a frame) or an address and size
 * (rewind/lastWrite, rewind/valueHistory).
 */
export async function memoryTarget(
  c: HandlerContext,
  ctx: RequestContext,
  command: string,
  args: { expression?: unknown; frameId?: number; address?: string; size?: number },
): Promise<{ address: bigint; size: number; label: string; type?: string }> {
  const { debuggee: d, inspector } = c.open();
  if (args.expression !== undefined) {
    if (typeof args.expression !== 'string' || args.expression.trim() === '') throw new AdapterError('"expression" must be a C expression');
    const expression = args.expression;
    const frame = inspector.frame(args.frameId);
    const id = await c.inspect(ctx, () => dataIdOf(d, expression, frame));
    return { address: BigInt(id.address), size: id.size, label: expression, ...(id.type ? { type: id.type } : {}) };
  }
  if (args.address === undefined) throw new AdapterError(`${command} needs "expression" (with an optional frameId) or "address" and "size"`);
  const size = args.size ?? 1;
  if (!Number.isInteger(size) || size < 1 || size > 4096) throw new AdapterError('"size" must be 1 to 4096 bytes');
  return { address: parseAddress(args.address), size, label: `${size} bytes at ${args.address}` };
}

export function memoryHandlers(c: HandlerContext) {
  return {
    readMemory: async (args, ctx) => {
      const d = c.requireDebuggee();
      const address = parseAddress(args.memoryReference) + BigInt(optionalInteger(args.offset, 'offset') ?? 0);
      const count = requireNumber(args.count, 'count');
      if (!Number.isInteger(count) || count < 0 || count > 1 << 20) throw new AdapterError('readMemory reads at most 1 MiB at a time ("count": a whole number of bytes)');
      return c.inspect(ctx, async (signal) => {
        const blocks = count === 0 ? [] : await readMemory(d.gdb, address, count, { signal }).catch(() => []);
        // The readable bytes from the start; the rest is reported unreadable.
        let data = Buffer.alloc(0);
        for (const b of blocks) {
          if (b.offset !== data.length) break;
          data = Buffer.concat([data, b.data]);
        }
        return { address: `0x${address.toString(16)}`, data: data.toString('base64'), ...(data.length < count ? { unreadableBytes: count - data.length } : {}) };
      });
    },

    disassemble: async (args, ctx) => {
      const d = c.requireDebuggee();
      const base = parseAddress(args.memoryReference) + BigInt(optionalInteger(args.offset, 'offset') ?? 0);
      const count = requireNumber(args.instructionCount, 'instructionCount');
      if (count > 10_000) throw new AdapterError('at most 10000 instructions at a time');
      // Bounded like the count: gdb would disassemble the whole span in between.
      const offset = optionalInteger(args.instructionOffset, 'instructionOffset', -10_000, 10_000) ?? 0;
      const before = Math.max(0, -offset);
      const skip = Math.max(0, offset);
      return c.inspect(ctx, async (signal) => {
        // x86 has no fixed instruction length: disassemble from far enough back and keep the tail.
        const from = before > 0 ? base - BigInt(before * 15) : base;
        const insns = await disassemble(d.gdb, from < 0n ? 0n : from, base + BigInt((skip + count) * 15 + 16), { signal }).catch(() => []);
        const at = insns.findIndex((i) => BigInt(i.address) >= base);
        const startIdx = Math.max(0, (at < 0 ? insns.length : at) - before) + skip;
        const picked = insns.slice(startIdx, startIdx + count).map((i) => {
          const ins: DebugProtocol.DisassembledInstruction = {
            address: i.address,
            instruction: i.inst,
            ...(i.opcodes ? { instructionBytes: i.opcodes } : {}),
            ...(i.func ? { symbol: `${i.func}+${i.offset ?? 0}` } : {}),
            ...(i.fullname ? { location: new Source(basename(i.fullname), i.fullname) } : {}),
            ...(i.line ? { line: i.line } : {}),
          };
          return ins;
        });
        // Pad with "invalid" rows so the client gets the count it asked for.
        while (picked.length < count) picked.push({ address: `0x${(base + BigInt(picked.length)).toString(16)}`, instruction: '??', presentationHint: 'invalid' });
        return { instructions: picked };
      });
    },

    'rewind/lastWrite': async (args, ctx) => {
      const { debuggee: d } = c.open();
      const { address, size, label } = await memoryTarget(c, ctx, 'rewind/lastWrite', args);
      const after = await d.client.readMemory(d.sessionId, address, size).catch(() => undefined);
      const { hit } = await c.query(ctx, `Last write of ${label}`, (signal) => d.client.lastWrite(d.sessionId, address, size, { signal }));
      const base = { address: `0x${address.toString(16)}`, size };
      if (!hit) return { found: false, ...base };
      const delivery = hit.delivery ? { delivery: true as const } : {};
      /** The code at `hit.address`: the pc after the write, or, for an interrupt's frame, the handler's entry. */
      const located = async () => {
        const lines = await symbolInfoLine(d.gdb, `*${hit.address}`).catch(() => []);
        return { address: hit.address, ...(lines[0] ? { function: lines[0].func, path: lines[0].fullname, line: lines[0].line } : {}) };
      };
      if (!args.seek) return { found: true, ...base, icount: hit.icount, writer: await located(), ...delivery, ...(after ? { after: after.toString('hex') } : {}) };
      // Answered from inside the move, once there: the body tells the bytes before the write.
      await c.move(ctx, async () => {
        // An interrupt's frame is written at its time point, before the interrupted instruction runs.
        await d.seek(hit.delivery ? hit.icount : hit.icount - 1);
        const before = await d.client.readMemory(d.sessionId, address, size).catch(() => undefined);
        // There the writing instruction is frame 0's; a frame push has none.
        const f = hit.delivery ? undefined : await d.frame(0).catch(() => undefined);
        ctx.respond({
          found: true,
          ...base,
          icount: hit.icount,
          ...delivery,
          writer: f ? { address: `0x${f.pc.toString(16)}`, ...(f.function ? { function: f.function.name } : {}), ...(f.line ? { path: f.line.file, line: f.line.line } : {}) } : hit.delivery ? await located() : { address: hit.address },
          ...(before ? { before: before.toString('hex') } : {}),
          ...(after ? { after: after.toString('hex') } : {}),
        });
        return { reason: 'data breakpoint', description: `The last write of ${label} before icount ${hit.icount.toLocaleString('en-US')}${before && after ? `: ${before.toString('hex')} → ${after.toString('hex')}` : ''}`, cause: 'seek' };
      }, 'Find last write');
    },
  } satisfies Partial<HandlerTable>;
}
