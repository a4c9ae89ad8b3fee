/**
 * Questions the recording's index makes cheap (issue 12; the editor's views build on them):
 * rewind/valueHistory, every write of a variable with its value before and after;
 * rewind/hitCounts, how often lines or functions ran; rewind/indexStatus. Without an index the
 * bridge answers them by replaying, with the same results.
 */
import type { HexAddress, RewindHitCountsResponse } from '@rewind/protocol';
import type { Debuggee } from '../debuggee';
import { AdapterError } from '../errors';
import { disassemble, symbolInfoLine } from '../mi/commands';
import { writesMemory } from '../writer-instruction';
import type { HandlerTable } from '../requests';
import type { HandlerContext } from './context';
import { memoryTarget } from './memory';

/** Lines per rewind/hitCounts request (each is one gdb lookup). */
const MAX_LINES = 5000;

export function historyHandlers(c: HandlerContext) {
  return {
    'rewind/valueHistory': async (args, ctx) => {
      const { debuggee: d } = c.open();
      const { address, size, label, type } = await memoryTarget(c, ctx, 'rewind/valueHistory', args);
      const range = { ...(args.from !== undefined ? { from: args.from } : {}), ...(args.to !== undefined ? { to: args.to } : {}) };
      // On Linux (x86_64) each write also says which task and CPU made it.
      const task = c.linux ? (await c.inspect(ctx, () => c.linux!.kernel.taskProbe())).probe : undefined;
      const { hits } = await c.query(ctx, `Value history of ${label}`, (signal) => d.client.writes(d.sessionId, address, size, { ...range, values: true, ...(task ? { task } : {}), signal }));
      const places = await c.inspect(ctx, () => codeLocations(d, hits.map((h) => h.address)));
      const writers = await c.inspect(ctx, () => writerLocations(d, hits.map((h) => h.address)));
      return {
        address: `0x${address.toString(16)}`,
        size,
        ...(type ? { type } : {}),
        writes: hits.map((h) => {
          const writer = writers.get(h.address);
          return {
            icount: h.icount,
            ...(h.delivery ? { delivery: true as const } : {}),
            ...(h.before ? { before: h.before } : {}),
            ...(h.value ? { after: h.value } : {}),
            at: places.get(h.address) ?? { address: h.address },
            ...(writer ? { writer } : {}),
            ...(h.task ? { task: { pid: h.task.pid, tgid: h.task.tgid, comm: h.task.comm }, ...(h.task.cpu !== undefined ? { cpu: h.task.cpu } : {}) } : {}),
          };
        }),
      };
    },

    'rewind/hitCounts': async (args, ctx) => {
      const d = c.requireDebuggee();
      const specs: Array<{ line?: number; function?: string; spec: string }> = [];
      if (args.source?.path !== undefined) {
        if (!Array.isArray(args.lines) || args.lines.length === 0) throw new AdapterError('rewind/hitCounts with "source" needs "lines": the line numbers to count');
        if (args.lines.length > MAX_LINES) throw new AdapterError(`rewind/hitCounts takes at most ${MAX_LINES} lines per request`);
        for (const line of args.lines) {
          if (!Number.isInteger(line) || line < 1) throw new AdapterError(`"lines" holds ${JSON.stringify(line)}, not a line number`);
          specs.push({ line, spec: `${args.source.path}:${line}` });
        }
      }
      for (const f of args.functions ?? []) specs.push({ function: f, spec: f });
      if (specs.length === 0) throw new AdapterError('rewind/hitCounts needs "source" with "lines", or "functions"');
      const located = await c.inspect(ctx, async () => {
        const out: Array<{ line?: number; function?: string; addresses: bigint[] }> = [];
        for (const s of specs) out.push({ ...(s.line !== undefined ? { line: s.line } : {}), ...(s.function !== undefined ? { function: s.function } : {}), addresses: (await lineAddresses(d, s.spec)).addresses });
        return out;
      });
      const all = [...new Set(located.flatMap((l) => l.addresses))];
      const range = { ...(args.from !== undefined ? { from: args.from } : {}), ...(args.to !== undefined ? { to: args.to } : {}) };
      const r = all.length > 0 ? await c.query(ctx, 'Hit counts', (signal) => d.client.counts(d.sessionId, all, { ...range, signal })) : { counts: [], indexed: true };
      const byAddress = new Map(r.counts.map((x) => [BigInt(x.address), x.count]));
      const counts: RewindHitCountsResponse['counts'] = located.map((l) => ({
        ...(l.line !== undefined ? { line: l.line } : {}),
        ...(l.function !== undefined ? { function: l.function } : {}),
        addresses: l.addresses.map((a) => `0x${a.toString(16)}`),
        count: l.addresses.reduce((n, a) => n + (byAddress.get(a) ?? 0), 0),
      }));
      return { counts, indexed: r.indexed };
    },

    'rewind/recordingReach': async () => c.requireDebuggee().reach,

    'rewind/indexStatus': async () => {
      const d = c.requireDebuggee();
      return d.client.indexStatus(d.sessionId);
    },
  } satisfies Partial<HandlerTable>;
}

/** Every code address gdb maps a location (file:line, function) to, or gdb's reason it has none. */
export async function lineAddresses(d: Debuggee, spec: string): Promise<{ addresses: bigint[]; error?: string }> {
  const out = await d.gdb.console(`rewind-line-addresses ${spec}`);
  const json = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { locations?: Array<{ address: string }>; error?: string };
  return { addresses: (json.locations ?? []).map((l) => BigInt(l.address)), ...(json.error !== undefined ? { error: json.error } : {}) };
}

/**
 * The writing instruction of each write, where gdb's disassembly tells it: the bridge reports
 * where the guest is just after a write (the instruction after the store); the one before it in
 * its function, disassembled from the function's start, when that one writes memory and ends
 * exactly there. Left out when unsure: an address at a function's entry (a call's push, an
 * exception frame), a string instruction (its pc stays while it repeats), no symbol.
 */
async function writerLocations(d: Debuggee, addresses: HexAddress[]): Promise<Map<HexAddress, { address: HexAddress; function?: string; path?: string; line?: number }>> {
  const before = new Map<HexAddress, HexAddress>();
  for (const a of new Set(addresses)) {
    const w = await writerBefore(d, a).catch(() => undefined);
    if (w) before.set(a, w);
  }
  const places = await codeLocations(d, [...before.values()]);
  return new Map([...before].map(([a, w]) => [a, places.get(w) ?? { address: w }]));
}

/** Functions longer than this are not disassembled from their start to find a writer. */
const MAX_WRITER_SWEEP = 0x4000;

async function writerBefore(d: Debuggee, at: HexAddress): Promise<HexAddress | undefined> {
  const a = BigInt(at);
  const [here] = await disassemble(d.gdb, a, a + 1n);
  if (!here?.func || here.offset === undefined || here.offset <= 0 || here.offset > MAX_WRITER_SWEEP || /^\s*rep/.test(here.inst)) return undefined;
  const insns = await disassemble(d.gdb, a - BigInt(here.offset), a);
  let prev: (typeof insns)[number] | undefined;
  for (const i of insns) if (BigInt(i.address) < a && (!prev || BigInt(i.address) > BigInt(prev.address))) prev = i;
  if (!prev || !writesMemory(prev.inst)) return undefined;
  // The sweep from the function's start must land exactly on `at` (no data or padding in between).
  const length = prev.opcodes?.trim().split(/\s+/).length;
  if (length === undefined || BigInt(prev.address) + BigInt(length) !== a) return undefined;
  return `0x${BigInt(prev.address).toString(16)}`;
}

/** Function and line of code addresses, each looked up once. */
export async function codeLocations(d: Debuggee, addresses: HexAddress[]): Promise<Map<HexAddress, { address: HexAddress; function?: string; path?: string; line?: number }>> {
  const out = new Map<HexAddress, { address: HexAddress; function?: string; path?: string; line?: number }>();
  for (const a of new Set(addresses)) {
    const l = (await symbolInfoLine(d.gdb, `*${a}`).catch(() => []))[0];
    out.set(a, { address: a, ...(l?.func ? { function: l.func } : {}), ...(l?.fullname ? { path: l.fullname } : {}), ...(l?.line ? { line: l.line } : {}) });
  }
  return out;
}
