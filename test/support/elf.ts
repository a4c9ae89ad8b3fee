/** Symbols of a guest's ELF (the demo kernel, a vmlinux), read with binutils' nm. */
import { execFileSync } from 'node:child_process';

export interface ElfSymbol {
  address: bigint;
  /** 0n where nm gives no size (assembly labels). */
  size: bigint;
}

const tables = new Map<string, Map<string, ElfSymbol>>();

/** Every symbol of `elf` with its address and size (`nm -S`), read once per file. */
export function symbolTable(elf: string): Map<string, ElfSymbol> {
  let table = tables.get(elf);
  if (!table) {
    table = new Map();
    // A vmlinux has about 200,000 symbols: several MB of nm output.
    const text = execFileSync('nm', ['-S', elf], { encoding: 'utf8', maxBuffer: 256 << 20 });
    for (const m of text.matchAll(/^([0-9a-f]+) (?:([0-9a-f]+) )?\w (\S+)$/gm)) {
      if (!table.has(m[3]!)) table.set(m[3]!, { address: BigInt('0x' + m[1]), size: m[2] ? BigInt('0x' + m[2]) : 0n });
    }
    tables.set(elf, table);
  }
  return table;
}

/** The address of one symbol; throws when `elf` has none of that name. */
export function symbolAddress(elf: string, name: string): bigint {
  const s = symbolTable(elf).get(name);
  if (!s) throw new Error(`symbol ${name} not found in ${elf}`);
  return s.address;
}

/** The addresses of several symbols; throws on the first one `elf` lacks. */
export function symbolAddresses(elf: string, names: string[]): Map<string, bigint> {
  return new Map(names.map((n) => [n, symbolAddress(elf, n)]));
}

/** One instruction of a disassembly: its address and its text (mnemonic and operands, as objdump prints them). */
export interface Instruction {
  address: bigint;
  text: string;
}

/** The instructions of one function of `elf` (objdump -d, binutils). */
export function disassemble(elf: string, fn: string): Instruction[] {
  const text = execFileSync('objdump', ['-d', '--no-show-raw-insn', `--disassemble=${fn}`, elf], { encoding: 'utf8' });
  return [...text.matchAll(/^\s+([0-9a-f]+):\s+(.+)$/gm)].map((m) => ({ address: BigInt('0x' + m[1]), text: m[2]!.trim() }));
}
