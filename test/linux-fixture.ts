/**
 * The Linux test fixture: a real recording of Debian's cloud kernel booting a busybox initramfs and
 * running a small scripted workload, with the matching vmlinux for symbols. Everything comes from
 * Debian's repositories through apt-get (the kernel image package, its -dbg package, and
 * busybox-static); the result is cached under .rewind-cache/linux/RELEASE/ and reused while the
 * files are there.
 *
 *   node out/test/linux-fixture.js            # build it (or print where the cached one is)
 *
 * The workload (init script below) does, in order, after "go" arrives on the console:
 *   - three writes of exactly WRITE_BYTES bytes by `dd` (ksys_write, comm "dd");
 *   - a line written to /dev/kmsg (the kernel log grows: dmesg differs before and after);
 *   - a crash through sysrq 'c': panic(), and with panic=-1 the guest reboots, which ends the run.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { record } from '../recorder-bridge/src/record/recorder';
import { ROOT } from './helpers';

const execFileAsync = promisify(execFile);

/** The Debian meta package whose dependency names the current cloud kernel. */
const META_PACKAGE = 'linux-image-cloud-amd64';
/** Bytes per `dd` write in the workload: a value no other write in the run has. */
export const WRITE_BYTES = 4321;
export const WRITE_COUNT = 3;
export const KMSG_MARKER = 'rewind-workload: kernel log marker';
const FIXTURE_VERSION = 1;

export interface LinuxFixture {
  /** The recording bundle. */
  bundle: string;
  /** The matching vmlinux (DWARF). */
  vmlinux: string;
  bzImage: string;
  initrd: string;
  /** e.g. 6.1.0-56-cloud-amd64 */
  release: string;
  /** The Debian package version, e.g. 6.1.190-1 */
  packageVersion: string;
  totalIcount: number;
}

/** The first lines of a busybox /init: the applets, /proc, /sys and /dev. */
export const INIT_PRELUDE = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
`;

const INIT_SCRIPT = `${INIT_PRELUDE}echo "rewind-workload: ready"
read -r line
echo "rewind-workload: got $line"
dd if=/dev/zero of=/tmp/writes bs=${WRITE_BYTES} count=${WRITE_COUNT} 2>/dev/null
echo "rewind-workload: wrote $(wc -c < /tmp/writes) bytes"
echo "${KMSG_MARKER}" > /dev/kmsg
echo 1 > /proc/sys/kernel/sysrq
echo "rewind-workload: crashing on purpose"
echo c > /proc/sysrq-trigger
`;

const INPUT_SCRIPT = `# Drives the Linux fixture's workload (test/linux-fixture.ts).
expect rewind-workload: ready
send go\\n
expect rewind-workload: crashing on purpose
`;

function log(line: string): void {
  process.stderr.write(`linux-fixture: ${line}\n`);
}

/** The cache folder (REWIND_CACHE_DIR overrides it). */
export function cacheRoot(): string {
  return join(process.env.REWIND_CACHE_DIR ?? join(ROOT, '.rewind-cache'), 'linux');
}

/**
 * The fixture for a test, or why the test must be skipped: only without root can it be impossible
 * to build (apt-get needs root for its package lists).
 */
export function linuxFixtureOrSkip(): Promise<{ fixture?: LinuxFixture; skip?: string }> {
  return fixtureOrSkip('the Linux fixture', 'linux-fixture', ensureLinuxFixture);
}

/** A fixture built by `build` (its CLI is out/test/CLI.js), or why a test must skip it (see linuxFixtureOrSkip). */
export async function fixtureOrSkip<F>(what: string, cli: string, build: () => Promise<F>): Promise<{ fixture?: F; skip?: string }> {
  try {
    return { fixture: await build() };
  } catch (e) {
    if (process.getuid?.() !== 0) {
      return { skip: `${what} cannot be built as a non-root user (${(e as Error).message}); run \`node out/test/${cli}.js\` as root once` };
    }
    throw e;
  }
}

/** Returns the cached fixture, building it first when needed. */
export async function ensureLinuxFixture(): Promise<LinuxFixture> {
  const { pkg, release, version } = await currentKernel();
  const dir = join(cacheRoot(), `${release}_${version}`);
  const meta = join(dir, 'fixture.json');
  const workloadId = createHash('sha256').update(`${FIXTURE_VERSION}\n${INIT_SCRIPT}\n${INPUT_SCRIPT}`).digest('hex').slice(0, 12);
  if (existsSync(meta)) {
    const f = JSON.parse(await fs.readFile(meta, 'utf8')) as LinuxFixture & { workloadId: string };
    if (f.workloadId === workloadId && existsSync(f.bundle) && existsSync(f.vmlinux)) return f;
  }
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const debs = join(dir, 'debs');
  await fs.mkdir(debs);
  log(`downloading ${pkg}, ${pkg}-dbg and busybox-static with apt-get`);
  await aptDownload(debs, [`${pkg}=${version}`, `${pkg}-dbg=${version}`, 'busybox-static']);
  const files = await fs.readdir(debs);
  const deb = (prefix: string) => join(debs, files.find((f) => f.startsWith(prefix + '_'))!);
  const bzImage = join(dir, `vmlinuz-${release}`);
  const vmlinux = join(dir, `vmlinux-${release}`);
  log('extracting the kernel, its vmlinux (about 600 MB) and busybox');
  await extractMember(deb(pkg), `./boot/vmlinuz-${release}`, bzImage);
  await extractMember(deb(`${pkg}-dbg`), `./usr/lib/debug/boot/vmlinux-${release}`, vmlinux);
  const busybox = join(dir, 'busybox');
  await extractMember(deb('busybox-static'), './bin/busybox', busybox);
  await fs.rm(debs, { recursive: true, force: true });

  const initrd = join(dir, 'initramfs.cpio.gz');
  await fs.writeFile(
    initrd,
    gzipSync(
      newcArchive([
        { name: 'bin', mode: 0o040755 },
        { name: 'dev', mode: 0o040755 },
        { name: 'dev/console', mode: 0o020600, rdev: [5, 1] },
        { name: 'proc', mode: 0o040755 },
        { name: 'sys', mode: 0o040755 },
        { name: 'tmp', mode: 0o041777 },
        { name: 'bin/busybox', mode: 0o100755, data: await fs.readFile(busybox) },
        { name: 'init', mode: 0o100755, data: Buffer.from(INIT_SCRIPT) },
      ]),
    ),
  );
  const input = join(dir, 'workload-input.txt');
  await fs.writeFile(input, INPUT_SCRIPT);
  log('recording the boot and the workload');
  const bundle = join(dir, 'linux.rewind');
  const result = await record({ kernel: bzImage, initrd, input, out: bundle, timeoutSeconds: 300, append: 'panic=-1' });
  if (result.stopReason !== 'guest-poweroff') throw new Error(`the Linux fixture's recording ended with ${result.stopReason} (${result.stopDetail ?? ''}); see ${bundle}/console.txt`);
  const b = await Bundle.open(bundle);
  const fixture = { bundle, vmlinux, bzImage, initrd, release, packageVersion: version, totalIcount: b.manifest.recording.totalIcount, workloadId };
  if (fixture.totalIcount < 1e9) throw new Error(`the Linux fixture's recording has only ${fixture.totalIcount} instructions (at least 1e9 expected)`);
  await fs.writeFile(meta, JSON.stringify(fixture, null, 2) + '\n');
  log(`ready: ${bundle} (${(fixture.totalIcount / 1e9).toFixed(2)}G instructions)`);
  return fixture;
}

/** The current cloud kernel package: what linux-image-cloud-amd64 depends on, and its version. */
async function currentKernel(): Promise<{ pkg: string; release: string; version: string }> {
  const depends = await aptQuery(['apt-cache', 'depends', META_PACKAGE]);
  const pkg = /Depends:\s+(linux-image-[0-9][^\s]*-cloud-amd64)\b/.exec(depends)?.[1];
  if (!pkg) throw new Error(`apt-cache does not know ${META_PACKAGE}'s kernel; run apt-get update (as root) and try again`);
  const policy = await aptQuery(['apt-cache', 'policy', pkg]);
  const version = /Candidate:\s+(\S+)/.exec(policy)?.[1];
  if (!version || version === '(none)') throw new Error(`no installable version of ${pkg}; run apt-get update (as root)`);
  return { pkg, release: pkg.replace(/^linux-image-/, ''), version };
}

export async function aptQuery(argv: string[]): Promise<string> {
  const run = () => execFileAsync(argv[0]!, argv.slice(1), { maxBuffer: 1 << 24 }).then((r) => r.stdout);
  const out = await run().catch(() => '');
  if (out.includes('Depends:') || out.includes('Candidate:')) return out;
  // A fresh machine may have no package lists yet.
  if (process.getuid?.() === 0) {
    log('apt-get update');
    await execFileAsync('apt-get', ['update', '-qq'], { maxBuffer: 1 << 24 });
    return run();
  }
  return out;
}

export async function aptDownload(dir: string, packages: string[]): Promise<void> {
  try {
    await execFileAsync('apt-get', ['download', '-qq', ...packages], { cwd: dir, maxBuffer: 1 << 24 });
  } catch (e) {
    throw new Error(`apt-get download ${packages.join(' ')} failed (${(e as Error).message.trim().split('\n').pop()}); as root, run apt-get update first`);
  }
}

/** One file out of a .deb, streamed (the -dbg package is large). */
async function extractMember(deb: string, member: string, out: string): Promise<void> {
  const dpkg = spawn('dpkg-deb', ['--fsys-tarfile', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
  const tar = spawn('tar', ['-xO', member], { stdio: ['pipe', 'pipe', 'pipe'] });
  dpkg.stdout.pipe(tar.stdin);
  let err = '';
  dpkg.stderr.on('data', (d: Buffer) => (err += d.toString()));
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => tar.on('close', resolve));
  await pipeline(tar.stdout, createWriteStream(out, { mode: 0o644 }));
  const code = await exited;
  if (code !== 0) throw new Error(`cannot extract ${member} from ${deb}: ${err.trim()}`);
}

interface CpioEntry {
  name: string;
  mode: number;
  data?: Buffer;
  rdev?: [number, number];
}

/** A cpio archive in the "newc" format the kernel unpacks as an initramfs. */
export function newcArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const push = (e: CpioEntry, ino: number) => {
    const name = Buffer.from(e.name + '\0');
    const data = e.data ?? Buffer.alloc(0);
    const header =
      '070701' +
      [ino, e.mode, 0, 0, (e.mode & 0o170000) === 0o040000 ? 2 : 1, 0, data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0].map(hex).join('');
    parts.push(Buffer.from(header, 'latin1'), name, pad4(110 + name.length), data, pad4(data.length));
  };
  entries.forEach((e, i) => push(e, i + 1));
  push({ name: 'TRAILER!!!', mode: 0 }, 0);
  return Buffer.concat(parts);
}

if (require.main === module) {
  ensureLinuxFixture().then(
    (f) => process.stdout.write(JSON.stringify(f, null, 2) + '\n'),
    (e: Error) => {
      process.stderr.write(`linux-fixture: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
