/**
 * Where a recorded x86_64 Linux kernel runs when it was recorded with KASLR on (`rewind record
 * --kaslr`): its virtual offset from the vmlinux's link addresses, the same for the whole
 * recording once the decompressor has placed it. Found by reading the kernel's `linux_banner` at
 * every address it can have: its link address plus each multiple of CONFIG_PHYSICAL_ALIGN (2 MiB)
 * below KERNEL_IMAGE_SIZE (1 GiB), the range x86_64's randomization draws from
 * (arch/x86/boot/compressed/kaslr.c). The banner holds the release, the builder and the build's
 * date, so only the right offset matches; unmapped candidates fail at once.
 */
import { UserError } from '../errors';
import { readLinuxBannerSymbol, vmlinuxMismatch } from '../qemu/linux-banner';
import type { TimePoint } from '../timepoint';
import { ReplayEngine } from './engine';

/** CONFIG_PHYSICAL_ALIGN's smallest value on x86_64: every offset KASLR picks is a multiple of it. */
export const KASLR_ALIGN = 0x200000n;
/** KERNEL_IMAGE_SIZE with KASLR: the kernel's virtual offset stays below it. */
export const KASLR_RANGE = 0x40000000n;

/** Reads guest virtual memory at the reader's time point; undefined where unreadable. */
export type GuestRead = (address: bigint, length: number) => Promise<Buffer | undefined>;

/** The offset at which `banner` (the vmlinux's linux_banner) is in memory, or undefined when it is at none. */
export async function findKaslrOffset(read: GuestRead, banner: { address: bigint; text: string }): Promise<bigint | undefined> {
  // The whole banner with its newline: its first line in the kernel's log has the same text, without it.
  const want = Buffer.from(banner.text, 'latin1');
  for (let offset = 0n; offset < KASLR_RANGE; offset += KASLR_ALIGN) {
    const got = await read(banner.address + offset, want.length);
    if (got?.equals(want)) return offset;
  }
  return undefined;
}

/**
 * Time points to look at, in order: the kernel must be running, with its own page tables (a user
 * process under KPTI maps almost none of it): the end first (a recording of Linux ends in it, at a
 * panic or a power-off), then earlier points.
 */
export function kaslrProbePoints(end: TimePoint): TimePoint[] {
  return [end, Math.floor(end * 0.9), Math.floor(end * 0.75), Math.floor(end * 0.5)];
}

/**
 * The offset, looked for at each probe point in turn (`seek` goes there, `read` reads there):
 * what the debugger's launch and `rewind info --vmlinux` share.
 */
export async function findKaslrOffsetOverTime(end: TimePoint, seek: (at: TimePoint) => Promise<unknown>, read: GuestRead, banner: { address: bigint; text: string }): Promise<bigint | undefined> {
  for (const at of kaslrProbePoints(end)) {
    await seek(at);
    const offset = await findKaslrOffset(read, banner);
    if (offset !== undefined) return offset;
  }
  return undefined;
}

/**
 * `rewind info --vmlinux`: the offset of a recording's kernel, found by replaying to the probe
 * points (the end first) with an engine of its own. The vmlinux must be the recorded kernel's.
 */
export async function kaslrOffsetOfBundle(bundleDir: string, linuxVersion: string | undefined, vmlinux: string): Promise<bigint> {
  const why = linuxVersion ? await vmlinuxMismatch(vmlinux, linuxVersion) : undefined;
  if (why) throw new UserError(why, 'bad-option');
  const banner = await readLinuxBannerSymbol(vmlinux);
  if (!banner) throw new UserError(`${vmlinux} has no linux_banner symbol: give the vmlinux of the recorded kernel`, 'bad-option');
  const engine = await ReplayEngine.open(bundleDir, { index: 'off' });
  try {
    const offset = await findKaslrOffsetOverTime(engine.end, (at) => engine.seek(at), (address, length) => engine.readMemory(address, length).catch(() => undefined), banner);
    if (offset !== undefined) return offset;
  } finally {
    await engine.close();
  }
  throw new UserError(`the kernel's banner is at no offset KASLR can pick in this recording: is ${vmlinux} the recorded kernel's vmlinux?`, 'bad-option');
}
