/**
 * Linux recordings beside the fixture (test/linux-fixture.ts): the same kernel, vmlinux and
 * busybox (taken from the fixture's cache folder), booting another busybox initramfs with another
 * workload. Each is cached in a folder of its own inside the fixture's folder, keyed by its
 * scripts, and rebuilt when they change (or with the fixture).
 *
 *   node out/test/linux-workloads.js          # build the second workload (or print where it is)
 *
 * The second workload (bench/index-queries.ts --second-workload), after "go" arrives: it creates
 * 64 small files and reads them back, lists /proc/sys recursively into a file, sorts that listing,
 * copies it and checksums the copy, removes some files, then crashes through sysrq 'c' as the
 * fixture does (panic(); with panic=-1 the guest reboots, which ends the run).
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { record } from '../recorder-bridge/src/record/recorder';
import { ensureLinuxFixture, type LinuxFixture } from './linux-fixture';
import { buildInitramfs } from './linux-initramfs';

// 2: the initramfs comes from linux-initramfs.ts's buildInitramfs (three more empty folders: mnt, lib, lib/modules).
const WORKLOAD2_VERSION = 2;
export const WORKLOAD2_MARKER = 'rewind-workload2';

/** The second workload's init (busybox sh). No `${` in it: it is a template literal. */
export const WORKLOAD2_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "${WORKLOAD2_MARKER}: ready"
read -r line
echo "${WORKLOAD2_MARKER}: got $line"
mkdir -p /tmp/files
i=0
while [ $i -lt 64 ]; do
  echo "file $i of the second workload" > /tmp/files/f$i
  i=$((i + 1))
done
echo "${WORKLOAD2_MARKER}: read $(cat /tmp/files/* | wc -l) lines from $(ls /tmp/files | wc -l) files"
ls -R /proc/sys > /tmp/procsys.txt 2>/dev/null
echo "${WORKLOAD2_MARKER}: listed $(wc -l < /tmp/procsys.txt) lines of /proc/sys"
sort -r /tmp/procsys.txt > /tmp/sorted.txt
echo "${WORKLOAD2_MARKER}: sorted; first line $(head -n 1 /tmp/sorted.txt)"
cp /tmp/sorted.txt /tmp/copy.txt
echo "${WORKLOAD2_MARKER}: copy $(md5sum < /tmp/copy.txt)"
rm /tmp/files/f1*
echo "${WORKLOAD2_MARKER}: $(ls /tmp/files | wc -l) files left"
echo 1 > /proc/sys/kernel/sysrq
echo "${WORKLOAD2_MARKER}: crashing on purpose"
echo c > /proc/sysrq-trigger
`;

const WORKLOAD2_INPUT = `# Drives the second Linux workload (test/linux-workloads.ts).
expect ${WORKLOAD2_MARKER}: ready
send go\\n
expect ${WORKLOAD2_MARKER}: crashing on purpose
`;

/** A recording beside the fixture: the fixture's kernel files, with its own initramfs and bundle. */
export interface LinuxWorkload extends LinuxFixture {
  /** What the workload does, in a few words (for reports). */
  description: string;
}

function log(line: string): void {
  process.stderr.write(`linux-workloads: ${line}\n`);
}

/** The second workload, recorded (and cached) once; `signal` cancels the recording. */
export async function ensureSecondWorkload(opts: { signal?: AbortSignal } = {}): Promise<LinuxWorkload> {
  const fixture = await ensureLinuxFixture();
  const fixtureDir = dirname(fixture.bundle);
  const dir = join(fixtureDir, 'workload2');
  const meta = join(dir, 'workload.json');
  const workloadId = createHash('sha256').update(`${WORKLOAD2_VERSION}\n${WORKLOAD2_INIT}\n${WORKLOAD2_INPUT}\n${fixture.release}_${fixture.packageVersion}`).digest('hex').slice(0, 12);
  const description = 'creates 64 files and reads them back, `ls -R /proc/sys` into a file, `sort -r` of it, `cp` and `md5sum` of the sorted copy, `rm` of some files, then a panic through sysrq';
  if (existsSync(meta)) {
    const w = JSON.parse(await fs.readFile(meta, 'utf8')) as LinuxWorkload & { workloadId: string };
    if (w.workloadId === workloadId && existsSync(w.bundle) && existsSync(w.vmlinux)) return w;
  }
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const initrd = join(dir, 'initramfs.cpio.gz');
  await fs.writeFile(initrd, await buildInitramfs(fixture, { init: WORKLOAD2_INIT }));
  const input = join(dir, 'workload-input.txt');
  await fs.writeFile(input, WORKLOAD2_INPUT);
  log(`recording the second workload (${fixture.release}) into ${dir}`);
  const bundle = join(dir, 'linux.rewind');
  const result = await record({ kernel: fixture.bzImage, initrd, input, out: bundle, timeoutSeconds: 300, append: 'panic=-1', ...(opts.signal ? { signal: opts.signal } : {}) });
  if (result.stopReason !== 'guest-poweroff') throw new Error(`the second workload's recording ended with ${result.stopReason} (${result.stopDetail ?? ''}); see ${bundle}/console.txt`);
  const b = await Bundle.open(bundle);
  const w = { bundle, vmlinux: fixture.vmlinux, bzImage: fixture.bzImage, initrd, release: fixture.release, packageVersion: fixture.packageVersion, totalIcount: b.manifest.recording.totalIcount, description, workloadId };
  await fs.writeFile(meta, JSON.stringify(w, null, 2) + '\n');
  log(`ready: ${bundle} (${(w.totalIcount / 1e9).toFixed(2)}G instructions)`);
  return w;
}

if (require.main === module) {
  ensureSecondWorkload().then(
    (w) => process.stdout.write(JSON.stringify(w, null, 2) + '\n'),
    (e: Error) => {
      process.stderr.write(`linux-workloads: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
}
