/**
 * Kernel source files of the Linux fixture's kernel, from Debian's `linux-source-X.Y` package of
 * the same version (apt-get download; the package holds the tree as one .tar.xz, about 140 MB),
 * extracted one file at a time and cached beside the fixture.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { aptDownload, type LinuxFixture } from './linux-fixture';

const execFileAsync = promisify(execFile);

/** The file `rel` (e.g. "kernel/sys.c") of the fixture kernel's source tree, as a path on disk. */
export async function linuxSourceFile(f: LinuxFixture, rel: string): Promise<string> {
  const out = join(dirname(f.bundle), 'src', rel);
  if (existsSync(out)) return out;
  const series = /^(\d+\.\d+)/.exec(f.release)?.[1];
  if (!series) throw new Error(`cannot tell the kernel series of release ${f.release}`);
  const tmp = await fs.mkdtemp(join(dirname(f.bundle), 'src-download-'));
  try {
    await aptDownload(tmp, [`linux-source-${series}=${f.packageVersion}`]);
    const deb = join(tmp, (await fs.readdir(tmp)).find((n) => n.endsWith('.deb'))!);
    await fs.mkdir(dirname(out), { recursive: true });
    const part = `${out}.part`;
    await execFileAsync('bash', ['-c', 'set -o pipefail; dpkg-deb --fsys-tarfile "$1" | tar -xO "$2" | tar -xJO "$3" > "$4"', 'sh', deb, `./usr/src/linux-source-${series}.tar.xz`, `linux-source-${series}/${rel}`, part], {
      maxBuffer: 1 << 20,
    });
    if ((await fs.stat(part)).size === 0) throw new Error(`${rel} is not in linux-source-${series} ${f.packageVersion}`);
    await fs.rename(part, out);
    return out;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
