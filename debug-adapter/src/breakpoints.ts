/**
 * The user's breakpoints, kept in gdb: source lines, functions, instructions, data (watchpoints)
 * and the "kernel panic" exception filter. gdb resolves locations and evaluates conditions (in
 * both directions of time); the adapter adds what gdb lacks: DAP hit conditions and logpoints,
 * whose breakpoints stop, count or log, and resume in the same direction.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import { AdapterError, ErrorId, messageOf } from './errors';
import { breakDelete, breakInsert, breakpointOf, breakWatch, evaluate, type Breakpoint, type WatchAccess } from './mi/commands';
import type { Gdb } from './mi/gdb';
import { miTuple } from './mi/parser';

export type BreakpointKind = 'source' | 'function' | 'instruction' | 'data' | 'exception';

interface Managed {
  gdbNumber: number;
  dapId: number;
  kind: BreakpointKind;
  addresses: bigint[];
  hitCondition?: (hits: number) => boolean;
  logMessage?: string;
  hits: number;
  /** Source breakpoints: the file they belong to. */
  path?: string;
  /** Data breakpoints: the expression the user chose. */
  label?: string;
  /** A pending breakpoint: why gdb found no code for it when it was set. */
  unresolved?: string;
}

/** What a hit of a breakpoint means. */
export interface HitDecision {
  stop: boolean;
  /** A logpoint's message, already interpolated. */
  log?: string;
  kind: BreakpointKind;
  dapId: number;
}

/** A data breakpoint's identity, as dataBreakpointInfo hands it out (dataId is this, as JSON). */
export interface DataId {
  address: string;
  size: number;
  expression: string;
  /** gdb's type of the expression, so that the watchpoint reports typed old and new values. */
  type?: string;
}

export const EXCEPTION_FILTERS: DebugProtocol.ExceptionBreakpointsFilter[] = [
  { filter: 'panic', label: 'Kernel panic', description: 'Stop where the guest kernel panics (a breakpoint on panic())', default: true },
];

/** Functions that report a panic, by kernel: the first that exists in the symbols is used. */
const PANIC_FUNCTIONS = ['panic'];

export class BreakpointManager {
  private readonly byNumber = new Map<number, Managed>();
  private nextId = 1;

  /** Set once the guest is known to load code later (Linux modules): a location no symbols have yet then waits, pending. */
  private pendingAllowed = false;

  constructor(
    private readonly gdb: Gdb,
    private readonly log: (line: string) => void = () => undefined,
    /** A breakpoint's locations changed (gdb resolved a pending one, or lost its module's code): the DAP `breakpoint` event. */
    private readonly changed: (bp: DebugProtocol.Breakpoint) => void = () => undefined,
  ) {
    gdb.onNotify((rec) => {
      const b = rec.asyncClass === 'breakpoint-modified' ? miTuple(rec.results, 'bkpt') : undefined;
      if (b) this.onModified(breakpointOf(b));
    });
  }

  /** From now on a source or function breakpoint gdb finds no code for is kept pending (Linux: a module's code, before its load). */
  allowPending(): void {
    this.pendingAllowed = true;
  }

  /**
   * Whether a source or function breakpoint waits for code (pending) or lies in one of the given
   * ranges (the loaded modules'): it then has to follow a module to its other loads.
   */
  followsModules(ranges: ReadonlyArray<{ start: bigint; end: bigint }>): boolean {
    return [...this.byNumber.values()].some((m) => (m.kind === 'source' || m.kind === 'function') && (m.addresses.length === 0 || m.addresses.some((a) => ranges.some((r) => a >= r.start && a < r.end))));
  }

  lookup(gdbNumber: number): { kind: BreakpointKind; dapId: number; label?: string } | undefined {
    const m = this.byNumber.get(gdbNumber);
    return m ? { kind: m.kind, dapId: m.dapId, ...(m.label ? { label: m.label } : {}) } : undefined;
  }

  /** Addresses of the breakpoints that simply stop (no logpoints, no hit conditions): reverse steps stop at them too. */
  stoppingAddresses(): bigint[] {
    const out: bigint[] = [];
    for (const m of this.byNumber.values()) if (m.kind !== 'data' && !m.logMessage && !m.hitCondition) out.push(...m.addresses);
    return out;
  }

  /** DAP ids of the breakpoints at a code address. */
  idsAt(address: bigint): number[] {
    return [...this.byNumber.values()].filter((m) => m.kind !== 'data' && m.addresses.includes(address)).map((m) => m.dapId);
  }

  /** gdb numbers of the breakpoints that do not simply stop: disabled while stepping (a step must not resume from inside a callee). */
  countingNumbers(): number[] {
    return [...this.byNumber.values()].filter((m) => m.logMessage || m.hitCondition).map((m) => m.gdbNumber);
  }

  async setSourceBreakpoints(path: string, bps: DebugProtocol.SourceBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    await this.remove((m) => m.kind === 'source' && m.path === path);
    const out: DebugProtocol.Breakpoint[] = [];
    for (const bp of bps) {
      out.push(await this.insert('source', `${path}:${bp.line}`, bp, path));
    }
    return out;
  }

  async setFunctionBreakpoints(bps: DebugProtocol.FunctionBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    await this.remove((m) => m.kind === 'function');
    const out: DebugProtocol.Breakpoint[] = [];
    for (const bp of bps) out.push(await this.insert('function', bp.name, bp));
    return out;
  }

  async setInstructionBreakpoints(bps: DebugProtocol.InstructionBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    await this.remove((m) => m.kind === 'instruction');
    const out: DebugProtocol.Breakpoint[] = [];
    for (const bp of bps) {
      let address: bigint;
      try {
        address = BigInt(bp.instructionReference) + BigInt(bp.offset ?? 0);
      } catch {
        out.push({ verified: false, message: `"${bp.instructionReference}" is not an address` });
        continue;
      }
      out.push(await this.insert('instruction', `*0x${address.toString(16)}`, bp));
    }
    return out;
  }

  async setExceptionFilters(filters: string[]): Promise<void> {
    await this.remove((m) => m.kind === 'exception');
    if (!filters.includes('panic')) return;
    for (const fn of PANIC_FUNCTIONS) {
      const r = await this.insert('exception', fn, {});
      if (r.verified) return;
    }
    this.log('no panic function in the symbols: the "Kernel panic" filter has nothing to stop at');
  }

  async setDataBreakpoints(bps: DebugProtocol.DataBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    await this.remove((m) => m.kind === 'data');
    const out: DebugProtocol.Breakpoint[] = [];
    for (const bp of bps) {
      let id: DataId;
      try {
        id = JSON.parse(bp.dataId) as DataId;
        if (typeof id.address !== 'string' || typeof id.size !== 'number') throw new Error('shape');
      } catch {
        out.push({ verified: false, message: `unknown dataId ${bp.dataId}: ask dataBreakpointInfo for one` });
        continue;
      }
      const access: WatchAccess = bp.accessType === 'read' ? 'read' : bp.accessType === 'readWrite' ? 'readWrite' : 'write';
      // A fixed address, so the watchpoint outlives the scope of the expression it came from.
      const expr = id.type && !id.type.includes('(') ? `*(${id.type} *) ${id.address}` : `{char[${id.size}]} ${id.address}`;
      try {
        const w = await breakWatch(this.gdb, expr, access);
        if (bp.condition) await this.gdb.send(`-break-condition ${w.number} ${bp.condition}`);
        const dapId = this.nextId++;
        this.byNumber.set(w.number, { gdbNumber: w.number, dapId, kind: 'data', addresses: [BigInt(id.address)], hits: 0, label: id.expression, ...hitConditionOf(bp.hitCondition) });
        out.push({ id: dapId, verified: true, message: `${access === 'write' ? 'write' : access === 'read' ? 'read' : 'access'} watchpoint on ${id.expression} (${id.size} bytes at ${id.address})` });
      } catch (e) {
        out.push({ verified: false, message: (e as Error).message });
      }
    }
    return out;
  }

  /** A hit of gdb breakpoint `n`: counts it; says whether to stop and what to log. */
  async onHit(n: number, frame: { thread: number; level: number } | undefined): Promise<HitDecision | undefined> {
    const m = this.byNumber.get(n);
    if (!m) return undefined;
    m.hits++;
    const base = { kind: m.kind, dapId: m.dapId };
    if (m.hitCondition && !m.hitCondition(m.hits)) return { ...base, stop: false };
    if (m.logMessage !== undefined) return { ...base, stop: false, log: await this.interpolate(m.logMessage, frame) };
    return { ...base, stop: true };
  }

  /** Enables or disables, in gdb, the breakpoints that do not simply stop. */
  async setCountingEnabled(enabled: boolean): Promise<void> {
    const nums = this.countingNumbers();
    if (nums.length > 0) await this.gdb.send(`-break-${enabled ? 'enable' : 'disable'} ${nums.join(' ')}`);
  }

  private async insert(kind: BreakpointKind, location: string, bp: { condition?: string; hitCondition?: string; logMessage?: string }, path?: string): Promise<DebugProtocol.Breakpoint> {
    const hit = hitConditionOf(bp.hitCondition);
    if (bp.hitCondition && !hit.hitCondition) {
      return { verified: false, message: `hit condition "${bp.hitCondition}" is not understood: use N, = N, > N, >= N, < N, <= N or % N` };
    }
    const options = bp.condition ? { condition: bp.condition } : {};
    let b: Breakpoint;
    let unresolved: string | undefined;
    try {
      try {
        b = await breakInsert(this.gdb, location, options);
      } catch (e) {
        if (!this.pendingAllowed || (kind !== 'source' && kind !== 'function') || !UNKNOWN_LOCATION.test(messageOf(e))) throw e;
        b = await breakInsert(this.gdb, location, { ...options, pending: true });
        unresolved = messageOf(e).replace(/\.$/, '');
      }
    } catch (e) {
      return { verified: false, message: (e as Error).message };
    }
    const dapId = this.nextId++;
    this.byNumber.set(b.number, {
      gdbNumber: b.number,
      dapId,
      kind,
      addresses: addressesOf(b),
      hits: 0,
      ...hit,
      ...(bp.logMessage !== undefined ? { logMessage: bp.logMessage } : {}),
      ...(path ? { path } : {}),
      ...(unresolved !== undefined ? { unresolved } : {}),
    });
    return dapBreakpoint(dapId, b, unresolved);
  }

  /** gdb changed a breakpoint (a module's symbols came or went): a DAP `breakpoint` event when its code addresses changed. */
  private onModified(b: Breakpoint): void {
    const m = this.byNumber.get(b.number);
    if (!m || m.kind === 'data') return;
    const addresses = addressesOf(b);
    // A hit changes gdb's hit count too: no event for that.
    if (addresses.length === m.addresses.length && addresses.every((a, i) => a === m.addresses[i])) return;
    m.addresses = addresses;
    this.changed(dapBreakpoint(m.dapId, b, m.unresolved ?? 'no code for it is loaded at this time point'));
  }

  private async remove(which: (m: Managed) => boolean): Promise<void> {
    const gone = [...this.byNumber.values()].filter(which);
    for (const m of gone) this.byNumber.delete(m.gdbNumber);
    await breakDelete(
      this.gdb,
      gone.map((m) => m.gdbNumber),
    ).catch((e) => this.log(`deleting breakpoints: ${(e as Error).message}`));
  }

  /** "x is {x}, y is {p->y}": each {expression} evaluated in the stopped frame. */
  private async interpolate(message: string, frame: { thread: number; level: number } | undefined): Promise<string> {
    const parts = message.split(/(\{[^{}]*\})/);
    const out: string[] = [];
    for (const p of parts) {
      if (p.startsWith('{') && p.endsWith('}') && p.length > 2) {
        try {
          out.push(await evaluate(this.gdb, p.slice(1, -1), frame));
        } catch (e) {
          out.push(`<${(e as Error).message}>`);
        }
      } else out.push(p);
    }
    return out.join('');
  }
}

/** gdb's errors for a location no loaded symbols have (a module's code before its load). */
const UNKNOWN_LOCATION = /^No source file named |^Function ".*" not defined|^No symbol table is loaded/;

function addressesOf(b: Breakpoint): bigint[] {
  return b.locations.map((l) => l.address).filter((a): a is string => !!a && /^0x/.test(a)).map((a) => BigInt(a));
}

/** A gdb breakpoint as DAP shows it; `unresolved`: why a pending one has no code yet. */
function dapBreakpoint(dapId: number, b: Breakpoint, unresolved?: string): DebugProtocol.Breakpoint {
  const loc = b.locations[0];
  const result: DebugProtocol.Breakpoint = { id: dapId, verified: b.locations.length > 0 };
  if (loc?.line !== undefined) result.line = loc.line;
  if (loc?.fullname) result.source = { name: loc.file ?? loc.fullname, path: loc.fullname };
  if (loc?.address) result.instructionReference = loc.address;
  if (b.locations.length > 1) result.message = `${b.locations.length} locations`;
  if (b.locations.length === 0 && unresolved !== undefined) result.message = `pending: ${unresolved}. It applies where a loadable module with this code is loaded, in every load of the recording`;
  return result;
}

/** DAP hit conditions: "5" or "== 5" (the 5th hit), "> 5", ">= 5", "< 5", "<= 5", "% 5" (every 5th). */
export function hitConditionOf(text: string | undefined): { hitCondition?: (hits: number) => boolean } {
  if (text === undefined || text.trim() === '') return {};
  const m = /^\s*(==|=|>=|<=|>|<|%)?\s*(\d+)\s*$/.exec(text);
  if (!m) return {};
  const n = Number(m[2]);
  const op = m[1] ?? '==';
  const test: Record<string, (h: number) => boolean> = {
    '==': (h) => h === n,
    '=': (h) => h === n,
    '>': (h) => h > n,
    '>=': (h) => h >= n,
    '<': (h) => h < n,
    '<=': (h) => h <= n,
    '%': (h) => n > 0 && h % n === 0,
  };
  return { hitCondition: test[op]! };
}

/** For errors when a data breakpoint cannot be had for an expression. */
export function noDataBreakpoint(expression: string, why: string): AdapterError {
  return new AdapterError(`no data breakpoint for "${expression}": ${why}`, ErrorId.user);
}
