import { promises as fs } from 'node:fs';
import type { KernelFormat } from '@rewind/protocol';
import { UserError } from '../errors';

/** What kind of kernel image a file is, and which QEMU boots it. */
export interface KernelInfo {
  /** 'multiboot-elf64' | 'multiboot-elf32' | 'linux-bzimage' */
  format: KernelFormat;
  /** The qemu-system binary that matches the kernel's architecture. */
  qemuBinary: 'qemu-system-x86_64' | 'qemu-system-i386';
  /** GNU build-id in hex, when the file has one (ELF kernels). */
  buildId?: string;
  /** Linux version string from the bzImage header, e.g. "6.1.0-27-amd64 (debian-kernel@...) #1 SMP ...". */
  linuxVersion?: string;
}

// Kernel formats are named in manifest.json: the type lives in protocol/manifest.ts.
export type { KernelFormat };

const MULTIBOOT1_MAGIC = 0x1badb002;
const MULTIBOOT2_MAGIC = 0xe85250d6;
const MULTIBOOT_AOUT_KLUDGE = 1 << 16;
const EM_386 = 3;
const EM_X86_64 = 62;

/** Reads a kernel file and decides how QEMU must boot it; throws a UserError for anything else. */
export async function probeKernel(path: string): Promise<KernelInfo> {
  let data: Buffer;
  try {
    data = await fs.readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`kernel not found: ${path}; check the path (for the demo guest, run \`npm run guest\` first)`, 'kernel-missing');
    if (code === 'EISDIR') throw new UserError(`kernel path is a directory: ${path}; pass the kernel file itself (an ELF multiboot kernel or a Linux bzImage)`, 'kernel-invalid');
    throw new UserError(`cannot read kernel ${path}: ${(e as Error).message}`, 'kernel-unreadable');
  }
  return classifyKernel(data, path);
}

export function classifyKernel(data: Buffer, path: string): KernelInfo {
  if (isBzImage(data)) {
    return { format: 'linux-bzimage', qemuBinary: 'qemu-system-x86_64', linuxVersion: bzImageVersion(data) };
  }
  if (data.length >= 20 && data.readUInt32BE(0) === 0x7f454c46) {
    const elfClass = data[4];
    const machine = data.readUInt16LE(18);
    const mb = findMultiboot(data);
    if (mb === 'v2') {
      throw new UserError(`${path} has only a multiboot2 header, which QEMU's -kernel cannot boot; add a multiboot (v1) header`, 'kernel-invalid');
    }
    if (mb === undefined) {
      const hint = machine === EM_X86_64 && elfClass === 2 ? ' (a vmlinux? QEMU boots arch/x86/boot/bzImage; use the vmlinux for symbols only)' : '';
      throw new UserError(`${path} is an ELF file without a multiboot header${hint}; pass a multiboot kernel or a Linux bzImage`, 'kernel-invalid');
    }
    const buildId = elfBuildId(data);
    if (elfClass === 2 && machine === EM_X86_64) {
      if (!(mb.flags & MULTIBOOT_AOUT_KLUDGE)) {
        throw new UserError(`${path} is a 64-bit ELF multiboot kernel without the a.out kludge (flag bit 16), which QEMU refuses to load; set the kludge's address fields in its multiboot header`, 'kernel-invalid');
      }
      return { format: 'multiboot-elf64', qemuBinary: 'qemu-system-x86_64', ...(buildId ? { buildId } : {}) };
    }
    if (elfClass === 1 && machine === EM_386) {
      return { format: 'multiboot-elf32', qemuBinary: 'qemu-system-i386', ...(buildId ? { buildId } : {}) };
    }
    throw new UserError(`${path} is an ELF multiboot kernel for machine ${machine}, class ${elfClass}; Rewind records x86 guests (i386 or x86_64)`, 'kernel-invalid');
  }
  throw new UserError(`${path} is not a kernel Rewind can boot: expected an ELF multiboot kernel (i386 or x86_64) or a Linux bzImage`, 'kernel-invalid');
}

function isBzImage(data: Buffer): boolean {
  // Linux x86 boot protocol: "HdrS" at 0x202, boot sector signature 0xAA55 at 0x1fe.
  return data.length > 0x260 && data.toString('latin1', 0x202, 0x206) === 'HdrS' && data.readUInt16LE(0x1fe) === 0xaa55;
}

function bzImageVersion(data: Buffer): string | undefined {
  const ptr = data.readUInt16LE(0x20e);
  if (ptr === 0) return undefined;
  const start = ptr + 0x200;
  if (start >= data.length) return undefined;
  const end = data.indexOf(0, start);
  if (end < 0 || end - start > 512) return undefined;
  return data.toString('latin1', start, end);
}

function findMultiboot(data: Buffer): { flags: number } | 'v2' | undefined {
  const limit = Math.min(data.length - 12, 32768);
  let v2 = false;
  for (let off = 0; off <= limit; off += 4) {
    const magic = data.readUInt32LE(off);
    if (magic === MULTIBOOT1_MAGIC && off < 8192) {
      const flags = data.readUInt32LE(off + 4);
      const checksum = data.readUInt32LE(off + 8);
      if (((magic + flags + checksum) >>> 0) === 0) return { flags };
    } else if (magic === MULTIBOOT2_MAGIC && off % 8 === 0) {
      v2 = true;
    }
  }
  return v2 ? 'v2' : undefined;
}

/** The GNU build-id note of an ELF file, from its section headers. */
export function elfBuildId(data: Buffer): string | undefined {
  try {
    const is64 = data[4] === 2;
    const shoff = is64 ? Number(data.readBigUInt64LE(0x28)) : data.readUInt32LE(0x20);
    const shentsize = data.readUInt16LE(is64 ? 0x3a : 0x2e);
    const shnum = data.readUInt16LE(is64 ? 0x3c : 0x30);
    for (let i = 0; i < shnum; i++) {
      const sh = shoff + i * shentsize;
      if (sh + shentsize > data.length) return undefined;
      const type = data.readUInt32LE(sh + 4);
      if (type !== 7 /* SHT_NOTE */) continue;
      const off = is64 ? Number(data.readBigUInt64LE(sh + 0x18)) : data.readUInt32LE(sh + 0x10);
      const size = is64 ? Number(data.readBigUInt64LE(sh + 0x20)) : data.readUInt32LE(sh + 0x14);
      let p = off;
      while (p + 12 <= off + size && p + 12 <= data.length) {
        const namesz = data.readUInt32LE(p);
        const descsz = data.readUInt32LE(p + 4);
        const ntype = data.readUInt32LE(p + 8);
        const name = data.toString('latin1', p + 12, p + 12 + namesz).replace(/\0+$/, '');
        const desc = p + 12 + align4(namesz);
        if (ntype === 3 && name === 'GNU') return data.toString('hex', desc, desc + descsz);
        p = desc + align4(descsz);
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
