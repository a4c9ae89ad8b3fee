/**
 * The setting rewind.qemuPath: which QEMU the engine runs, passed to it as REWIND_QEMU
 * (recorder-bridge/src/qemu/qemu-binary.ts). A packaged extension has no out/native/qemu of its
 * own, so it finds Rewind's patched QEMU only through this setting. Never imports `vscode`.
 */
import { homedir } from 'node:os';
import { isAbsolute } from 'node:path';
import type { QemuChoice } from '@rewind/core';

/** The REWIND_QEMU the engine gets for the setting's value: empty keeps what the editor was started with. */
export function rewindQemuEnv(setting: string, inherited: string | undefined): string | undefined {
  const s = setting.trim().replace(/^~(?=\/|$)/, homedir());
  if (s === '') return inherited;
  if (s === 'system' || isAbsolute(s)) return s;
  throw new Error(`The setting rewind.qemuPath is "${setting}": give the absolute path of a Rewind checkout's out/native/qemu (built by \`npm run setup\`), "system" for Debian's QEMU, or leave it empty.`);
}

/** What Check Prerequisites says of the QEMU in use; with Debian's, how to get Rewind's. */
export function qemuReport(choice: QemuChoice, banner: string): { version: string; advice?: string } {
  if (choice.build === 'rewind') return { version: `${banner}, ${choice.path}` };
  return {
    version: banner,
    advice: 'Replays run on Debian\'s QEMU. Rewind\'s QEMU (Debian\'s source with a replay patch) replays idle kernels up to 7x faster: run `npm run setup` in a Rewind checkout, then set rewind.qemuPath to that checkout\'s out/native/qemu.',
  };
}
