/**
 * The Linux kernel's own gdb helpers (scripts/gdb: lx-ps, lx-lsmod, lx-dmesg, ...) for the Linux
 * fixture's kernel (issue 14): what a kernel developer sources with Rewind's "setupCommands"
 * (`source DIR/vmlinux-gdb.py`). Debian ships no built copy of them, so they come from the
 * kernel's source package at the fixture's exact version, fetched with apt-get only (no root
 * needed once the package lists are there):
 *
 *   apt-get download linux-source-X.Y=VERSION; dpkg-deb -x; tar -xJf ... linux-source-X.Y/scripts/gdb
 *
 * scripts/gdb/linux/constants.py is generated: the kernel's `make scripts_gdb` runs the C
 * preprocessor on constants.py.in with the kernel's config and headers. We run that very rule
 * (scripts/gdb/linux/Makefile, `cmd_gen_constants_py`) through kbuild, as an external build
 * (`make -C KDIR M=...`) against the unpacked linux-headers tree the module fixture uses
 * (kernelHeaders in test/linux-module-fixture.ts: the flavour's .config, include/generated and
 * the same c_flags a module gets), so no full kernel tree is needed.
 *
 * Cached in the folder `gdb-scripts/` of the fixture's folder, rebuilt only when missing (or
 * for another kernel version):
 *
 *   gdb-scripts/vmlinux-gdb.py            the loader (it adds DIR/scripts/gdb to Python's path)
 *   gdb-scripts/scripts/gdb/linux/*.py    the helpers, constants.py included
 *   gdb-scripts/gdb-scripts.json          what was built from what, and how long it took
 *
 *   node out/test/linux-gdb-scripts.js    # build them (or print where the cached ones are)
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { aptDownload, cacheRoot, fixtureOrSkip, type LinuxFixture } from './linux-fixture';
import { ensureLinuxModuleFixture, kernelHeaders, type LinuxModuleFixture } from './linux-module-fixture';

const execFileAsync = promisify(execFile);

const GDB_SCRIPTS_VERSION = 1;

export interface LinuxGdbScripts {
  /** The folder: give `source <dir>/vmlinux-gdb.py` to gdb. */
  dir: string;
  /** <dir>/vmlinux-gdb.py. */
  loader: string;
  release: string;
  packageVersion: string;
  /** The source package they came from, as apt-get downloaded it ("linux-source-6.1=6.1.192-3"). */
  sourcePackage: string;
  /** The kbuild tree constants.py was generated with. */
  headers: string;
  /** Seconds the build took (download, unpacking, constants.py), for the docs. */
  buildSeconds: number;
  version: number;
}

function log(line: string): void {
  process.stderr.write(`linux-gdb-scripts: ${line}\n`);
}

/** The module fixture and the gdb scripts for its kernel, or why a test must skip (see linuxFixtureOrSkip). */
export function linuxGdbScriptsOrSkip(): Promise<{ fixture?: { module: LinuxModuleFixture; scripts: LinuxGdbScripts }; skip?: string }> {
  return fixtureOrSkip('the Linux module fixture with the kernel\'s gdb scripts', 'linux-gdb-scripts', async () => {
    const module = await ensureLinuxModuleFixture();
    return { module, scripts: await ensureLinuxGdbScripts(module) };
  });
}

/** The fixture's folder (the first fixture's; the module fixture's is inside it). */
function fixtureDir(fixture: LinuxFixture): string {
  return join(cacheRoot(), `${fixture.release}_${fixture.packageVersion}`);
}

/** Returns the cached gdb scripts for the fixture's kernel, building them first when needed. */
export async function ensureLinuxGdbScripts(fixture: LinuxFixture): Promise<LinuxGdbScripts> {
  const started = Date.now();
  const dir = join(fixtureDir(fixture), 'gdb-scripts');
  const meta = join(dir, 'gdb-scripts.json');
  if (existsSync(meta)) {
    const s = JSON.parse(await fs.readFile(meta, 'utf8')) as LinuxGdbScripts;
    if (s.version === GDB_SCRIPTS_VERSION && s.packageVersion === fixture.packageVersion && existsSync(s.loader) && existsSync(join(dir, 'scripts/gdb/linux/constants.py'))) return s;
  }
  await fs.rm(dir, { recursive: true, force: true });
  const work = join(dir, '.work');
  await fs.mkdir(work, { recursive: true });
  const sourcePackage = `${sourcePackageName(fixture)}=${fixture.packageVersion}`;
  const tree = await unpackScriptsGdb(sourcePackage, work);
  await fs.cp(join(tree, 'scripts/gdb'), join(dir, 'scripts/gdb'), { recursive: true });
  // In a kernel build tree, vmlinux-gdb.py is a link to scripts/gdb/vmlinux-gdb.py at the top; a
  // copy does as well: it finds the helpers from its own path (os.path.abspath(__file__)).
  const loader = join(dir, 'vmlinux-gdb.py');
  await fs.copyFile(join(tree, 'scripts/gdb/vmlinux-gdb.py'), loader);
  const headers = await kernelHeaders(fixture, join(fixtureDir(fixture), 'module', 'headers'));
  await fs.writeFile(join(dir, 'scripts/gdb/linux/constants.py'), await generateConstants(headers, join(tree, 'scripts/gdb/linux'), join(work, 'constants')));
  await fs.rm(work, { recursive: true, force: true });
  const s: LinuxGdbScripts = { dir, loader, release: fixture.release, packageVersion: fixture.packageVersion, sourcePackage, headers, buildSeconds: Math.round((Date.now() - started) / 1000), version: GDB_SCRIPTS_VERSION };
  await fs.writeFile(meta, JSON.stringify(s, null, 2) + '\n');
  log(`ready: ${loader} (built in ${s.buildSeconds} s)`);
  return s;
}

/** Debian's source package for the kernel: linux-source-X.Y, X.Y from the package version (6.1.192-3 -> 6.1). */
export function sourcePackageName(fixture: LinuxFixture): string {
  const majorMinor = /^(\d+\.\d+)\./.exec(fixture.packageVersion)?.[1];
  if (!majorMinor) throw new Error(`cannot tell the kernel's X.Y from its package version "${fixture.packageVersion}"`);
  return `linux-source-${majorMinor}`;
}

/**
 * Downloads the source package into `work`, unpacks it (dpkg-deb -x: no installing) and takes only
 * scripts/gdb out of its tarball (about 15 s: xz reads the whole 140 MB). Returns the kernel tree's
 * folder, holding scripts/gdb only.
 */
async function unpackScriptsGdb(sourcePackage: string, work: string): Promise<string> {
  const name = sourcePackage.split('=')[0]!;
  const debs = join(work, 'debs');
  await fs.mkdir(debs);
  log(`downloading ${sourcePackage} (about 140 MB) with apt-get`);
  await aptDownload(debs, [sourcePackage]);
  const [deb] = await fs.readdir(debs);
  if (!deb) throw new Error(`apt-get download ${sourcePackage} left no .deb in ${debs}`);
  await run('dpkg-deb', ['-x', join(debs, deb), join(work, 'root')], `unpacking ${deb} failed (dpkg-deb comes with dpkg)`);
  const tarball = join(work, 'root', 'usr/src', `${name}.tar.xz`);
  if (!existsSync(tarball)) throw new Error(`${deb} has no ${tarball.slice(join(work, 'root').length)}: Debian's layout of the package changed`);
  log(`extracting ${name}/scripts/gdb from ${tarball}`);
  await run('tar', ['-xJf', tarball, '-C', work, `${name}/scripts/gdb`], `extracting scripts/gdb from ${tarball} failed (tar needs xz-utils for -J)`);
  await fs.rm(join(work, 'root'), { recursive: true, force: true });
  await fs.rm(debs, { recursive: true, force: true });
  return join(work, name);
}

/**
 * constants.py for this kernel's config, made by the kernel's own rule: scripts/gdb/linux/Makefile
 * (`$(CPP) -E -x c -P $(c_flags) constants.py.in`, then cutting everything above the
 * "end-c-headers" marker) run by kbuild as an external build against the headers tree `kdir`, in
 * a scratch folder `build` holding that Makefile and constants.py.in.
 */
async function generateConstants(kdir: string, linuxDir: string, build: string): Promise<string> {
  await fs.mkdir(build, { recursive: true });
  for (const name of ['Makefile', 'constants.py.in']) await fs.copyFile(join(linuxDir, name), join(build, name));
  log(`generating constants.py with kbuild (make -C ${kdir} M=${build})`);
  await run('make', ['-C', kdir, `M=${build}`], 'generating constants.py failed (it needs make and gcc, as building a module does)');
  const text = await fs.readFile(join(build, 'constants.py'), 'utf8');
  // What the rest of the scripts read from it: a wrong cut or an unexpanded macro shows here.
  if (!/^LX_NR_CPUS = \d+$/m.test(text) || !/^LX_CONFIG_DEBUG_INFO_REDUCED = 0$/m.test(text) || /LX_(VALUE|CONFIG|GDBPARSED)\(|#include/.test(text)) {
    throw new Error(`the generated ${join(build, 'constants.py')} does not look right (expected LX_NR_CPUS = N and LX_CONFIG_DEBUG_INFO_REDUCED = 0, all macros expanded):\n${text.slice(0, 2000)}`);
  }
  return text;
}

/** Runs a tool; on failure, an error saying `what` with the end of its output. */
async function run(file: string, args: string[], what: string): Promise<void> {
  try {
    await execFileAsync(file, args, { maxBuffer: 1 << 24 });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${what}: ${(err.stderr || err.stdout || err.message).trim().split('\n').slice(-15).join('\n')}`);
  }
}

if (require.main === module) {
  (async () => ensureLinuxGdbScripts(await ensureLinuxModuleFixture()))().then(
    (s) => process.stdout.write(JSON.stringify(s, null, 2) + '\n'),
    (e: Error) => {
      process.stderr.write(`linux-gdb-scripts: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
