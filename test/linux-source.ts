/**
 * Kernel source files of the Linux fixture's kernel, from Debian's `linux-source-X.Y` package of
 * the same version (apt-get download; the package holds the tree as one .tar.xz, about 140 MB),
 * extracted in one pass and cached beside the fixture (its src/ folder).
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { aptDownload, type LinuxFixture } from './linux-fixture';

const execFileAsync = promisify(execFile);

/** The file `rel` (e.g. "kernel/sys.c") of the fixture kernel's source tree, as a path on disk. */
export async function linuxSourceFile(f: LinuxFixture, rel: string): Promise<string> {
  return (await linuxSourceFiles(f, [rel]))[0]!;
}

/** Several files of the source tree (one download and one pass over the tarball for those not cached yet). */
export async function linuxSourceFiles(f: LinuxFixture, rels: string[]): Promise<string[]> {
  const src = join(dirname(f.bundle), 'src');
  const paths = rels.map((r) => join(src, r));
  const missing = rels.filter((_, i) => !existsSync(paths[i]!));
  if (missing.length === 0) return paths;
  const series = /^(\d+\.\d+)/.exec(f.release)?.[1];
  if (!series) throw new Error(`cannot tell the kernel series of release ${f.release}`);
  const tmp = await fs.mkdtemp(join(dirname(f.bundle), 'src-download-'));
  try {
    await aptDownload(tmp, [`linux-source-${series}=${f.packageVersion}`]);
    const deb = join(tmp, (await fs.readdir(tmp)).find((n) => n.endsWith('.deb'))!);
    const out = join(tmp, 'tree');
    await fs.mkdir(out);
    await execFileAsync(
      'bash',
      ['-c', 'set -o pipefail; deb=$1 member=$2 out=$3; shift 3; dpkg-deb --fsys-tarfile "$deb" | tar -xO "$member" | tar -xJ -C "$out" --strip-components=1 "$@"', 'sh', deb, `./usr/src/linux-source-${series}.tar.xz`, out, ...missing.map((r) => `linux-source-${series}/${r}`)],
      { maxBuffer: 1 << 20 },
    );
    for (const r of missing) {
      await fs.mkdir(dirname(join(src, r)), { recursive: true });
      await fs.rename(join(out, r), join(src, r));
    }
    return paths;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
