/**
 * Typed wrappers of the MI commands the debug adapter uses. Each takes a Gdb and returns plain
 * data; addresses are hex strings without leading zeros ("0x10065c"), whatever padding gdb used.
 */
import { Gdb, GdbCommandError, miQuote, SendOptions } from './gdb';
import { miInt, miString, miTuple, miTupleList, MiTuple } from './parser';

/** A frame of a thread, for the `--thread N --frame L` options. */
export interface FrameRef {
  thread: number;
  level: number;
}

export type Address = string | bigint;

function frameOpts(f: FrameRef | undefined): string {
  return f ? ` --thread ${f.thread} --frame ${f.level}` : '';
}

/** An address argument: a bigint, or any address expression (quoted). */
function addrArg(a: Address): string {
  return typeof a === 'bigint' ? `0x${a.toString(16)}` : miQuote(a);
}

/** "0x000000000010065c" -> "0x10065c"; other strings (`<MULTIPLE>`, `<PENDING>`) unchanged. */
export function normalizeAddress(s: string): string {
  return /^0x[0-9a-f]+$/i.test(s) ? `0x${BigInt(s).toString(16)}` : s;
}

function address(t: MiTuple, key: string): string | undefined {
  const s = miString(t, key);
  return s === undefined ? undefined : normalizeAddress(s);
}

/** Copies the keys that are present, so that absent ones stay absent (not `undefined`). */
function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

// ---- expressions and stacks ---------------------------------------------------------------------

/** The value of `expr` as gdb prints it, in the given frame (default: the selected one). */
export async function evaluate(gdb: Gdb, expr: string, frame?: FrameRef, opts?: SendOptions): Promise<string> {
  const r = await gdb.send(`-data-evaluate-expression${frameOpts(frame)} ${miQuote(expr)}`, opts);
  return miString(r.results, 'value') ?? '';
}

export interface Frame {
  level: number;
  address: string;
  func?: string;
  file?: string;
  fullname?: string;
  line?: number;
  /** The binary the code comes from, when gdb has no source for it. */
  from?: string;
  arch?: string;
}

function frameOf(t: MiTuple): Frame {
  return defined({
    level: miInt(t, 'level') ?? 0,
    address: address(t, 'addr') ?? '',
    func: miString(t, 'func'),
    file: miString(t, 'file'),
    fullname: miString(t, 'fullname'),
    line: miInt(t, 'line'),
    from: miString(t, 'from'),
    arch: miString(t, 'arch'),
  });
}

/** The stack of a thread (default: the selected one), innermost first; `low`/`high` limit the levels. */
export async function stackListFrames(gdb: Gdb, thread?: number, range?: { low: number; high: number }, opts?: SendOptions): Promise<Frame[]> {
  const t = thread === undefined ? '' : ` --thread ${thread}`;
  const r = await gdb.send(`-stack-list-frames${t}${range ? ` ${range.low} ${range.high}` : ''}`, opts);
  return (miTupleList(r.results, 'stack') ?? []).map(frameOf);
}

export interface Variable {
  name: string;
  isArg: boolean;
  type?: string;
  /** Only for simple types (scalars, pointers); use a variable object for the others. */
  value?: string;
}

/** Arguments and locals of a frame, with values of simple types. */
export async function stackListVariables(gdb: Gdb, frame: FrameRef, opts?: SendOptions): Promise<Variable[]> {
  const r = await gdb.send(`-stack-list-variables${frameOpts(frame)} --simple-values`, opts);
  return (miTupleList(r.results, 'variables') ?? []).map((v) =>
    defined({ name: miString(v, 'name') ?? '', isArg: miString(v, 'arg') === '1', type: miString(v, 'type'), value: miString(v, 'value') }),
  );
}

// ---- variable objects ---------------------------------------------------------------------------

export interface VarObject {
  /** gdb's name of the object ("var1", "var1.heartbeats"). */
  name: string;
  /** The child's expression relative to its parent ("heartbeats"); for a root, the expression given. */
  exp?: string;
  numchild: number;
  /** Absent for children of aggregate type (listed with --simple-values). */
  value?: string;
  type?: string;
  threadId?: number;
  /** More children than numchild (dynamic objects, pretty printers). */
  hasMore: boolean;
}

function varObjectOf(t: MiTuple): VarObject {
  return defined({
    name: miString(t, 'name') ?? '',
    exp: miString(t, 'exp'),
    numchild: miInt(t, 'numchild') ?? 0,
    value: miString(t, 'value'),
    type: miString(t, 'type'),
    threadId: miInt(t, 'thread-id'),
    hasMore: miString(t, 'has_more') === '1',
  });
}

/** A variable object for `expr` in a frame (default: the selected one), named by gdb. Delete it with varDelete(). */
export async function varCreate(gdb: Gdb, expr: string, frame?: FrameRef, opts?: SendOptions): Promise<VarObject> {
  try {
    const r = await gdb.send(`-var-create${frameOpts(frame)} - * ${miQuote(expr)}`, opts);
    return { ...varObjectOf(r.results), exp: expr };
  } catch (e) {
    // -var-create says only "unable to create variable object"; evaluating says why (it throws).
    if (e instanceof GdbCommandError && /unable to create variable object/.test(e.message)) await gdb.send(`-data-evaluate-expression${frameOpts(frame)} ${miQuote(expr)}`, opts);
    throw e;
  }
}

export async function varListChildren(gdb: Gdb, name: string, opts?: SendOptions): Promise<VarObject[]> {
  const r = await gdb.send(`-var-list-children --simple-values ${miQuote(name)}`, opts);
  return (miTupleList(r.results, 'children') ?? []).map(varObjectOf);
}

/** Deletes a variable object and its children; resolves with how many objects went. */
export async function varDelete(gdb: Gdb, name: string, opts?: SendOptions): Promise<number> {
  const r = await gdb.send(`-var-delete ${miQuote(name)}`, opts);
  return miInt(r.results, 'ndeleted') ?? 0;
}

// ---- breakpoints and watchpoints ------------------------------------------------------------------

export interface BreakpointLocation {
  /** "1" for a breakpoint with one location, "1.2" for the second of several. */
  number: string;
  enabled: boolean;
  address?: string;
  func?: string;
  file?: string;
  fullname?: string;
  line?: number;
}

export interface Breakpoint {
  number: number;
  /** "breakpoint", "hw breakpoint". */
  type: string;
  temporary: boolean;
  condition?: string;
  /** One per address; several for inlined functions, templates, or lines in several functions. */
  locations: BreakpointLocation[];
}

function locationOf(t: MiTuple, number: string): BreakpointLocation {
  return defined({
    number: miString(t, 'number') ?? number,
    enabled: miString(t, 'enabled') !== 'n',
    address: address(t, 'addr'),
    func: miString(t, 'func'),
    file: miString(t, 'file'),
    fullname: miString(t, 'fullname'),
    line: miInt(t, 'line'),
  });
}

/** Parses a `bkpt` tuple; MI3 lists the locations of a multi-location breakpoint in `locations`. */
export function breakpointOf(b: MiTuple): Breakpoint {
  const number = miString(b, 'number') ?? '0';
  const many = miTupleList(b, 'locations');
  const pending = miString(b, 'addr') === '<PENDING>';
  return defined({
    number: Number(number),
    type: miString(b, 'type') ?? 'breakpoint',
    temporary: miString(b, 'disp') === 'del',
    condition: miString(b, 'cond'),
    locations: many ? many.map((l) => locationOf(l, number)) : pending ? [] : [locationOf(b, number)],
  });
}

export interface BreakInsertOptions {
  condition?: string;
  hardware?: boolean;
  temporary?: boolean;
  /** A location gdb does not know (yet) makes a pending breakpoint, resolved when symbols that have it are loaded. */
  pending?: boolean;
}

/** Inserts a breakpoint at a location (`file:line`, `func`, `*ADDR`); no target needed. Fails when the location is unknown. */
export async function breakInsert(gdb: Gdb, location: string, o: BreakInsertOptions = {}, opts?: SendOptions): Promise<Breakpoint> {
  let cmd = '-break-insert';
  if (o.temporary) cmd += ' -t';
  if (o.hardware) cmd += ' -h';
  if (o.pending) cmd += ' -f';
  if (o.condition !== undefined) cmd += ` -c ${miQuote(o.condition)}`;
  const r = await gdb.send(`${cmd} ${miQuote(location)}`, opts);
  const b = miTuple(r.results, 'bkpt');
  if (!b) throw new GdbCommandError(cmd, `unexpected answer to -break-insert: no bkpt`);
  return breakpointOf(b);
}

export async function breakDelete(gdb: Gdb, numbers: number | number[], opts?: SendOptions): Promise<void> {
  const list = Array.isArray(numbers) ? numbers : [numbers];
  if (list.length === 0) return;
  await gdb.send(`-break-delete ${list.join(' ')}`, opts);
}

export type WatchAccess = 'write' | 'read' | 'readWrite';

export interface Watchpoint {
  number: number;
  expression: string;
  access: WatchAccess;
}

/** A watchpoint on an lvalue expression. Read and access watchpoints need hardware support (a target that has it). */
export async function breakWatch(gdb: Gdb, expr: string, access: WatchAccess, opts?: SendOptions): Promise<Watchpoint> {
  const flag = access === 'read' ? ' -r' : access === 'readWrite' ? ' -a' : '';
  const r = await gdb.send(`-break-watch${flag} ${miQuote(expr)}`, opts);
  // wpt (write, software or hardware), hw-rwpt (read), hw-awpt (access)
  const w = miTuple(r.results, 'wpt') ?? miTuple(r.results, 'hw-rwpt') ?? miTuple(r.results, 'hw-awpt');
  return { number: miInt(w, 'number') ?? 0, expression: miString(w, 'exp') ?? expr, access };
}

// ---- code and memory ----------------------------------------------------------------------------

export interface Instruction {
  address: string;
  /** Function and offset in it, when there is a symbol. */
  func?: string;
  offset?: number;
  /** Raw bytes, hex pairs separated by spaces ("48 89 e5"). */
  opcodes?: string;
  /** The instruction text ("mov    %rsp,%rbp"). */
  inst: string;
  /** The source line the instruction belongs to, when there is line information. */
  file?: string;
  fullname?: string;
  line?: number;
}

function instructionOf(t: MiTuple, src: { file?: string; fullname?: string; line?: number }): Instruction {
  return defined({
    address: address(t, 'address') ?? '',
    func: miString(t, 'func-name'),
    offset: miInt(t, 'offset'),
    opcodes: miString(t, 'opcodes'),
    inst: miString(t, 'inst') ?? '',
    ...src,
  });
}

/** The instructions in [start, end), each with its source line (mode 5: source-centric order off, raw opcodes on). */
export async function disassemble(gdb: Gdb, start: Address, end: Address, opts?: SendOptions): Promise<Instruction[]> {
  const r = await gdb.send(`-data-disassemble -s ${addrArg(start)} -e ${addrArg(end)} -- 5`, opts);
  const out: Instruction[] = [];
  for (const item of miTupleList(r.results, 'asm_insns') ?? []) {
    const insns = miTupleList(item, 'line_asm_insn');
    if (insns) {
      // src_and_asm_line={line,file,fullname,line_asm_insn=[...]}; may hold no instructions
      const src = defined({ file: miString(item, 'file'), fullname: miString(item, 'fullname'), line: miInt(item, 'line') });
      for (const i of insns) out.push(instructionOf(i, src));
    } else if (miString(item, 'address') !== undefined) {
      out.push(instructionOf(item, {}));
    }
  }
  return out;
}

export interface MemoryBlock {
  address: string;
  /** Where the block starts, relative to the address asked for. */
  offset: number;
  data: Buffer;
}

/** Reads `count` bytes; unreadable parts are left out, so the blocks may cover less than asked. */
export async function readMemory(gdb: Gdb, addr: Address, count: number, opts?: SendOptions): Promise<MemoryBlock[]> {
  const r = await gdb.send(`-data-read-memory-bytes ${addrArg(addr)} ${count}`, opts);
  return (miTupleList(r.results, 'memory') ?? []).map((m) => ({
    address: address(m, 'begin') ?? '',
    offset: Number(BigInt(miString(m, 'offset') ?? '0')),
    data: Buffer.from(miString(m, 'contents') ?? '', 'hex'),
  }));
}

// ---- symbols ------------------------------------------------------------------------------------

export interface LineRange {
  file: string;
  fullname: string;
  line: number;
  /** [start, end): the addresses of the line's code. */
  start: string;
  end: string;
  /** The innermost function (an inlined one, if the code was inlined). */
  func?: string;
}

/*
 * `info line` and `-symbol-list-lines` both fall short: `info line FILE:LINE` prints only the first
 * address range of a line that has several (a loop condition, say), and -symbol-list-lines reads
 * one symbol table only (a header is in many). gdb's Python API has what is needed: the line table
 * of every symbol table the location resolves to, and find_pc_line() for each range's true end.
 * Python's LineTable.line(n) returns only is_stmt entries, hence the walk over the whole table.
 */
const INFO_LINE_PY = `
import gdb, json
def _rewind_info_line(spec):
    def func(pc):
        try:
            b = gdb.block_for_pc(pc)
        except RuntimeError:
            return None
        while b is not None and b.function is None:
            b = b.superblock
        return b.function.name if b is not None else None
    def entry(s, pc):
        return {"file": s.symtab.filename, "fullname": s.symtab.fullname(), "line": s.line,
                "start": s.pc, "end": s.last + 1, "func": func(pc)}
    try:
        sals = gdb.decode_line(spec)[1] or ()
        out = []
        if spec.lstrip().startswith("*"):
            for sal in sals:
                s = gdb.find_pc_line(sal.pc)
                if s.symtab is not None and s.last is not None:
                    out.append(entry(s, sal.pc))
        else:
            seen = set()
            for sal in sals:
                st = sal.symtab
                if st is None:
                    continue
                key = (st.fullname(), st.static_block().start, sal.line)
                if key in seen:
                    continue
                seen.add(key)
                for e in st.linetable():
                    if e.line != sal.line:
                        continue
                    s = gdb.find_pc_line(e.pc)
                    if s.symtab is None or s.last is None or s.line != sal.line or s.symtab.fullname() != st.fullname():
                        continue
                    out.append(entry(s, s.pc))
        out.sort(key=lambda r: r["start"])
        merged = []
        for r in out:
            p = merged[-1] if merged else None
            if p and p["fullname"] == r["fullname"] and p["line"] == r["line"] and p["func"] == r["func"] and r["start"] <= p["end"]:
                p["end"] = max(p["end"], r["end"])
            else:
                merged.append(r)
        for r in merged:
            r["start"] = hex(r["start"])
            r["end"] = hex(r["end"])
        print(json.dumps({"ranges": merged}))
    except gdb.error as e:
        print(json.dumps({"error": str(e)}))
`;

/**
 * The code of a source location. For `FILE:LINE` (or a function): every address range of that
 * line, in every symbol table it resolves to; a line without code of its own gives [].
 * For `*ADDR`: the one line range that contains ADDR, or [] when there is no line information.
 * Needs gdb's Python (Debian's gdb package has it).
 */
export async function symbolInfoLine(gdb: Gdb, location: string, opts?: SendOptions): Promise<LineRange[]> {
  const py = `${INFO_LINE_PY}\n_rewind_info_line(${JSON.stringify(location)})\n`;
  const cli = `python exec(${JSON.stringify(py)})`; // a JSON string literal is a valid Python one
  let out: string;
  try {
    out = await gdb.console(cli, opts);
  } catch (e) {
    if (e instanceof GdbCommandError && /Python scripting is not supported/.test(e.message)) {
      throw new GdbCommandError('symbolInfoLine', `this gdb has no Python, which source line lookups need: install Debian's gdb package (apt-get install gdb)`);
    }
    throw e;
  }
  const json = out.trim().split('\n').pop() ?? '';
  const parsed = JSON.parse(json) as { ranges?: LineRange[]; error?: string };
  if (parsed.error !== undefined) throw new GdbCommandError(`symbolInfoLine ${location}`, parsed.error);
  return (parsed.ranges ?? []).map((r) => (r.func === null ? { ...r, func: undefined } : r)).map(defined);
}

export interface SourceFile {
  file: string;
  fullname: string;
}

/** The source files of the program's debug information, each once (by full name). */
export async function listSourceFiles(gdb: Gdb, opts?: SendOptions): Promise<SourceFile[]> {
  const r = await gdb.send('-file-list-exec-source-files', opts);
  const seen = new Set<string>();
  const out: SourceFile[] = [];
  for (const f of miTupleList(r.results, 'files') ?? []) {
    const file = miString(f, 'file');
    const fullname = miString(f, 'fullname') ?? file;
    if (file === undefined || fullname === undefined || seen.has(fullname)) continue;
    seen.add(fullname);
    out.push({ file, fullname });
  }
  return out;
}

// ---- threads ------------------------------------------------------------------------------------

export interface ThreadInfo {
  id: number;
  /** "Thread 1.1" (QEMU: one thread per virtual CPU). */
  targetId: string;
  name?: string;
  details?: string;
  state: 'stopped' | 'running';
  frame?: Frame;
  core?: number;
}

/** All threads (or one). Fails while the target runs, for remote targets like QEMU's. */
export async function threadInfo(gdb: Gdb, thread?: number, opts?: SendOptions): Promise<{ threads: ThreadInfo[]; currentThreadId?: number }> {
  const r = await gdb.send(`-thread-info${thread === undefined ? '' : ` ${thread}`}`, opts);
  const threads = (miTupleList(r.results, 'threads') ?? []).map((t) => {
    const frame = miTuple(t, 'frame');
    return defined<ThreadInfo>({
      id: miInt(t, 'id') ?? 0,
      targetId: miString(t, 'target-id') ?? '',
      name: miString(t, 'name'),
      details: miString(t, 'details'),
      state: miString(t, 'state') === 'running' ? 'running' : 'stopped',
      frame: frame ? frameOf(frame) : undefined,
      core: miInt(t, 'core'),
    });
  });
  return defined({ threads, currentThreadId: miInt(r.results, 'current-thread-id') });
}
