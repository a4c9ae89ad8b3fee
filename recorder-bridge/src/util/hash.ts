import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

export function sha256OfBuffer(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Hashes this process computed, by path, with the file's identity (size, mtime in ns, inode) then. */
const remembered = new Map<string, { identity: string; sha256: string }>();

async function identityOf(path: string): Promise<string> {
  const st = await stat(path, { bigint: true });
  return `${st.size}:${st.mtimeNs}:${st.ino}`;
}

/**
 * sha256OfFile, but a file this process hashed before and that has kept its size, modification
 * time and inode since is not read again: the index's extra snapshot images are up to 0.5 GB each
 * (1.2 s to hash), and a pass hashes each as it stores it, then checks it on its load at once.
 * Any write to the file, or a file put in its place, changes its identity.
 */
export async function sha256OfFileRemembered(path: string): Promise<string> {
  const before = await identityOf(path);
  const known = remembered.get(path);
  if (known?.identity === before) return known.sha256;
  const sha256 = await sha256OfFile(path);
  // Remembered only if nothing changed the file while it was read.
  if ((await identityOf(path)) === before) remembered.set(path, { identity: before, sha256 });
  return sha256;
}
