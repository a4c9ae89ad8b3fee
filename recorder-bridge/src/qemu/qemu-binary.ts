import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../errors';
import { requireTool } from './tools';

/**
 * Which QEMU runs a guest. scripts/build-qemu.sh (run by setup) builds Debian's own QEMU source
 * package with Rewind's replay patch (patches/qemu/) into out/native/qemu/ of the checkout. It
 * records exactly as Debian's binary does and replays the same logs to the same states, only faster
 * (docs/replay-research.md, "Rewind's QEMU"), so it is used for recording and replaying whenever
 * it is built for the binary a recording names, whichever of the two recorded it.
 *
 * REWIND_QEMU (the VS Code extension sets it from `rewind.qemuPath`):
 * - unset, empty or `auto`: the build in the checkout this code runs from, else Debian's on PATH;
 * - `system`: Debian's binary on PATH;
 * - a path: a build of Rewind's QEMU elsewhere (its out/native/qemu, a binary in it, or the
 *   checkout that holds it), for a packaged extension or a second checkout.
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

/** The build directory (holding the stamp) at `from` or above it, itself or as out/native/qemu. */
function buildDirAbove(from: string): string | undefined {
  for (let d = resolve(from); ; d = dirname(d)) {
    if (existsSync(join(d, STAMP))) return d;
    if (existsSync(join(d, BUILT_DIR, STAMP))) return join(d, BUILT_DIR);
    if (d === dirname(d)) return undefined;
  }
}

/** The patched build of `name` at or above `from` (by default the checkout this code runs from: out/… or dist/ lie below it), if built. */
export function builtQemu(name: string, from = __dirname): string | undefined {
  const dir = buildDirAbove(from);
  const p = dir && join(dir, 'bin', name);
  return p && existsSync(p) ? p : undefined;
}

/** The QEMU binary to run for `name` (e.g. qemu-system-x86_64); a missing one is a UserError naming its package. */
export function chooseQemu(name: string, env: NodeJS.ProcessEnv = process.env): QemuChoice {
  const setting = env['REWIND_QEMU'] ?? '';
  let built: string | undefined;
  if (isAbsolute(setting)) {
    if (!buildDirAbove(setting)) {
      throw new UserError(`REWIND_QEMU=${setting} is not a build of Rewind's QEMU (no ${join(BUILT_DIR, STAMP)} there): run \`npm run setup\` in a Rewind checkout and name its ${BUILT_DIR}, or use REWIND_QEMU=system for Debian's QEMU`, 'bad-option');
    }
    // Only x86_64 is built: an i386 guest runs on Debian's qemu-system-i386.
    built = builtQemu(name, setting);
  } else if (setting === '' || setting === 'auto') {
    built = builtQemu(name);
  } else if (setting !== 'system') {
    throw new UserError(`REWIND_QEMU=${setting} is not a setting: use REWIND_QEMU=system (Debian's QEMU on PATH), an absolute path to a build of Rewind's QEMU (a checkout's ${BUILT_DIR}), or leave it unset (the build in this checkout where setup made one)`, 'bad-option');
  }
  return built ? { path: built, build: 'rewind' } : { path: requireTool(name), build: 'debian' };
}
