/** Symbols of a guest's ELF (the demo kernel, a vmlinux), read with binutils' nm. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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

/** One section of an ELF file (readelf -S): where its bytes are in the file. */
export interface ElfSection {
  name: string;
  type: string;
  offset: number;
  size: number;
}

/** The sections of `elf`, by name (readelf -S -W, binutils). */
export function elfSections(elf: string): Map<string, ElfSection> {
  const text = execFileSync('readelf', ['-S', '-W', elf], { encoding: 'utf8' });
  const out = new Map<string, ElfSection>();
  for (const m of text.matchAll(/^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)\s/gm)) {
    out.set(m[1]!, { name: m[1]!, type: m[2]!, offset: parseInt(m[3]!, 16), size: parseInt(m[4]!, 16) });
  }
  return out;
}

/** The bytes of one section of `elf` as they are in the file; throws when it has none of that name. */
export function sectionBytes(elf: string, name: string): Buffer {
  const s = elfSections(elf).get(name);
  if (!s) throw new Error(`${elf} has no ${name} section`);
  return readFileSync(elf).subarray(s.offset, s.offset + s.size);
}

/** One relocation of a relocatable ELF (a kernel module): where it applies, its type, symbol and addend. */
export interface Relocation {
  offset: number;
  type: string;
  symbol: string;
  addend: bigint;
}

/** The relocations that apply to `section` of `elf` (readelf -r -W, its .rela section). */
export function relocations(elf: string, section: string): Relocation[] {
  const text = execFileSync('readelf', ['-r', '-W', elf], { encoding: 'utf8' });
  const block = text.split(/^Relocation section /m).find((b) => b.startsWith(`'.rela${section}'`));
  if (!block) return [];
  return [...block.matchAll(/^([0-9a-f]+)\s+[0-9a-f]+\s+(R_X86_64_\w+)\s+[0-9a-f]+\s+(\S+)\s*([+-])\s*([0-9a-f]+)$/gm)].map((m) => ({
    offset: parseInt(m[1]!, 16),
    type: m[2]!,
    symbol: m[3]!,
    addend: (m[4] === '-' ? -1n : 1n) * BigInt('0x' + m[5]),
  }));
}
