/**
 * Indexes this process has loaded, parsed, by recording and by the state of the index's files on
 * disk. A second engine of the same recording in the bridge (the kernel-event scan's session,
 * another client's) takes the parsed index instead of reading, checking (the sha256 of every file)
 * and parsing it again: 2.5 s of the 3.5 s a new session took to open the Linux fixture. A file
 * written, cut or replaced since (a rebuilt index, a damaged one) changes its size, time or inode,
 * and so the key: that index is loaded and checked again.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Bundle } from '../bundle/reader';
import { indexFolders, loadIndex, manifestSha256Of, type StoredIndex } from './index-store';
import { RecordingIndex } from './recording-index';

export interface LoadedIndex {
  stored: StoredIndex;
  index: RecordingIndex;
}

/** Recordings whose index is kept (the least recently used goes). */
const MAX_KEPT = 4;
const kept = new Map<string, LoadedIndex>();

/** The bundle's complete index, parsed (as loadIndex: undefined when none, 'index-damaged' when damaged). */
export async function loadParsedIndex(bundle: Bundle): Promise<LoadedIndex | undefined> {
  const key = await fingerprint(bundle);
  const hit = kept.get(key);
  if (hit) {
    kept.delete(key);
    kept.set(key, hit);
    return hit;
  }
  const stored = await loadIndex(bundle);
  if (!stored) return undefined;
  const loaded = parsedIndex(stored);
  kept.set(key, loaded);
  while (kept.size > MAX_KEPT) kept.delete(kept.keys().next().value!);
  return loaded;
}

/** A stored index (checked), parsed. */
export function parsedIndex(stored: StoredIndex): LoadedIndex {
  return { stored, index: RecordingIndex.fromSlices(stored.slices, stored.where) };
}

/** The manifest's sha256 and every file of both index folders: name, size, modification time, inode. */
async function fingerprint(bundle: Bundle): Promise<string> {
  const sha = await manifestSha256Of(bundle);
  const parts: string[] = [sha];
  for (const dir of indexFolders(bundle, sha)) {
    const names = (await fs.readdir(dir).catch(() => [] as string[])).sort();
    for (const name of names) {
      const st = await fs.stat(join(dir, name)).catch(() => undefined);
      parts.push(st ? `${dir}/${name}:${st.size}:${st.mtimeMs}:${st.ino}` : `${dir}/${name}:gone`);
    }
  }
  return parts.join('\n');
}
