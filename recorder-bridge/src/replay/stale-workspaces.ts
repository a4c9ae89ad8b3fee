/**
 * Replay workspaces (`$TMPDIR/rewind-replay-*`: the decompressed log and a copy of the snapshot
 * store per replay process, hundreds of MB to GB for a Linux recording) are removed by the process
 * that made them when it closes its engine. One killed with SIGKILL (a crashed editor, `kill -9`)
 * cannot, so each workspace names its owner (`owner.json`: pid and the process's start time, which
 * tells a reused pid apart), and the next engine to start removes those whose owner is gone.
 * A workspace without `owner.json` (made by an older Rewind) is left alone.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { procStatFields } from '../util/processes';

export const WORKSPACE_PREFIX = 'rewind-replay-';
const OWNER_FILE = 'owner.json';

interface Owner {
  pid: number;
  /** Field 22 of /proc/PID/stat: clock ticks after boot at which the process started. */
  startTicks: number;
}

/**
 * When `pid` started (field 22 of /proc/PID/stat), or undefined when no such process runs. A
 * zombie (killed, not yet reaped by its parent) runs no more: undefined too.
 */
export function processStart(pid: number): number | undefined {
  const fields = procStatFields(pid);
  return fields === undefined || fields[0] === 'Z' ? undefined : Number(fields[19]);
}

/** Marks `dir` as this process's workspace. */
export async function writeOwner(dir: string): Promise<void> {
  const owner: Owner = { pid: process.pid, startTicks: processStart(process.pid) ?? 0 };
  await fs.writeFile(join(dir, OWNER_FILE), JSON.stringify(owner));
}

/** True when the workspace's owner process no longer runs (false when it runs or is unknown). */
export async function ownerGone(dir: string): Promise<boolean> {
  let owner: Owner;
  try {
    owner = JSON.parse(await fs.readFile(join(dir, OWNER_FILE), 'utf8')) as Owner;
  } catch {
    return false; // no owner file (an older Rewind, or one being created): not ours to judge
  }
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  const start = processStart(owner.pid);
  return start === undefined || start !== owner.startTicks;
}

/** Removes the workspaces in `parent` whose owner is gone; returns their paths. Never throws. */
export async function removeStaleWorkspaces(parent = tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await fs.readdir(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(WORKSPACE_PREFIX)) continue;
    const dir = join(parent, name);
    try {
      if (!(await ownerGone(dir))) continue;
      await fs.rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // another engine removed it first, or it is not ours to remove (permissions): leave it
    }
  }
  return removed;
}
