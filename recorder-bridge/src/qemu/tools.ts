import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { UserError } from '../errors';

const execFileAsync = promisify(execFile);

/** Debian package that provides each tool Rewind runs. */
const PACKAGE_OF: Record<string, string> = {
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-system-i386': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
  gdb: 'gdb',
};

/** Finds an executable on PATH, like `command -v`. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Like findOnPath, but a missing tool is a UserError naming the Debian package to install. */
export function requireTool(name: string): string {
  const p = findOnPath(name);
  if (p) return p;
  const pkg = PACKAGE_OF[name] ?? name;
  throw new UserError(`${name} not found on PATH; install Debian's ${pkg} package (apt-get install ${pkg}) or run \`npm run setup\``, 'tool-missing');
}

export interface QemuVersion {
  /** e.g. "7.2.22" */
  version: string;
  /** The whole first line of `--version`, e.g. "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)". */
  banner: string;
}

const versionCache = new Map<string, QemuVersion>();

export async function qemuVersion(binary: string): Promise<QemuVersion> {
  const cached = versionCache.get(binary);
  if (cached) return cached;
  const { stdout } = await execFileAsync(binary, ['--version']);
  const banner = stdout.split('\n')[0]!.trim();
  const m = /version\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)/.exec(banner);
  const v = { version: m ? m[1]! : 'unknown', banner };
  versionCache.set(binary, v);
  return v;
}
