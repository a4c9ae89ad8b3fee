import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_DISK_DEVICE, type DiskDevice } from '../bundle/drive';
import { UserError } from '../errors';
import { sha256OfFile } from '../util/hash';

/*
 * A disk image given to `rewind record --disk`. It is only ever read: `qemu-img convert` copies it
 * into the recording's snapshot store, which becomes the guest's disk (bundle/drive.ts).
 */

const execFileAsync = promisify(execFile);

/** Image formats Rewind records. Others can be converted to qcow2 with qemu-img first. */
const FORMATS = ['raw', 'qcow2'];

export interface DiskSetup {
  path: string;
  /** As qemu-img read it. */
  format: string;
  /** Bytes of the file. */
  size: number;
  /** Bytes the guest sees. */
  virtualSize: number;
  device: DiskDevice;
  /** The file's modification time when probed: a change while it is copied is an error. */
  mtimeMs: number;
}

const WHAT = 'pass a raw or qcow2 disk image file (Rewind copies it into the recording and never writes to it)';

/** Checks a --disk argument and reads its format and sizes. */
export async function probeDisk(given: string, qemuImg: string): Promise<DiskSetup> {
  const path = resolve(given);
  let st;
  try {
    st = await fs.stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`disk image not found: ${given}; check the path, or ${WHAT}`, 'disk-missing');
    throw new UserError(`cannot read the disk image ${given}: ${(e as Error).message}; ${WHAT}`, 'disk-unreadable');
  }
  if (st.isDirectory()) throw new UserError(`${given} is a directory, not a disk image; ${WHAT} (to make one from a folder: mke2fs -t ext2 -d FOLDER disk.img 64M)`, 'disk-invalid');
  if (!st.isFile()) throw new UserError(`${given} is not a regular file; ${WHAT}`, 'disk-invalid');
  if (st.size === 0) throw new UserError(`the disk image ${given} is empty; ${WHAT} (e.g. truncate -s 64M disk.img)`, 'disk-invalid');
  try {
    await fs.access(path, fs.constants.R_OK);
  } catch {
    throw new UserError(`the disk image ${given} is not readable by this user; fix its permissions (Rewind only reads it)`, 'disk-unreadable');
  }
  let info: { format?: string; 'virtual-size'?: number; encrypted?: boolean; 'backing-filename'?: string };
  try {
    const { stdout } = await execFileAsync(qemuImg, ['info', '--output=json', path], { maxBuffer: 16 << 20 });
    info = JSON.parse(stdout) as typeof info;
  } catch (e) {
    throw new UserError(`qemu-img cannot read the disk image ${given} (${qemuImgMessage(e)}); ${lockHint(e)}${WHAT}`, 'disk-unreadable');
  }
  const format = info.format ?? 'unknown';
  if (!FORMATS.includes(format)) {
    throw new UserError(`the disk image ${given} is a ${format} image; Rewind records raw and qcow2 disks: convert it first (qemu-img convert -O qcow2 ${given} disk.qcow2)`, 'disk-invalid');
  }
  if (info.encrypted) throw new UserError(`the disk image ${given} is encrypted; Rewind cannot record encrypted images: convert it to a plain qcow2 first`, 'disk-invalid');
  const virtualSize = info['virtual-size'] ?? 0;
  if (!(virtualSize > 0)) throw new UserError(`the disk image ${given} has no size (${virtualSize} bytes); ${WHAT}`, 'disk-invalid');
  return { path, format, size: st.size, virtualSize, device: DEFAULT_DISK_DEVICE, mtimeMs: st.mtimeMs };
}

/**
 * Copies the disk into `store` as qcow2 (the recording's snapshot store) and hashes the original,
 * both reading the user's file only. Throws if the file changed meanwhile.
 */
export async function copyDiskIntoStore(disk: DiskSetup, store: string, qemuImg: string): Promise<{ sha256: string }> {
  const convert = execFileAsync(qemuImg, ['convert', '-q', '-f', disk.format, '-O', 'qcow2', disk.path, store], { maxBuffer: 16 << 20 }).catch((e: unknown) => {
    throw new UserError(`qemu-img could not copy the disk image ${disk.path} (${qemuImgMessage(e)}); ${lockHint(e)}check that the image is whole and that there is room for a copy of it next to the recording`, 'disk-copy-failed');
  });
  const hash = sha256OfFile(disk.path);
  const [, sha256] = await Promise.all([convert, hash]);
  const after = await fs.stat(disk.path);
  if (after.size !== disk.size || after.mtimeMs !== disk.mtimeMs) {
    throw new UserError(`the disk image ${disk.path} changed while Rewind copied it; stop whatever writes to it and record again`, 'disk-changed');
  }
  return { sha256 };
}

function qemuImgMessage(e: unknown): string {
  const stderr = (e as { stderr?: string }).stderr;
  return (stderr || (e as Error).message || String(e)).trim().split('\n').pop()!.replace(/^qemu-img: /, '');
}

function lockHint(e: unknown): string {
  return /lock/i.test(qemuImgMessage(e)) ? 'another QEMU has it open: shut that VM down first (a disk in use cannot be copied consistently); ' : '';
}
