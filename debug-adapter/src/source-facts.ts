/**
 * What a source file holds in the program's debug information, in one gdb round trip: the
 * functions it defines and every line with code, each with the addresses a breakpoint on it uses
 * (what `rewind-line-addresses` finds for "FILE:LINE" and for the function's name, so a count made
 * from them equals what rewind/hits finds for that line or function). The language server builds
 * its lenses and line counts on it.
 */
import type { Gdb } from './mi/gdb';

export interface SourceFacts {
  /** The file as gdb knows it (substitute-path applied). */
  fullname: string;
  functions: Array<{ name: string; line: number; addresses: bigint[] }>;
  lines: Array<{ line: number; addresses: bigint[] }>;
}

export const SOURCE_FACTS_PYTHON = String.raw`
def _rewind_symtabs(path):
    """The symbol tables of PATH, found by its tail: the basename, then ever longer tails (an
    editor's path and the compiler's differ in their leading folders), until one names exactly one
    file. Each try is a linespec search over every file of the program: shortest first is cheapest."""
    parts = [p for p in path.replace("\\", "/").split("/") if p != ""]
    ambiguous = []
    for i in range(len(parts) - 1, -1, -1):
        tail = "/".join(parts[i:])
        try:
            _, sals = gdb.decode_line(tail + ":1")
        except gdb.error:
            break
        found = {}
        for sal in sals or []:
            if sal.symtab is not None:
                found.setdefault(sal.symtab.fullname(), []).append(sal.symtab)
        if len(found) == 1:
            return list(found.items())[0]
        if not found:
            break
        ambiguous = sorted(found)
    return None, ambiguous

def _rewind_block_key(block):
    """A block's identity (gdb 13's Python blocks have no equality): its chain up to the file's static block."""
    key = []
    while block is not None and not block.is_static and not block.is_global:
        key.append((block.start, block.end, block.function.name if block.function is not None else None))
        block = block.superblock
    return tuple(key)

def _rewind_defining_file(pc, name):
    """The file that defines the function NAME whose code (out of line or inlined) holds PC."""
    block = gdb.block_for_pc(pc)
    while block is not None:
        if block.function is not None and block.function.name == name:
            return block.function.symtab.fullname() if block.function.symtab is not None else None
        block = block.superblock
    return None

class RewindSourceFacts(gdb.Command):
    """rewind-source-facts FILE: FILE's functions and lines with code, with the addresses a breakpoint on each uses.

    A line's addresses are what gdb.decode_line("FILE:LINE") gives (a breakpoint's locations), found
    from the line table in one pass: the is_stmt entries of the line, the first one per block, as
    linespec.c filters them. A function's are what "break NAME" gives (its entry and every inlined
    copy), keeping those of the function this file defines. decode_line per line costs ~50 ms on a
    kernel's vmlinux; this pass costs about that for the whole file."""
    def __init__(self):
        super().__init__("rewind-source-facts", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        fullname, symtabs = _rewind_symtabs(arg.strip())
        if fullname is None:
            if symtabs:
                _emit({"error": "several files match " + arg.strip() + ": " + ", ".join(symtabs[:5])})
            else:
                _emit({"error": "no code of " + arg.strip() + " in the symbols"})
            return
        lines = {}
        functions = {}
        for st in symtabs:
            table = st.linetable()
            for line in sorted(table.source_lines()):
                seen = set(lines.get(line, {}).keys())
                pcs = dict(lines.get(line, {}))
                for entry in sorted(table.line(line) or [], key=lambda e: e.pc):
                    key = _rewind_block_key(gdb.block_for_pc(entry.pc))
                    if key in seen:
                        continue
                    seen.add(key)
                    pcs[key] = entry.pc
                if pcs:
                    lines[line] = pcs
            for block in (st.global_block(), st.static_block()):
                for sym in block:
                    if not sym.is_function or sym.symtab is None or sym.symtab.fullname() != fullname or sym.name in functions:
                        continue
                    try:
                        _, sals = gdb.decode_line(sym.name)
                    except gdb.error:
                        sals = []
                    pcs = sorted({s.pc for s in sals or [] if _rewind_defining_file(s.pc, sym.name) == fullname})
                    functions[sym.name] = {"name": sym.name, "line": sym.line, "addresses": [hex(p) for p in pcs]}
        _emit({
            "fullname": fullname,
            "functions": sorted(functions.values(), key=lambda f: f["line"]),
            "lines": [{"line": l, "addresses": [hex(p) for p in sorted(pcs.values())]} for l, pcs in sorted(lines.items())],
        })

RewindSourceFacts()
`;

/** The functions and lines of `path` (an editor's path: the folders in front may differ from the compiler's). */
export async function sourceFacts(gdb: Gdb, path: string): Promise<SourceFacts> {
  const out = await gdb.console(`rewind-source-facts ${path}`);
  const json = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '{}') as {
    error?: string;
    fullname?: string;
    functions?: Array<{ name: string; line: number; addresses: string[] }>;
    lines?: Array<{ line: number; addresses: string[] }>;
  };
  if (json.error !== undefined || json.fullname === undefined) throw new Error(json.error ?? `gdb said nothing about ${path}`);
  return {
    fullname: json.fullname,
    functions: (json.functions ?? []).map((f) => ({ name: f.name, line: f.line, addresses: f.addresses.map((a) => BigInt(a)) })),
    lines: (json.lines ?? []).map((l) => ({ line: l.line, addresses: l.addresses.map((a) => BigInt(a)) })),
  };
}
