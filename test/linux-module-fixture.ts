/**
 * The second Linux fixture (issue 14): the first fixture's kernel (test/linux-fixture.ts) with a
 * loadable module of our own, guests/linux-module/rewind_demo.c (a timer that writes past a
 * kmalloc'ed buffer), which the workload loads, unloads and loads again; recorded with KASLR on.
 * The module is built against Debian's linux-headers package for the fixture's kernel, fetched
 * with apt-get download and unpacked without installing (no root needed once the package lists
 * are there). Cached in the folder `module/` inside the first fixture's folder, keyed by the
 * module's sources and the scripts, rebuilt when they change (or with the fixture).
 *
 *   node out/test/linux-module-fixture.js     # build it (or print where the cached one is)
 *
 * The workload, after "go" arrives: `insmod rewind_demo.ko`, prints the module's .text, .data
 * and .bss addresses from /sys/module/rewind_demo/sections/ ("rewind-module: load 1 .text 0x..."),
 * lets the timer tick for 2 s (its 24 writes into the 20-byte buffer take about 1.2 s), `rmmod`,
 * loads FILLER_MODULE where it was, loads ours again and prints load 2's addresses, 2 s more, then a panic through sysrq 'c' as the
 * first fixture does (panic=-1: the guest reboots, which ends the run) with the module loaded.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import type { ConsoleLine } from '../recorder-bridge/src/record/console';
import { record } from '../recorder-bridge/src/record/recorder';
import { kaslrOffsetOfBundle } from '../recorder-bridge/src/replay/kaslr-offset';
import { ROOT } from './helpers';
import { aptDownload, aptQuery, ensureLinuxFixture, fixtureOrSkip, INIT_PRELUDE, type LinuxFixture } from './linux-fixture';
import { buildInitramfs } from './linux-initramfs';

const execFileAsync = promisify(execFile);

const MODULE_FIXTURE_VERSION = 1;
/**
 * A small module of the kernel's own package, loaded between the two loads of ours: it takes the
 * module area the first load freed (first fit), so that the second load is at other addresses and
 * a test can tell the loads apart by address.
 */
export const FILLER_MODULE = 'virtio_pci_legacy_dev';
export const MODULE_NAME = 'rewind_demo';
export const MODULE_MARKER = 'rewind-module';
/** The module's sources (guests/linux-module/), copied into the cache to build. */
export const MODULE_SOURCE_DIR = join(ROOT, 'guests', 'linux-module');
const MODULE_SOURCES = ['rewind_demo.c', 'Kbuild', 'Makefile'];
/** The sections whose addresses the workload prints for each load. */
export const PRINTED_SECTIONS = ['.text', '.data', '.bss'];

/** The workload's init (busybox sh). No `${` in it but the markers: it is a template literal. */
const MODULE_INIT = `${INIT_PRELUDE}echo "${MODULE_MARKER}: ready"
read -r line
echo "${MODULE_MARKER}: got $line"
sections() {
  for s in ${PRINTED_SECTIONS.join(' ')}; do
    echo "${MODULE_MARKER}: load $1 $s $(cat /sys/module/${MODULE_NAME}/sections/$s)"
  done
}
insmod /lib/modules/${MODULE_NAME}.ko || echo "${MODULE_MARKER}: insmod 1 failed"
sections 1
sleep 2
rmmod ${MODULE_NAME} || echo "${MODULE_MARKER}: rmmod failed"
echo "${MODULE_MARKER}: unloaded"
insmod /lib/modules/${FILLER_MODULE}.ko || echo "${MODULE_MARKER}: insmod ${FILLER_MODULE} failed"
echo "${MODULE_MARKER}: filler .text $(cat /sys/module/${FILLER_MODULE}/sections/.text)"
insmod /lib/modules/${MODULE_NAME}.ko || echo "${MODULE_MARKER}: insmod 2 failed"
sections 2
sleep 2
echo 1 > /proc/sys/kernel/sysrq
echo "${MODULE_MARKER}: crashing on purpose"
echo c > /proc/sysrq-trigger
`;

const MODULE_INPUT = `# Drives the Linux module fixture's workload (test/linux-module-fixture.ts).
expect ${MODULE_MARKER}: ready
send go\\n
expect ${MODULE_MARKER}: crashing on purpose
`;

/** One load of the module, as the guest printed it. */
export interface ModuleLoad {
  /** 1 for the first load, 2 for the second. */
  load: number;
  /** Section name -> address as printed (e.g. "0xffffffffc0a1b000"). */
  sections: Record<string, string>;
  /** The console time point of the load's .text line (the module is loaded there). */
  icount: number;
  /** The kmalloc'ed buffer the timer overflows, as the module's init printed it (hex, no 0x). */
  buffer?: string;
}

export interface ModuleInfo {
  name: string;
  /** The .ko the guest loaded, with its debug info. */
  ko: string;
  /** The GNU build-id (hex), from readelf -n. */
  buildId: string;
  /** From the .ko's .modinfo (what `modinfo -F vermagic` prints). */
  vermagic: string;
  loads: ModuleLoad[];
}

export interface LinuxModuleFixture extends LinuxFixture {
  module: ModuleInfo;
  /** The kernel's KASLR offset in this recording (hex), as `rewind info --vmlinux` finds it. */
  kaslrOffset: string;
  /** Seconds the build took (headers, module, recording), for the docs. */
  buildSeconds: number;
}

function log(line: string): void {
  process.stderr.write(`linux-module-fixture: ${line}\n`);
}

/** The fixture for a test, or why it must be skipped (see linuxFixtureOrSkip). */
export function linuxModuleFixtureOrSkip(): Promise<{ fixture?: LinuxModuleFixture; skip?: string }> {
  return fixtureOrSkip('the Linux module fixture', 'linux-module-fixture', ensureLinuxModuleFixture);
}

/** Returns the cached module fixture, building it first when needed. */
export async function ensureLinuxModuleFixture(): Promise<LinuxModuleFixture> {
  const started = Date.now();
  const fixture = await ensureLinuxFixture();
  const dir = join(dirname(fixture.bundle), 'module');
  const meta = join(dir, 'fixture.json');
  const workloadId = await moduleWorkloadId(fixture);
  if (existsSync(meta)) {
    const f = JSON.parse(await fs.readFile(meta, 'utf8')) as LinuxModuleFixture & { workloadId: string };
    if (f.workloadId === workloadId && existsSync(f.bundle) && existsSync(f.module.ko)) return f;
  }
  await clearExceptHeaders(dir);
  const kdir = await kernelHeaders(fixture, join(dir, 'headers'));
  const ko = await buildModule(kdir, join(dir, 'build'));
  const initrd = join(dir, 'initramfs.cpio.gz');
  await fs.writeFile(initrd, await buildInitramfs(fixture, { init: MODULE_INIT, modules: [FILLER_MODULE], files: [{ name: `lib/modules/${MODULE_NAME}.ko`, data: await fs.readFile(ko) }] }));
  const input = join(dir, 'workload-input.txt');
  await fs.writeFile(input, MODULE_INPUT);
  log(`recording the module workload with KASLR on (${fixture.release}) into ${dir}`);
  const bundle = join(dir, 'linux.rewind');
  const result = await record({ kernel: fixture.bzImage, initrd, input, out: bundle, timeoutSeconds: 300, append: 'panic=-1', kaslr: true });
  if (result.stopReason !== 'guest-poweroff') throw new Error(`the module fixture's recording ended with ${result.stopReason} (${result.stopDetail ?? ''}); see ${bundle}/console.txt`);
  const b = await Bundle.open(bundle);
  const loads = parseLoads(await b.consoleLines());
  if (loads.length !== 2) throw new Error(`the module fixture's console shows ${loads.length} loads of ${MODULE_NAME} with their sections, not 2; see ${bundle}/console.txt`);
  log('finding the KASLR offset');
  const offset = await kaslrOffsetOfBundle(bundle, b.manifest.guest.kernel.linuxVersion, fixture.vmlinux);
  const module: ModuleInfo = { name: MODULE_NAME, ko, ...(await koIdentity(ko)), loads };
  const f = { ...fixture, bundle, initrd, totalIcount: b.manifest.recording.totalIcount, module, kaslrOffset: `0x${offset.toString(16)}`, buildSeconds: Math.round((Date.now() - started) / 1000), workloadId };
  await fs.writeFile(meta, JSON.stringify(f, null, 2) + '\n');
  log(`ready: ${bundle} (${(f.totalIcount / 1e9).toFixed(2)}G instructions, built in ${f.buildSeconds} s)`);
  return f;
}

/** What the cached fixture depends on: this file's version, the scripts, the module's sources, the kernel. */
async function moduleWorkloadId(fixture: LinuxFixture): Promise<string> {
  const hash = createHash('sha256').update(`${MODULE_FIXTURE_VERSION}\n${MODULE_INIT}\n${MODULE_INPUT}\n${fixture.release}_${fixture.packageVersion}\n`);
  for (const name of MODULE_SOURCES) hash.update(await fs.readFile(join(MODULE_SOURCE_DIR, name)));
  return hash.digest('hex').slice(0, 12);
}

/** Empties the fixture's folder but for the unpacked headers (they depend on the kernel only). */
async function clearExceptHeaders(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const name of await fs.readdir(dir)) {
    if (name !== 'headers') await fs.rm(join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Debian's kbuild tree for the fixture's kernel, unpacked under `dir`: linux-headers-RELEASE and
 * what it depends on from the same source package (linux-headers-ABI-common, linux-kbuild-X.Y),
 * all at the kernel's version. Returns the folder to give `make -C`. Cached with a marker file.
 */
export async function kernelHeaders(fixture: LinuxFixture, dir: string): Promise<string> {
  const kdir = join(dir, `usr/src/linux-headers-${fixture.release}`);
  const ready = join(dir, '.ready');
  if (existsSync(ready) && (await fs.readFile(ready, 'utf8')) === fixture.packageVersion) return kdir;
  await fs.rm(dir, { recursive: true, force: true });
  const debs = join(dir, 'debs');
  await fs.mkdir(debs, { recursive: true });
  const packages = await headerPackages(fixture);
  log(`downloading ${packages.join(', ')} with apt-get`);
  await aptDownload(debs, packages.map((p) => `${p}=${fixture.packageVersion}`));
  for (const deb of await fs.readdir(debs)) await execFileAsync('dpkg-deb', ['-x', join(debs, deb), dir]);
  await fs.rm(debs, { recursive: true, force: true });
  await pointMakefileAtUnpackedTree(kdir, dir);
  await fs.writeFile(ready, fixture.packageVersion);
  return kdir;
}

/** linux-headers-RELEASE and its linux-headers-* / linux-kbuild-* dependencies (apt-cache depends). */
async function headerPackages(fixture: LinuxFixture): Promise<string[]> {
  const pkg = `linux-headers-${fixture.release}`;
  const depends = await aptQuery(['apt-cache', 'depends', `${pkg}=${fixture.packageVersion}`]);
  // linux-compiler-gcc-N-x86 is left out: it only pulls in gcc-N, which kbuild runs from the host.
  const deps = [...depends.matchAll(/Depends:\s+(linux-(?:headers|kbuild)-\S+)/g)].map((m) => m[1]!);
  if (!deps.length) throw new Error(`apt-cache knows no dependencies of ${pkg}=${fixture.packageVersion}; as root, run apt-get update first`);
  return [pkg, ...new Set(deps)];
}

/**
 * The flavour's Makefile is one line, `include /usr/src/linux-headers-ABI-common/Makefile`: an
 * absolute path, where the package would be installed. Point it at the unpacked copy instead. The
 * other links in the tree (scripts/ and tools/ -> ../../lib/linux-kbuild-X.Y/, the prebuilt
 * modpost, objtool and friends) are relative, so they resolve inside `root` as they are.
 */
async function pointMakefileAtUnpackedTree(kdir: string, root: string): Promise<void> {
  const makefile = join(kdir, 'Makefile');
  const text = await fs.readFile(makefile, 'utf8');
  const fixed = text.replace(/^include \/usr\/src\//m, `include ${root}/usr/src/`);
  if (fixed === text) throw new Error(`${makefile} does not include a tree under /usr/src/ as expected: ${text.trim()}`);
  await fs.writeFile(makefile, fixed);
}

/** Builds the module out of tree (guests/linux-module/Makefile, KDIR = the headers) in `dir`. */
async function buildModule(kdir: string, dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  for (const name of MODULE_SOURCES) await fs.copyFile(join(MODULE_SOURCE_DIR, name), join(dir, name));
  log(`building ${MODULE_NAME}.ko against ${kdir}`);
  try {
    await execFileAsync('make', ['-C', dir, `KDIR=${kdir}`, 'modules'], { maxBuffer: 1 << 24 });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`building ${MODULE_NAME}.ko failed: ${(err.stderr || err.stdout || err.message).trim().split('\n').slice(-15).join('\n')}`);
  }
  return join(dir, `${MODULE_NAME}.ko`);
}

/** The .ko's build-id (readelf -n) and vermagic (its .modinfo, as `modinfo -F vermagic` reads it). */
export async function koIdentity(ko: string): Promise<{ buildId: string; vermagic: string }> {
  const notes = (await execFileAsync('readelf', ['-n', ko])).stdout;
  const buildId = /Build ID:\s*([0-9a-f]+)/.exec(notes)?.[1];
  const modinfo = (await execFileAsync('readelf', ['-p', '.modinfo', ko])).stdout;
  const vermagic = /\]\s+vermagic=(.*\S)\s*$/m.exec(modinfo)?.[1];
  if (!buildId || !vermagic) throw new Error(`${ko} has no ${buildId ? 'vermagic in .modinfo' : 'build-id note'}`);
  return { buildId, vermagic };
}

/**
 * The loads the guest printed ("rewind-module: load N SECTION ADDRESS"), in order, each with the
 * buffer address its init printed to the kernel log just before.
 */
export function parseLoads(lines: ConsoleLine[]): ModuleLoad[] {
  const loads: ModuleLoad[] = [];
  let buffer: string | undefined;
  for (const line of lines) {
    buffer = new RegExp(`${MODULE_NAME}: loaded, buffer at ([0-9a-f]+)`).exec(line.text)?.[1] ?? buffer;
    const m = new RegExp(`^${MODULE_MARKER}: load (\\d+) (\\.\\w+) (0x[0-9a-f]+)\\s*$`).exec(line.text);
    if (!m) continue;
    const n = Number(m[1]);
    let load = loads.find((l) => l.load === n);
    if (!load) loads.push((load = { load: n, sections: {}, icount: line.icount ?? 0, ...(buffer ? { buffer } : {}) }));
    load.sections[m[2]!] = m[3]!;
    if (m[2] === '.text') load.icount = line.icount ?? 0;
  }
  return loads;
}

if (require.main === module) {
  ensureLinuxModuleFixture().then(
    (f) => process.stdout.write(JSON.stringify(f, null, 2) + '\n'),
    (e: Error) => {
      process.stderr.write(`linux-module-fixture: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
