/**
 * Initramfs images for tests that boot the Linux fixture's kernel (test/linux-fixture.ts) with an
 * init script of their own, optionally with kernel modules from the same Debian kernel package.
 *
 * Debian's cloud kernel has no disk driver QEMU can snapshot built in (NVMe is built in, but QEMU 7.2
 * refuses to snapshot it), so a guest with a virtio-blk disk loads virtio_pci and virtio_blk from
 * its initramfs. The modules come from the kernel's own package (apt-get download, the same version
 * as the fixture's kernel) and are cached under .rewind-cache/linux/modules/.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { cacheRoot, ensureLinuxFixture, newcArchive, type LinuxFixture } from './linux-fixture';

const execFileAsync = promisify(execFile);

/** What a virtio-blk disk needs, in load order (each after the modules it depends on). */
export const VIRTIO_BLK_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'virtio_blk'];

/** Where each module lives under /lib/modules/RELEASE/kernel/ in the package. */
const MODULE_DIRS: Record<string, string> = {
  virtio_ring: 'drivers/virtio',
  virtio: 'drivers/virtio',
  virtio_pci_modern_dev: 'drivers/virtio',
  virtio_pci_legacy_dev: 'drivers/virtio',
  virtio_pci: 'drivers/virtio',
  virtio_blk: 'drivers/block',
};

/** Shell lines that load the modules put in the initramfs by buildInitramfs (from /lib/modules). */
export function insmodLines(modules: string[]): string {
  return modules.map((m) => `insmod /lib/modules/${m}.ko || echo "init: insmod ${m} failed"`).join('\n');
}

/** The fixture's busybox (a static binary cached next to its kernel). */
export function fixtureBusybox(f: LinuxFixture): string {
  const p = join(dirname(f.bzImage), 'busybox');
  if (!existsSync(p)) throw new Error(`the Linux fixture has no busybox at ${p}; remove ${dirname(f.bzImage)} and run node out/test/linux-fixture.js again`);
  return p;
}

/** The .ko files of `modules` from the fixture kernel's package, downloaded once and cached. */
export async function kernelModules(f: LinuxFixture, modules: string[]): Promise<Map<string, string>> {
  const dir = join(cacheRoot(), 'modules', `${f.release}_${f.packageVersion}`);
  const path = (m: string) => join(dir, `${m}.ko`);
  if (!modules.every((m) => existsSync(path(m)))) {
    const pkg = `linux-image-${f.release}`;
    const tmp = `${dir}.download`;
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(tmp, { recursive: true });
    try {
      try {
        await execFileAsync('apt-get', ['download', '-qq', `${pkg}=${f.packageVersion}`], { cwd: tmp, maxBuffer: 1 << 24 });
      } catch (e) {
        throw new Error(`apt-get download ${pkg}=${f.packageVersion} failed (${(e as Error).message.trim().split('\n').pop()}); as root, run apt-get update first`);
      }
      const deb = join(tmp, (await fs.readdir(tmp)).find((n) => n.endsWith('.deb'))!);
      const members = modules.map((m) => {
        const sub = MODULE_DIRS[m];
        if (!sub) throw new Error(`linux-initramfs: no known location for module ${m}`);
        return `./lib/modules/${f.release}/kernel/${sub}/${m}.ko`;
      });
      await extract(deb, members, tmp);
      await fs.mkdir(dir, { recursive: true });
      for (const m of modules) await fs.copyFile(join(tmp, `lib/modules/${f.release}/kernel/${MODULE_DIRS[m]}/${m}.ko`), path(m));
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }
  return new Map(modules.map((m) => [m, path(m)]));
}

async function extract(deb: string, members: string[], cwd: string): Promise<void> {
  const dpkg = spawn('dpkg-deb', ['--fsys-tarfile', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
  const tar = spawn('tar', ['-x', ...members], { cwd, stdio: ['pipe', 'ignore', 'pipe'] });
  dpkg.stdout.pipe(tar.stdin);
  let err = '';
  dpkg.stderr.on('data', (d: Buffer) => (err += d.toString()));
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => tar.on('close', resolve));
  if (code !== 0) throw new Error(`cannot extract ${members.join(', ')} from ${deb}: ${err.trim()}`);
}

export interface InitramfsOptions {
  /** The /init script (a busybox sh script; it starts with `#!/bin/busybox sh`). */
  init: string;
  /** Kernel modules to include under /lib/modules/NAME.ko (see insmodLines). */
  modules?: string[];
  /** More regular files (e.g. a module of our own), by their path in the image. */
  files?: Array<{ name: string; data: Buffer<ArrayBuffer> }>;
}

/** A gzip-compressed newc initramfs with busybox, /init and the modules, for the fixture's kernel. */
export async function buildInitramfs(f: LinuxFixture, opts: InitramfsOptions): Promise<Buffer> {
  const mods = opts.modules?.length ? await kernelModules(f, opts.modules) : new Map<string, string>();
  const entries = [
    { name: 'bin', mode: 0o040755 },
    { name: 'dev', mode: 0o040755 },
    { name: 'dev/console', mode: 0o020600, rdev: [5, 1] as [number, number] },
    { name: 'proc', mode: 0o040755 },
    { name: 'sys', mode: 0o040755 },
    { name: 'tmp', mode: 0o041777 },
    { name: 'mnt', mode: 0o040755 },
    { name: 'lib', mode: 0o040755 },
    { name: 'lib/modules', mode: 0o040755 },
    { name: 'bin/busybox', mode: 0o100755, data: await fs.readFile(fixtureBusybox(f)) },
    { name: 'init', mode: 0o100755, data: Buffer.from(opts.init) },
  ];
  for (const [m, p] of mods) entries.push({ name: `lib/modules/${m}.ko`, mode: 0o100644, data: await fs.readFile(p) });
  for (const f of opts.files ?? []) entries.push({ name: f.name, mode: 0o100644, data: f.data });
  return gzipSync(newcArchive(entries));
}

export { ensureLinuxFixture };
