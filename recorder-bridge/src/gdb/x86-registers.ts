/**
 * The register block of QEMU's x86 gdbstub ('g' packet), decoded. Layout from QEMU's
 * target/i386/gdbstub.c and gdb-xml/i386-64bit.xml (qemu-system-x86_64: every general register is
 * 8 bytes whatever the CPU mode) and i386-32bit.xml (qemu-system-i386).
 */
export type X86Registers = Record<string, bigint>;

const GPR64 = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const GPR32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const SEGS = ['cs', 'ss', 'ds', 'es', 'fs', 'gs'];

const LAYOUT64: Array<[string, number]> = [
  ...GPR64.map((r): [string, number] => [r, 8]),
  ['rip', 8],
  ['eflags', 4],
  ...SEGS.map((r): [string, number] => [r, 4]),
  ['fs_base', 8],
  ['gs_base', 8],
  ['k_gs_base', 8],
  ['cr0', 8],
  ['cr2', 8],
  ['cr3', 8],
  ['cr4', 8],
  ['cr8', 8],
  ['efer', 8],
];

const LAYOUT32: Array<[string, number]> = [
  ...GPR32.map((r): [string, number] => [r, 4]),
  ['eip', 4],
  ['eflags', 4],
  ...SEGS.map((r): [string, number] => [r, 4]),
];

/** Decodes the hex 'g' reply (little-endian values; "xx" for unavailable bytes reads as 0). */
export function decodeRegisters(hex: string, wide: boolean): X86Registers {
  const layout = wide ? LAYOUT64 : LAYOUT32;
  const regs: X86Registers = {};
  let p = 0;
  for (const [name, size] of layout) {
    if (p + size * 2 > hex.length) break;
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) {
      const byte = hex.slice(p + i * 2, p + i * 2 + 2);
      v = (v << 8n) | BigInt(byte === 'xx' ? 0 : parseInt(byte, 16));
    }
    regs[name] = v;
    p += size * 2;
  }
  return regs;
}

/** The program counter's register name for the layout. */
export function pcName(wide: boolean): 'rip' | 'eip' {
  return wide ? 'rip' : 'eip';
}
