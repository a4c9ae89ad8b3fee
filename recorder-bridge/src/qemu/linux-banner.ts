/**
 * Does a vmlinux (symbols) belong to a recorded bzImage? A bzImage carries its version string in
 * the setup header ("6.1.0-56-cloud-amd64 (debian-kernel@...) #1 SMP ... Debian 6.1.192-2
 * (2026-11-16)"); the vmlinux has `linux_banner` ("Linux version 6.1.0-56-cloud-amd64
 * (debian-kernel@...) (gcc ...) #1 SMP ... Debian 6.1.192-2 (2026-11-16)\n"). Both come from the
 * same UTS_RELEASE, builder and UTS_VERSION (build number, flags, date), so a rebuilt or different
 * kernel differs in at least one of them. The bzImage has no build-id to compare instead.
 */
import { promises as fs } from 'node:fs';

const SHT_SYMTAB = 2;

/** The text of `linux_banner` in a vmlinux ELF, or undefined when it has none (not Linux, stripped). */
export async function readLinuxBanner(path: string): Promise<string | undefined> {
  return (await readLinuxBannerSymbol(path))?.text;
}

/** `linux_banner` in a vmlinux ELF: its link address and its text; undefined when it has none. */
export async function readLinuxBannerSymbol(path: string): Promise<{ address: bigint; text: string } | undefined> {
  const fh = await fs.open(path, 'r');
  try {
    const read = async (pos: number, len: number): Promise<Buffer> => {
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      return buf.subarray(0, bytesRead);
    };
    const eh = await read(0, 64);
    if (eh.length < 64 || eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2) return undefined; // 64-bit ELF only
    const shoff = Number(eh.readBigUInt64LE(0x28));
    const shentsize = eh.readUInt16LE(0x3a);
    const shnum = eh.readUInt16LE(0x3c);
    const sht = await read(shoff, shentsize * shnum);
    const section = (i: number) => {
      const o = i * shentsize;
      return {
        type: sht.readUInt32LE(o + 4),
        addr: sht.readBigUInt64LE(o + 0x10),
        offset: Number(sht.readBigUInt64LE(o + 0x18)),
        size: Number(sht.readBigUInt64LE(o + 0x20)),
        link: sht.readUInt32LE(o + 0x28),
        entsize: Number(sht.readBigUInt64LE(o + 0x38)),
      };
    };
    for (let i = 0; i < shnum; i++) {
      const symtab = section(i);
      if (symtab.type !== SHT_SYMTAB) continue;
      const strtab = section(symtab.link);
      const syms = await read(symtab.offset, symtab.size);
      const strs = await read(strtab.offset, strtab.size);
      const wanted = Buffer.from('linux_banner\0', 'latin1');
      const entsize = symtab.entsize || 24;
      for (let o = 0; o + entsize <= syms.length; o += entsize) {
        const name = syms.readUInt32LE(o);
        if (name + wanted.length > strs.length || strs.compare(wanted, 0, wanted.length, name, name + wanted.length) !== 0) continue;
        const value = syms.readBigUInt64LE(o + 8);
        const shndx = syms.readUInt16LE(o + 6);
        if (shndx === 0 || shndx >= shnum) return undefined;
        const home = section(shndx);
        const text = await read(home.offset + Number(value - home.addr), 512);
        const end = text.indexOf(0);
        return { address: value, text: text.toString('latin1', 0, end < 0 ? text.length : end) };
      }
    }
    return undefined;
  } finally {
    await fh.close();
  }
}

/** Release, builder and UTS version of a bzImage's version string; undefined if it does not parse. */
function parseBzImageVersion(v: string): { release: string; builder: string; utsVersion: string } | undefined {
  const m = /^(\S+) \(([^()]*)\) (#.*)$/.exec(v.trim());
  return m ? { release: m[1]!, builder: m[2]!, utsVersion: m[3]! } : undefined;
}

/**
 * Undefined when the banner matches the bzImage's version string; otherwise why not, for an error
 * message. The compiler part of the banner (which the bzImage string lacks) is skipped.
 */
export function bannerMismatch(banner: string, bzImageVersion: string): string | undefined {
  const v = parseBzImageVersion(bzImageVersion);
  const b = banner.replace(/\n$/, '');
  if (!v) return b.includes(bzImageVersion.trim()) ? undefined : `the image says "${bzImageVersion}"`;
  const m = /^Linux version (\S+) \(([^()]*)\) /.exec(b);
  if (!m) return `its banner does not parse: "${b}"`;
  if (m[1] !== v.release) return `it is Linux ${m[1]}, the recorded kernel is ${v.release}`;
  if (m[2] !== v.builder || !b.endsWith(` ${v.utsVersion}`)) {
    return `it is another build of ${v.release}: "${b.slice(b.lastIndexOf(') #') + 2)}" (symbols) vs "${v.utsVersion}" (recorded)`;
  }
  return undefined;
}

/**
 * Checks that `vmlinux` has the symbols of the recorded bzImage whose version string is
 * `bzImageVersion`. Returns undefined when they match, else a message that says what to do.
 */
export async function vmlinuxMismatch(vmlinux: string, bzImageVersion: string): Promise<string | undefined> {
  const banner = await readLinuxBanner(vmlinux);
  if (banner === undefined) {
    return `${vmlinux} has no linux_banner symbol, so it is not a vmlinux with symbols (or it was stripped): use the vmlinux of the recorded kernel (for a Debian kernel, /usr/lib/debug/boot/vmlinux-RELEASE from linux-image-RELEASE-dbg)`;
  }
  const why = bannerMismatch(banner, bzImageVersion);
  if (!why) return undefined;
  const release = bzImageVersion.split(' ')[0];
  return `${vmlinux} is not the vmlinux of the recorded kernel: ${why}. Source lines and variables would be wrong. Use the vmlinux built with that kernel (for a Debian kernel, /usr/lib/debug/boot/vmlinux-${release} from the package linux-image-${release}-dbg of the same version)`;
}
