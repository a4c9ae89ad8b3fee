/**
 * What a source file holds in the program's debug information, in one gdb round trip: the
 * functions it defines and every line with code, each with the addresses a breakpoint on it uses
 * (the same lookup as `rewind-line-addresses`, so a count made from them equals what rewind/hits
 * finds for that line or function). The language server builds its lenses and line counts on it.
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
    """The symbol tables of PATH: tried as given, then by ever shorter tails (an editor's path and
    the compiler's differ in their leading folders), until one names exactly one file."""
    parts = path.replace("\\", "/").split("/")
    for i in range(len(parts)):
        tail = "/".join(parts[i:])
        if tail == "":
            continue
        try:
            _, sals = gdb.decode_line(tail + ":1")
        except gdb.error:
            continue
        found = {}
        for sal in sals or []:
            if sal.symtab is not None:
                found.setdefault(sal.symtab.fullname(), []).append(sal.symtab)
        if len(found) == 1:
            return list(found.items())[0]
        if len(found) > 1:
            return None, sorted(found)
    return None, []

class RewindSourceFacts(gdb.Command):
    """rewind-source-facts FILE: FILE's functions and lines with code, with the addresses a breakpoint on each uses."""
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
            for line in sorted(st.linetable().source_lines()):
                if line in lines:
                    continue
                try:
                    _, sals = gdb.decode_line("%s:%d" % (fullname, line))
                except gdb.error:
                    continue
                pcs = sorted({s.pc for s in sals or [] if s.line == line})
                if pcs:
                    lines[line] = pcs
            for block in (st.global_block(), st.static_block()):
                for sym in block:
                    if not sym.is_function or sym.symtab is None or sym.symtab.fullname() != fullname or sym.name in functions:
                        continue
                    try:
                        _, sals = gdb.decode_line("%s:%s" % (fullname, sym.name))
                    except gdb.error:
                        continue
                    functions[sym.name] = {"name": sym.name, "line": sym.line, "addresses": sorted({hex(s.pc) for s in sals or []})}
        _emit({
            "fullname": fullname,
            "functions": sorted(functions.values(), key=lambda f: f["line"]),
            "lines": [{"line": l, "addresses": [hex(p) for p in pcs]} for l, pcs in sorted(lines.items())],
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
