/**
 * A recording made with KASLR on (`rewind record --kaslr`): the kernel runs at an offset from the
 * vmlinux's link addresses, the same for the whole recording. At launch the adapter finds it (the
 * vmlinux's linux_banner read at each offset KASLR can pick, at a time point where the kernel
 * runs: recorder-bridge/src/replay/kaslr-offset.ts) and gdb loads the symbols there.
 */
import { findKaslrOffsetOverTime, kaslrOn, kaslrProbePoints, readLinuxBannerSymbol, type BridgeClient, type Manifest, type TimePoint } from '@rewind/core';
import { AdapterError, ErrorId } from './errors';

/**
 * The kernel's offset when the recording has KASLR on; undefined when it is off or not Linux.
 * Moves the session to look, and back to where it was.
 */
export async function kaslrOffsetAtLaunch(client: BridgeClient, sessionId: string, end: TimePoint, manifest: Manifest | undefined, vmlinux: string): Promise<bigint | undefined> {
  if (!manifest || !kaslrOn(manifest.guest)) return undefined;
  const banner = await readLinuxBannerSymbol(vmlinux);
  if (!banner) throw new AdapterError(`${vmlinux} has no linux_banner symbol, so the kernel's KASLR offset cannot be found: use the vmlinux of the recorded kernel`, ErrorId.badConfig, true);
  const back = (await client.position(sessionId)).icount;
  try {
    const offset = await findKaslrOffsetOverTime(end, (at) => client.seek(sessionId, at), (address, length) => client.readMemory(sessionId, address, length).catch(() => undefined), banner);
    if (offset !== undefined) return offset;
  } finally {
    await client.seek(sessionId, back);
  }
  throw new AdapterError(
    `this recording has KASLR on (its command line has no nokaslr), but the kernel's banner was found at no offset KASLR can pick, at ${kaslrProbePoints(end).length} time points: is ${vmlinux} the vmlinux of the recorded kernel? Recording with the default nokaslr avoids the question`,
    ErrorId.badConfig,
    true,
  );
}

/**
 * gdb's commands that load the vmlinux's symbols at the kernel's offset, in place of those at its
 * link addresses: every section moves by the offset but the per-CPU one. Per-CPU variables
 * (current_task) are offsets into each CPU's area, linked at 0, and KASLR leaves them so
 * (arch/x86/tools/relocs.c keeps .data..percpu out of the relocations it applies).
 */
export function kaslrSymbolCommands(vmlinux: string, offset: bigint): string[] {
  // gdb splits the arguments as a shell would (gdb_buildargv): a path with spaces goes in quotes.
  const path = `"${vmlinux.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  return ['symbol-file', `add-symbol-file ${path} -o 0x${offset.toString(16)} -s .data..percpu 0`];
}
