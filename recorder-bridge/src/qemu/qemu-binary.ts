import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../errors';
import { requireTool } from './tools';

/**
 * Which QEMU runs a guest. scripts/build-qemu.sh (run by setup) builds Debian's own QEMU source
 * package with Rewind's replay patch (patches/qemu/) into out/native/qemu/ of the checkout. It
 * records exactly as Debian's binary does and replays the same logs to the same states, only faster
 * (docs/replay-research.md, "Checkpoint storms"), so it is used for recording and replaying whenever
 * it is built for the binary a recording names, whichever of the two recorded it.
 * REWIND_QEMU=system uses Debian's binary on PATH instead.
 */
export interface QemuChoice {
  path: string;
  /** 'rewind': the patched build; 'debian': the binary on PATH. */
  build: 'rewind' | 'debian';
}

/** The directory scripts/build-qemu.sh builds into, relative to the checkout. */
const BUILT_DIR = join('out', 'native', 'qemu');
/** Written last by scripts/build-qemu.sh: a binary without it is half built or from an old source. */
const STAMP = '.built';

/** The patched build of `name` in the checkout this code runs from (out/… or dist/ lie below it), if built. */
export function builtQemu(name: string, from = __dirname): string | undefined {
  for (let d = from; d !== dirname(d); d = dirname(d)) {
    const root = join(d, BUILT_DIR);
    if (existsSync(join(root, STAMP))) {
      const p = join(root, 'bin', name);
      return existsSync(p) ? p : undefined;
    }
  }
  return undefined;
}

/** The QEMU binary to run for `name` (e.g. qemu-system-x86_64); a missing one is a UserError naming its package. */
export function chooseQemu(name: string, env: NodeJS.ProcessEnv = process.env): QemuChoice {
  const setting = env['REWIND_QEMU'];
  if (setting !== undefined && setting !== '' && setting !== 'system' && setting !== 'auto') {
    throw new UserError(`REWIND_QEMU=${setting} is not a setting: use REWIND_QEMU=system (Debian's QEMU on PATH) or leave it unset (Rewind's patched build where setup built one)`, 'bad-option');
  }
  const built = setting === 'system' ? undefined : builtQemu(name);
  return built ? { path: built, build: 'rewind' } : { path: requireTool(name), build: 'debian' };
}

/** chooseQemu(name).path */
export function qemuBinary(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return chooseQemu(name, env).path;
}
