/** The bridge's wire conversions: request parameters checked and parsed, results in their JSON shape. */
import { UserError } from '../errors';
import type { BridgeBreakpoint, BridgeHit, BridgeStop, BridgeTaskProbe, BridgeWatchpoint, HexAddress } from '@rewind/protocol';
import type { Hit } from '../replay/engine';
import type { TaskProbe } from '../replay/task-sample';
import type { Breakpoint, Watchpoint } from '../replay/worker';
import type { TimePoint } from '../timepoint';

export function hex(v: bigint): HexAddress {
  return '0x' + v.toString(16);
}

export function parseHex(v: unknown, name: string): bigint {
  if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{1,16}$/.test(v)) throw new UserError(`"${name}" must be a hex address string such as "0x100a9a", got ${JSON.stringify(v)}`, 'bad-params');
  return BigInt(v);
}

/** Hex strings, or {address, stack?: {min?, max?}} objects. */
export function breakpointList(v: unknown, name: string): Breakpoint[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new UserError(`"${name}" must be a list of hex addresses or {address, stack?: {min?, max?}}`, 'bad-params');
  return v.map((x: unknown) => {
    if (typeof x === 'string') return { address: parseHex(x, name) };
    if (typeof x !== 'object' || x === null) throw new UserError(`"${name}" must hold hex addresses or {address, stack?: {min?, max?}}, got ${JSON.stringify(x)}`, 'bad-params');
    const b = x as Partial<BridgeBreakpoint>;
    const address = parseHex(b.address, `${name}[].address`);
    if (b.stack === undefined || b.stack === null) return { address };
    if (typeof b.stack !== 'object') throw new UserError(`"${name}[].stack" must be {min?, max?}`, 'bad-params');
    const stack: { min?: bigint; max?: bigint } = {};
    if (b.stack.min !== undefined && b.stack.min !== null) stack.min = parseHex(b.stack.min, `${name}[].stack.min`);
    if (b.stack.max !== undefined && b.stack.max !== null) stack.max = parseHex(b.stack.max, `${name}[].stack.max`);
    if (stack.min !== undefined && stack.max !== undefined && stack.min > stack.max) throw new UserError(`"${name}[].stack": min is above max`, 'bad-params');
    return { address, stack };
  });
}

export function watchSize(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 4096) throw new UserError(`"size" must be a number of bytes from 1 to 4096, got ${JSON.stringify(v)}`, 'bad-params');
  return v;
}

/** rewind/writes' `task`: hex per-CPU offsets and byte offsets in struct task_struct. */
export function taskProbe(v: unknown): TaskProbe | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object') throw new UserError('"task" must be {currentTask, cpuNumber?, pid, tgid, comm}', 'bad-params');
  const p = v as Partial<BridgeTaskProbe>;
  const offset = (x: unknown, name: string): number => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 1 << 20) throw new UserError(`"task.${name}" must be a byte offset in struct task_struct, got ${JSON.stringify(x)}`, 'bad-params');
    return x;
  };
  return {
    currentTask: parseHex(p.currentTask, 'task.currentTask'),
    ...(p.cpuNumber !== undefined && p.cpuNumber !== null ? { cpuNumber: parseHex(p.cpuNumber, 'task.cpuNumber') } : {}),
    pid: offset(p.pid, 'pid'),
    tgid: offset(p.tgid, 'tgid'),
    comm: offset(p.comm, 'comm'),
  };
}

export function watchList(v: unknown): Watchpoint[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new UserError('"watchpoints" must be a list of {address, size, access}', 'bad-params');
  return v.map((w: Partial<BridgeWatchpoint>) => {
    const access = w?.access ?? 'write';
    if (access !== 'write' && access !== 'read' && access !== 'readWrite') throw new UserError(`watchpoint access must be "write", "read" or "readWrite", got ${JSON.stringify(access)}`, 'bad-params');
    if (w?.changes !== undefined && typeof w.changes !== 'boolean') throw new UserError(`watchpoint "changes" must be true or false, got ${JSON.stringify(w.changes)}`, 'bad-params');
    if (w?.changes && access !== 'write') throw new UserError(`watchpoint "changes" applies to write watchpoints only, not "${access}"`, 'bad-params');
    return { address: parseHex(w?.address, 'watchpoints[].address'), size: watchSize(w?.size), access, ...(w?.changes ? { changes: true } : {}) };
  });
}

export function icount(v: unknown, name: string): TimePoint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new UserError(`"${name}" must be a non-negative whole number, got ${JSON.stringify(v)}`, 'bad-params');
  return v;
}

export function optionalIcount(v: unknown, name: string): TimePoint | undefined {
  return v === undefined || v === null ? undefined : icount(v, name);
}

export function hitJson(h: Hit): BridgeHit {
  return {
    icount: h.icount,
    address: hex(h.address),
    ...(h.dataAddress !== undefined ? { dataAddress: hex(h.dataAddress) } : {}),
    ...(h.delivery ? { delivery: true as const } : {}),
    ...(h.before ? { before: h.before.toString('hex') } : {}),
    ...(h.value ? { value: h.value.toString('hex') } : {}),
    ...(h.task ? { task: { task: hex(h.task.task), pid: h.task.pid, tgid: h.task.tgid, comm: h.task.comm, ...(h.task.cpu !== undefined ? { cpu: h.task.cpu } : {}) } } : {}),
  };
}

export function stopJson(s: { kind: BridgeStop['kind']; icount: TimePoint; address?: bigint; dataAddress?: bigint }): BridgeStop {
  return {
    kind: s.kind,
    icount: s.icount,
    ...(s.address !== undefined ? { address: hex(s.address) } : {}),
    ...(s.dataAddress !== undefined ? { dataAddress: hex(s.dataAddress) } : {}),
  };
}
