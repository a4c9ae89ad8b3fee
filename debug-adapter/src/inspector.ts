/**
 * Inspection of the stopped guest through gdb: threads (one per vCPU), stacks, scopes (arguments,
 * locals, registers with the control registers, globals of the compilation unit), structured
 * variables (gdb variable objects), and expressions. Every handle it gives out (frame ids,
 * variablesReference) is valid until the next stop: reset() drops them and gdb's variable objects.
 */
import { Handles, Scope, Source, StackFrame, Thread, Variable } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { basename } from 'node:path';
import { AdapterError, ErrorId } from './errors';
import type { Gdb } from './mi/gdb';
import { evaluate, stackListFrames, stackListVariables, threadInfo, varCreate, varDelete, varListChildren, type FrameRef, type VarObject } from './mi/commands';
import { miQuote } from './mi/gdb';
import { miList, miString, miTupleList } from './mi/parser';

type Ref =
  | { kind: 'scope'; scope: 'locals' | 'args' | 'registers' | 'globals'; frame: FrameRef }
  | { kind: 'registerGroup'; group: RegisterGroup; frame: FrameRef }
  | { kind: 'varobj'; name: string; evaluateName?: string; type?: string; frame?: FrameRef }
  | { kind: 'extra'; provider: string; frame: FrameRef }
  | { kind: 'lazy'; expression: string; frame: FrameRef };

type RegisterGroup = 'general' | 'segment' | 'control' | 'fpu' | 'vector' | 'other';

const REGISTER_GROUPS: Array<{ group: RegisterGroup; label: string; test: (name: string) => boolean }> = [
  { group: 'general', label: 'General', test: (n) => /^(r[a-d]x|r[sd]i|r[sb]p|r\d+|rip|eflags|e[a-d]x|e[sd]i|e[sb]p|eip)$/.test(n) },
  { group: 'segment', label: 'Segment', test: (n) => /^([cdefgs]s|fs_base|gs_base|k_gs_base)$/.test(n) },
  { group: 'control', label: 'Control', test: (n) => /^(cr\d|efer)$/.test(n) },
  { group: 'fpu', label: 'x87', test: (n) => /^(st\d|f(ctrl|stat|tag|iseg|ioff|oseg|ooff|op))$/.test(n) },
  { group: 'vector', label: 'SSE', test: (n) => /^(xmm\d+|ymm\d+|mxcsr)$/.test(n) },
];

/** Extra scopes (e.g. Linux's) that other modules contribute. */
export interface ScopeProvider {
  name: string;
  /** Whether this scope applies at this frame (`top`: the frame shown on top of its thread's stack). */
  applies(frame: FrameRef, top: boolean): boolean;
  variables(frame: FrameRef, signal?: AbortSignal, helpers?: ScopeHelpers): Promise<DebugProtocol.Variable[]>;
}

/** What the inspector lends scope providers. */
export interface ScopeHelpers {
  /** A variable showing a C expression, expandable when it is a structure, an array or a pointer (a gdb variable object). */
  expression(name: string, expression: string): Promise<DebugProtocol.Variable>;
  /**
   * An expandable variable whose gdb variable object is made only when it is expanded: gdb's first
   * variable object of a struct type can take seconds (it prints the type's name, and looks that
   * name up everywhere). `value` and `type` are shown until then.
   */
  expandable(name: string, value: string, type: string, expression: string): DebugProtocol.Variable;
}

/** Names threads (vCPUs) after what runs on them; names it leaves out keep the default. */
export type ThreadNamer = (threads: Array<{ id: number; name: string }>, signal?: AbortSignal) => Promise<Map<number, string>>;

export class Inspector {
  private refs = new Handles<Ref>();
  private frames = new Handles<FrameRef>();
  private varobjs: string[] = [];
  private registerNames?: string[];
  private readonly providers: ScopeProvider[] = [];
  private threadNamer?: ThreadNamer;
  /** After a step: per thread, how many innermost inlined frames sit at their first instruction (hidden, as gdb does). */
  private hideInlineEntry = false;
  private readonly skipTop = new Map<number, number>();

  constructor(private readonly gdb: Gdb) {}

  addScopeProvider(p: ScopeProvider): void {
    this.providers.push(p);
  }

  setThreadNamer(namer: ThreadNamer): void {
    this.threadNamer = namer;
  }

  /** After a stop: every frame id and variablesReference given out so far becomes invalid. */
  async reset(stopReason?: string): Promise<void> {
    this.refs.reset();
    this.frames.reset();
    this.skipTop.clear();
    // A step that ends on the first instruction of an inlined call shows the call site (gdb does
    // too); a breakpoint there shows the inlined function.
    this.hideInlineEntry = stopReason === 'step';
    const names = this.varobjs.splice(0);
    for (const n of names) await varDelete(this.gdb, n).catch(() => undefined);
  }

  async threads(signal?: AbortSignal): Promise<DebugProtocol.Thread[]> {
    const info = await threadInfo(this.gdb);
    const threads = info.threads.map((t) => new Thread(t.id, threadName(t.id, t.details)));
    if (this.threadNamer) {
      const names = await this.threadNamer(threads, signal).catch(() => undefined);
      for (const t of threads) t.name = names?.get(t.id) ?? t.name;
    }
    return threads;
  }

  async stackTrace(args: DebugProtocol.StackTraceArguments, signal?: AbortSignal): Promise<DebugProtocol.StackTraceResponse['body']> {
    const start = args.startFrame ?? 0;
    const levels = args.levels && args.levels > 0 ? args.levels : 64;
    await this.checkThread(args.threadId);
    const skip = await this.inlineEntryFrames(args.threadId, signal);
    // One more than asked tells whether there are more.
    const frames = await stackListFrames(this.gdb, args.threadId, { low: start + skip, high: start + skip + levels }, signalOpt(signal));
    const shown = frames.slice(0, levels);
    const stackFrames = shown.map((f) => {
      const id = this.frames.create({ thread: args.threadId, level: f.level });
      const name = f.func ?? f.address;
      const sf = new StackFrame(id, name, f.fullname ? new Source(f.file ? basename(f.file) : basename(f.fullname), f.fullname) : undefined, f.line ?? 0, f.line ? 1 : 0);
      const dsf = sf as DebugProtocol.StackFrame;
      dsf.instructionPointerReference = f.address;
      if (f.func === '<signal handler called>') dsf.presentationHint = 'label';
      else if (!f.fullname) dsf.presentationHint = 'subtle';
      return sf;
    });
    return { stackFrames, totalFrames: frames.length > levels ? start + levels + 1 : start + shown.length };
  }

  /** The level of the frame shown on top (inlined calls' first instructions hidden after a step). */
  presentedLevel(thread: number): Promise<number> {
    return this.inlineEntryFrames(thread);
  }

  private async inlineEntryFrames(thread: number, signal?: AbortSignal): Promise<number> {
    if (!this.hideInlineEntry) return 0;
    const known = this.skipTop.get(thread);
    if (known !== undefined) return known;
    await this.gdb.send(`-thread-select ${thread}`, signalOpt(signal));
    const out = await this.gdb.console('rewind-inline-entry', signalOpt(signal)).catch(() => '');
    const skip = (JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '{"skip":0}') as { skip: number }).skip;
    this.skipTop.set(thread, skip);
    return skip;
  }

  frame(frameId: number | undefined): FrameRef | undefined {
    if (frameId === undefined) return undefined;
    const f = this.frames.get(frameId);
    if (!f) throw new AdapterError(`unknown frameId ${frameId} (frame ids are valid until the next stop; ask stackTrace again)`, ErrorId.unknownReference);
    return f;
  }

  scopes(frameId: number): DebugProtocol.Scope[] {
    const frame = this.frame(frameId)!;
    const scopes: DebugProtocol.Scope[] = [
      new Scope('Arguments', this.refs.create({ kind: 'scope', scope: 'args', frame }), false),
      new Scope('Locals', this.refs.create({ kind: 'scope', scope: 'locals', frame }), false),
    ];
    for (const p of this.providers) if (p.applies(frame, frame.level === (this.skipTop.get(frame.thread) ?? 0))) scopes.push(new Scope(p.name, this.refs.create({ kind: 'extra', provider: p.name, frame }), false));
    const regs = new Scope('Registers', this.refs.create({ kind: 'scope', scope: 'registers', frame }), false);
    (regs as DebugProtocol.Scope).presentationHint = 'registers';
    scopes.push(regs);
    scopes.push(new Scope('Globals', this.refs.create({ kind: 'scope', scope: 'globals', frame }), true));
    return scopes;
  }

  async variables(args: DebugProtocol.VariablesArguments, signal?: AbortSignal): Promise<DebugProtocol.Variable[]> {
    const ref = this.refs.get(args.variablesReference);
    if (!ref) throw new AdapterError(`unknown variablesReference ${args.variablesReference} (references are valid until the next stop)`, ErrorId.unknownReference);
    const opts: ShowOptions = { ...signalOpt(signal), ...(args.format?.hex ? { hex: true } : {}) };
    switch (ref.kind) {
      case 'scope':
        if (ref.scope === 'registers') return this.registers(ref.frame, undefined, opts);
        if (ref.scope === 'globals') return this.globals(ref.frame, opts);
        return this.frameVariables(ref.frame, ref.scope === 'args', opts);
      case 'registerGroup':
        return this.registers(ref.frame, ref.group, opts);
      case 'varobj':
        return this.children(ref, args, opts);
      case 'lazy': {
        const o = await varCreate(this.gdb, ref.expression, ref.frame, opts);
        this.varobjs.push(o.name);
        return this.children({ kind: 'varobj', name: o.name, evaluateName: ref.expression, ...(o.type ? { type: o.type } : {}), frame: ref.frame }, args, opts);
      }
      case 'extra': {
        const p = this.providers.find((x) => x.name === ref.provider);
        const helpers: ScopeHelpers = {
          expression: (name, expression) => this.varobjVariable(name, expression, ref.frame, opts),
          expandable: (name, value, type, expression) => {
            const v = new Variable(name, value, this.refs.create({ kind: 'lazy', expression, frame: ref.frame })) as DebugProtocol.Variable;
            v.type = type;
            v.evaluateName = expression;
            return v;
          },
        };
        return p ? p.variables(ref.frame, signal, helpers) : [];
      }
    }
  }

  /**
   * Evaluates a C expression as a variable object, so that structures and arrays can be expanded.
   * Errors are gdb's own ("No symbol "x" in current context.").
   */
  async evaluate(expression: string, frame: FrameRef | undefined, signal?: AbortSignal, format?: DebugProtocol.ValueFormat): Promise<DebugProtocol.EvaluateResponse['body']> {
    const opts: ShowOptions = { ...signalOpt(signal), ...(format?.hex ? { hex: true } : {}) };
    const v = await varCreate(this.gdb, expression, frame, opts);
    this.varobjs.push(v.name);
    return {
      result: await this.shownValue(v, expression, frame, opts),
      ...(v.type ? { type: v.type } : {}),
      variablesReference: v.numchild > 0 || v.hasMore ? this.refs.create({ kind: 'varobj', name: v.name, evaluateName: expression, ...(v.type ? { type: v.type } : {}), ...(frame ? { frame } : {}) }) : 0,
      ...(memoryReferenceOf(v.value, v.type) ? { memoryReference: memoryReferenceOf(v.value, v.type)! } : {}),
    };
  }

  /** The full C expression of a child in the Variables view (for watch, data breakpoints, last write). */
  async expressionOf(variablesReference: number, name: string): Promise<{ expression: string; frame?: FrameRef }> {
    const ref = this.refs.get(variablesReference);
    if (!ref) throw new AdapterError(`unknown variablesReference ${variablesReference}`, ErrorId.unknownReference);
    if (ref.kind === 'scope' && (ref.scope === 'locals' || ref.scope === 'args' || ref.scope === 'globals')) return { expression: name, frame: ref.frame };
    if (ref.kind === 'registerGroup' || (ref.kind === 'scope' && ref.scope === 'registers')) return { expression: `$${name}`, frame: ref.frame };
    if (ref.kind === 'varobj') {
      const children = await varListChildren(this.gdb, ref.name);
      const child = children.find((c) => displayName(c, ref.evaluateName) === name || c.exp === name);
      if (!child) throw new AdapterError(`no child "${name}" of ${ref.evaluateName ?? ref.name}`, ErrorId.unknownReference);
      const r = await this.gdb.send(`-var-info-path-expression ${child.name}`);
      return { expression: miString(r.results, 'path_expr') ?? name, ...(ref.frame ? { frame: ref.frame } : {}) };
    }
    if (ref.kind === 'lazy') return { expression: `${ref.expression}->${name}`, frame: ref.frame };
    throw new AdapterError(`"${name}" has no address`, ErrorId.unknownReference);
  }

  private async checkThread(threadId: number): Promise<void> {
    const ids = (await threadInfo(this.gdb)).threads.map((t) => t.id);
    if (!ids.includes(threadId)) throw new AdapterError(`unknown threadId ${threadId}; the guest's vCPUs are threads ${ids.join(', ')}`, ErrorId.unknownReference);
  }

  private async frameVariables(frame: FrameRef, args: boolean, opts: ShowOptions): Promise<DebugProtocol.Variable[]> {
    const vars = (await stackListVariables(this.gdb, frame, opts)).filter((v) => v.isArg === args);
    const out: DebugProtocol.Variable[] = [];
    for (const v of vars) {
      // Plain values as gdb listed them; in hex, and for aggregates, through a variable object.
      if (v.value !== undefined && !opts.hex) {
        const variable = new Variable(v.name, v.value) as DebugProtocol.Variable;
        variable.evaluateName = v.name;
        if (v.type) variable.type = v.type;
        const mem = memoryReferenceOf(v.value, v.type);
        if (mem) variable.memoryReference = mem;
        out.push(variable);
      } else {
        out.push(await this.varobjVariable(v.name, v.name, frame, opts));
      }
    }
    return out;
  }

  private async varobjVariable(name: string, expression: string, frame: FrameRef | undefined, opts: ShowOptions): Promise<DebugProtocol.Variable> {
    try {
      const o = await varCreate(this.gdb, expression, frame, opts);
      this.varobjs.push(o.name);
      const ref = o.numchild > 0 || o.hasMore ? this.refs.create({ kind: 'varobj', name: o.name, evaluateName: expression, ...(o.type ? { type: o.type } : {}), ...(frame ? { frame } : {}) }) : 0;
      const v = new Variable(name, await this.shownValue(o, expression, frame, opts), ref) as DebugProtocol.Variable;
      v.evaluateName = expression;
      if (o.type) v.type = o.type;
      return v;
    } catch (e) {
      return new Variable(name, `<${(e as Error).message}>`);
    }
  }

  private async children(ref: Extract<Ref, { kind: 'varobj' }>, args: DebugProtocol.VariablesArguments, opts: ShowOptions): Promise<DebugProtocol.Variable[]> {
    let children = await varListChildren(this.gdb, ref.name, opts);
    if (args.start !== undefined || args.count !== undefined) children = children.slice(args.start ?? 0, (args.start ?? 0) + (args.count ?? children.length));
    const values = new Map<string, string>();
    for (const c of children) if (needsOwnValue(c, opts)) values.set(c.name, await this.shownValue(c, undefined, ref.frame, opts));
    return children.map((c) => {
      const name = displayName(c, ref.evaluateName);
      const expr = childExpression(ref.evaluateName, ref.type, c);
      const childRef =
        c.numchild > 0 || c.hasMore
          ? this.refs.create({ kind: 'varobj', name: c.name, ...(expr ? { evaluateName: expr } : {}), ...(c.type ? { type: c.type } : {}), ...(ref.frame ? { frame: ref.frame } : {}) })
          : 0;
      const v = new Variable(name, values.get(c.name) ?? c.value ?? (c.numchild > 0 ? `{...}` : ''), childRef) as DebugProtocol.Variable;
      if (c.type) v.type = c.type;
      if (expr) v.evaluateName = expr;
      const mem = memoryReferenceOf(c.value, c.type);
      if (mem) v.memoryReference = mem;
      if (childRef && c.numchild > 100) v.indexedVariables = c.numchild;
      return v;
    });
  }

  private async registers(frame: FrameRef, group: RegisterGroup | undefined, opts: { signal?: AbortSignal }): Promise<DebugProtocol.Variable[]> {
    if (!this.registerNames) {
      const r = await this.gdb.send('-data-list-register-names', opts);
      this.registerNames = (miList(r.results, 'register-names') ?? []).map((n) => (typeof n === 'string' ? n : ''));
    }
    const names = this.registerNames;
    const groupOf = (n: string): RegisterGroup => REGISTER_GROUPS.find((g) => g.test(n))?.group ?? 'other';
    const wanted = group ?? 'general';
    const numbers = names.map((n, i) => (n && groupOf(n) === wanted ? i : -1)).filter((i) => i >= 0);
    const out: DebugProtocol.Variable[] = [];
    if (numbers.length > 0) {
      const [hexValues, natural] = await Promise.all([
        this.gdb.send(`-data-list-register-values --thread ${frame.thread} --frame ${frame.level} x ${numbers.join(' ')}`, opts),
        wanted === 'control' || wanted === 'general' || wanted === 'segment'
          ? this.gdb.send(`-data-list-register-values --thread ${frame.thread} --frame ${frame.level} N ${numbers.join(' ')}`, opts)
          : Promise.resolve(undefined),
      ]);
      const nat = new Map((miTupleList(natural?.results, 'register-values') ?? []).map((t) => [miString(t, 'number'), miString(t, 'value')]));
      for (const t of miTupleList(hexValues.results, 'register-values') ?? []) {
        const num = miString(t, 'number');
        const name = names[Number(num)] ?? `r${num}`;
        const hex = miString(t, 'value') ?? '';
        const flags = nat.get(num);
        // eflags, cr0, cr4, efer: gdb knows their bits ("[ PE ET PG ]"): show both.
        const value = flags && flags.startsWith('[') ? `${hex} ${flags}` : hex;
        const v = new Variable(name, value) as DebugProtocol.Variable;
        v.evaluateName = `$${name}`;
        if (/^0x[0-9a-f]+$/i.test(hex) && (wanted === 'general' || wanted === 'control' || wanted === 'segment')) v.memoryReference = hex;
        out.push(v);
      }
    }
    if (group === undefined) {
      for (const g of REGISTER_GROUPS.filter((x) => x.group !== 'general')) {
        if (names.some((n) => n && groupOf(n) === g.group)) {
          out.push(new Variable(g.label, '', this.refs.create({ kind: 'registerGroup', group: g.group, frame })));
        }
      }
      if (names.some((n) => n && groupOf(n) === 'other')) out.push(new Variable('Other', '', this.refs.create({ kind: 'registerGroup', group: 'other', frame })));
    }
    return out;
  }

  /**
   * A variable object's value as the user reads it: a char array as its text (gdb's print:
   * `"payload 3\n"`, where a variable object says only `[10]`), and, with `hex`, a scalar in hex.
   * `expression` is the object's C expression when the caller knows it (else gdb says it).
   */
  private async shownValue(o: VarObject, expression: string | undefined, frame: FrameRef | undefined, opts: ShowOptions): Promise<string> {
    if (!needsOwnValue(o, opts)) return o.value ?? '';
    try {
      if (isCharArray(o.type)) {
        const expr = expression ?? miString((await this.gdb.send(`-var-info-path-expression ${miQuote(o.name)}`, opts)).results, 'path_expr');
        return expr ? await evaluate(this.gdb, expr, frame, opts) : (o.value ?? '');
      }
      const r = await this.gdb.send(`-var-evaluate-expression -f hexadecimal ${miQuote(o.name)}`, opts);
      return miString(r.results, 'value') ?? o.value ?? '';
    } catch {
      return o.value ?? '';
    }
  }

  private async globals(frame: FrameRef, opts: ShowOptions): Promise<DebugProtocol.Variable[]> {
    await this.gdb.send(`-stack-select-frame --thread ${frame.thread} ${frame.level}`, opts);
    const text = await this.gdb.console('rewind-globals', opts);
    const line = text.split('\n').find((l) => l.startsWith('{'));
    if (!line) return [];
    const parsed = JSON.parse(line) as { globals: Array<{ name: string }>; truncated: boolean };
    const out: DebugProtocol.Variable[] = [];
    for (const g of parsed.globals) out.push(await this.varobjVariable(g.name, g.name, frame, opts));
    if (parsed.truncated) out.push(new Variable('…', 'more globals than shown; evaluate them by name in Watch'));
    return out;
  }
}

/** "vCPU 0 (running)" or "vCPU 1 (halted)", from QEMU's "CPU#0 [running]" / "CPU#1 [halted ]": the recorded CPU's state at this time point. */
export function threadName(id: number, details: string | undefined): string {
  const m = /CPU#(\d+)\s*\[\s*([a-z]+)\s*\]/i.exec(details ?? '');
  if (m) return `vCPU ${m[1]} (${m[2]!.toLowerCase()})`;
  return details ? `vCPU ${id - 1} (${details})` : `vCPU ${id - 1}`;
}

/** How values are shown: DAP's value format (hex) and the request's cancellation. */
interface ShowOptions {
  signal?: AbortSignal;
  hex?: boolean;
}

/** `char [16]`, `unsigned char [4]`, `const char [10]`: shown as text. */
function isCharArray(type: string | undefined): boolean {
  return type !== undefined && /^(const )?(volatile )?((un)?signed )?char \[\d+\]$/.test(type);
}

/** Whether a value must be asked for again: a char array's text, or a scalar in hex. */
function needsOwnValue(o: VarObject, opts: ShowOptions): boolean {
  if (isCharArray(o.type)) return true;
  return opts.hex === true && o.numchild === 0 && o.value !== undefined && !o.hasMore;
}

function signalOpt(signal?: AbortSignal): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

/** An array element shows as [i]; a struct member by its name. */
function displayName(c: VarObject, _parent: string | undefined): string {
  const exp = c.exp ?? c.name;
  return /^\d+$/.test(exp) ? `[${exp}]` : exp;
}

/** The C expression of a child: an element, a member, or (for a pointer parent) the pointee's member. */
function childExpression(parent: string | undefined, parentType: string | undefined, c: VarObject): string | undefined {
  if (!parent || c.exp === undefined) return undefined;
  const simple = /^[A-Za-z_][A-Za-z0-9_.]*$/.test(parent) ? parent : `(${parent})`;
  if (/^\d+$/.test(c.exp)) return `${simple}[${c.exp}]`;
  if (/^\*/.test(c.exp)) return `*${simple}`;
  return parentType && /\*\s*$/.test(parentType) ? `${simple}->${c.exp}` : `${simple}.${c.exp}`;
}

/** Pointers get a memory reference (the Memory view opens there). */
function memoryReferenceOf(value: string | undefined, type: string | undefined): string | undefined {
  if (!value || !type || !/\*\s*$/.test(type)) return undefined;
  const m = /^(?:\([^)]*\)\s*)?(0x[0-9a-f]+)/i.exec(value);
  return m?.[1];
}
