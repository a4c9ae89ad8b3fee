/**
 * gdb-side helpers, in gdb's embedded Python: the adapter asks gdb for facts that GDB/MI does not
 * give in one round trip (a frame's function range, its line starts, its CFA; every address of a
 * source line; the globals of a compilation unit). Each command prints one line of JSON.
 *
 * The source is kept here, as a string, so that it ships inside the bundled adapter; it is written
 * to the session's private folder and `source`d once when gdb starts. Linux's helpers
 * (linux/linux-gdb-python.ts) are appended to it.
 */
import { LINUX_GDB_PYTHON } from './linux/linux-gdb-python';
import { LINUX_MODULES_PYTHON } from './linux/linux-modules-python';
import { LINUX_TASK_STACK_PYTHON } from './linux/linux-task-stack-python';
import { LINUX_TASKS_PYTHON } from './linux/linux-tasks-python';
import { SOURCE_FACTS_PYTHON } from './source-facts';

export const GDB_PYTHON_HELPERS = String.raw`
import gdb
import json

def _emit(value):
    gdb.write(json.dumps(value) + "\n")

def _function_block(block):
    """The innermost block that is a function (an inlined function's block counts)."""
    while block is not None and block.function is None:
        block = block.superblock
    return block

def _same_block(a, b):
    return a is not None and b is not None and a.start == b.start and a.end == b.end and a.function.print_name == b.function.print_name

def _parent_function(block):
    """The function block (real or inlined) that directly contains an inlined function's block."""
    return _function_block(block.superblock) if block is not None else None

def _inside(block, fblock):
    """Whether a function block is fblock or a function inlined (at any depth) into it."""
    while block is not None:
        if _same_block(block, fblock):
            return True
        block = _parent_function(block)
    return False

_stmt_cache = {}

def _statement_pcs(symtab):
    """
    The addresses where a statement starts (is_stmt rows of the line table), per symbol table.
    GCC's location views add rows that are not statement starts (a line's code interleaved with
    another's); gdb's 'next' never stops at those, so reverse stepping must not either. gdb 13's
    Python has no is_stmt, but LineTable.line(N) returns only the statement rows.
    """
    key = symtab.fullname()
    pcs = _stmt_cache.get(key)
    if pcs is None:
        pcs = set()
        try:
            lt = symtab.linetable()
            for n in lt.source_lines():
                for e in (lt.line(n) or ()):
                    pcs.add(int(e.pc))
        except (RuntimeError, gdb.error):
            pcs = set()
        _stmt_cache[key] = pcs
    return pcs

def _first_range(fblock, limit=50000):
    """
    (pc, sal, function block at pc) for each line-table row of a function's first address range. A
    function the compiler split (a .cold part far away) has a block from its first to its last
    address, and what lies between belongs to other functions: walking (or disassembling) all of it
    took two minutes in a Linux kernel (154,000 memory reads for one frame).
    """
    pc = fblock.start
    steps = 0
    while pc < fblock.end and steps < limit:
        steps += 1
        sal = gdb.find_pc_line(pc)
        if sal.symtab is None or sal.line == 0 or sal.last is None:
            return
        try:
            here = _function_block(gdb.block_for_pc(pc))
        except RuntimeError:
            here = None
        if not _inside(here, fblock):
            return
        yield pc, sal, here
        nxt = sal.last + 1
        pc = nxt if nxt > pc else pc + 1

def _first_range_end(fblock):
    """Where the first address range of a function ends (see _first_range)."""
    end = fblock.start
    for _, sal, _ in _first_range(fblock):
        end = max(end, sal.last + 1)
    return min(end, fblock.end)

def _line_starts(fblock):
    """
    Addresses in fblock where one of its source lines starts, with the line: its own line ranges,
    and the first addresses of the functions inlined directly into it (marked "inline": gdb shows
    the call site there; gdb's Python does not tell the call site's line, so the caller learns it
    when it gets there).
    """
    out = []
    for pc, sal, here in _first_range(fblock):
        if sal.pc != pc:
            continue
        if _same_block(here, fblock):
            # A row inside another line's statement (a location view) is not a line start.
            stmts = _statement_pcs(sal.symtab)
            if not stmts or pc in stmts:
                out.append([hex(pc), sal.line])
        elif here is not None and here.start == pc:
            # An inlined function starts here: find the one directly inside fblock.
            inner = here
            while inner is not None and not _same_block(_parent_function(inner), fblock):
                inner = _parent_function(inner)
            if inner is not None and inner.start == pc:
                out.append([hex(pc), 0, "inline"])
    return out

class RewindInlineEntry(gdb.Command):
    """rewind-inline-entry: how many innermost frames are inlined functions stopped at their first instruction."""
    def __init__(self):
        super().__init__("rewind-inline-entry", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        n = 0
        frame = gdb.newest_frame()
        pc = int(frame.pc())
        while frame is not None and frame.type() == gdb.INLINE_FRAME:
            try:
                block = _function_block(frame.block())
            except RuntimeError:
                break
            if block is None or block.start != pc:
                break
            n += 1
            frame = frame.older()
        _emit({"skip": n})

_recursive_cache = {}

def _calls_itself(fblock):
    """Whether the function contains a direct call to its own start (its first range: the rest is rarely run)."""
    start = fblock.start
    if start in _recursive_cache:
        return _recursive_cache[start]
    found = False
    try:
        arch = gdb.selected_frame().architecture()
        target = hex(start)
        end = _first_range_end(fblock)
        for insn in arch.disassemble(start, max(start, end - 1)):
            text = insn["asm"]
            if text.startswith("call") and target in text:
                found = True
                break
    except gdb.error:
        found = True  # unknown: assume the worst (frame filters then stay strict)
    _recursive_cache[start] = found
    return found

def _frame_at(level):
    frame = gdb.newest_frame()
    for _ in range(level):
        older = frame.older()
        if older is None:
            raise gdb.GdbError("no frame at level %d" % level)
        frame = older
    return frame

class RewindFrameJson(gdb.Command):
    """rewind-frame-json [LEVEL]: the frame's pc, sp, CFA, function range, line and line starts."""
    def __init__(self):
        super().__init__("rewind-frame-json", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        level = int(arg) if arg.strip() else 0
        frame = _frame_at(level)
        pc = int(frame.pc())
        real = frame
        while real.type() == gdb.INLINE_FRAME and real.older() is not None:
            real = real.older()
        out = {"pc": hex(pc), "level": level, "inline": frame.type() == gdb.INLINE_FRAME,
               "sp": hex(int(real.read_register("sp")) & 0xffffffffffffffff)}
        older = real.older()
        # An interrupt's frame ("<signal handler called>") was not entered by a call: no CFA.
        if older is not None and real.type() != gdb.SIGTRAMP_FRAME:
            try:
                out["cfa"] = hex(int(older.read_register("sp")) & 0xffffffffffffffff)
                out["callerPc"] = hex(int(older.pc()))
            except gdb.error:
                pass
        # An outer frame's line is where it is (for the caller of an inlined call: the call site).
        sal = gdb.find_pc_line(pc) if level == 0 else frame.find_sal()
        if frame.type() == gdb.INLINE_FRAME and frame.older() is not None:
            call = frame.older().find_sal()
            if call.symtab is not None and call.line > 0:
                out["callSiteLine"] = call.line
        if sal.symtab is not None and sal.line > 0:
            out["line"] = {"line": sal.line, "start": hex(sal.pc),
                           "end": hex(sal.last + 1) if sal.last is not None else hex(pc + 1),
                           "file": sal.symtab.fullname()}
        try:
            block = frame.block()
        except RuntimeError:
            block = None
        fblock = _function_block(block)
        if fblock is not None:
            out["function"] = {"name": fblock.function.print_name, "start": hex(fblock.start), "end": hex(fblock.end),
                               "lineStarts": _line_starts(fblock)}
            outer = _function_block(gdb.block_for_pc(pc))
            while outer is not None and outer.superblock is not None and _function_block(outer.superblock) is not None:
                outer = _function_block(outer.superblock)
            if outer is not None:
                out["realFunction"] = {"name": outer.function.print_name, "start": hex(outer.start), "end": hex(outer.end),
                                       "recursive": _calls_itself(outer)}
        _emit(out)

class RewindLineAddresses(gdb.Command):
    """rewind-line-addresses LINESPEC: every code address gdb maps a location (file:line, function) to."""
    def __init__(self):
        super().__init__("rewind-line-addresses", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        try:
            _, sals = gdb.decode_line(arg)
        except gdb.error as e:
            _emit({"error": str(e)})
            return
        out = []
        for sal in sals or []:
            item = {"address": hex(sal.pc)}
            if sal.symtab is not None:
                item["file"] = sal.symtab.fullname()
                item["line"] = sal.line
            out.append(item)
        _emit({"locations": out})

class RewindGlobals(gdb.Command):
    """rewind-globals [ADDRESS]: the global and static variables of the compilation unit of ADDRESS (default $pc)."""
    def __init__(self):
        super().__init__("rewind-globals", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        pc = int(gdb.parse_and_eval(arg)) if arg.strip() else int(gdb.selected_frame().pc())
        sal = gdb.find_pc_line(pc)
        out = []
        seen = set()
        if sal.symtab is not None:
            for block in (sal.symtab.global_block(), sal.symtab.static_block()):
                for sym in block:
                    if sym.is_variable and not sym.is_argument and sym.name not in seen:
                        seen.add(sym.name)
                        out.append({"name": sym.name, "file": sym.symtab.filename if sym.symtab else None})
        out.sort(key=lambda v: v["name"])
        _emit({"globals": out[:2000], "truncated": len(out) > 2000})

RewindFrameJson()
RewindInlineEntry()
RewindLineAddresses()
RewindGlobals()
` + SOURCE_FACTS_PYTHON + LINUX_GDB_PYTHON + LINUX_TASKS_PYTHON + LINUX_TASK_STACK_PYTHON + LINUX_MODULES_PYTHON;
