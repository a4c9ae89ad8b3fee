/**
 * Processes, as /proc shows them, for tests, benchmarks and the demo story: who is alive, who
 * descends from whom, which QEMU or gdb belongs to a recording; waiting for a condition, and
 * ending a process by its PID (never by name).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessEntry {
  pid: number;
  /** The executable's name (/proc/PID/stat's comm, at most 15 characters). */
  comm: string;
  /** The command line, its arguments joined by spaces. */
  cmd: string;
}

export interface ProcStat {
  comm: string;
  /** R, S, D, Z (zombie), T (stopped)... */
  state: string;
  ppid: number;
  pgid: number;
}

/** The PIDs /proc lists now. */
function pids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** /proc/PID/stat, or undefined when the process is gone. */
export function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // pid (comm) state ppid pgid ...: comm may hold spaces and parentheses, so split after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), state: f[0]!, ppid: Number(f[1]), pgid: Number(f[2]) };
  } catch {
    return undefined;
  }
}

/** The command line of a process, its arguments joined by spaces; undefined when it is gone. */
export function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie (a zombie has closed its files and released its locks). */
export function alive(pid: number): boolean {
  const s = procStat(pid);
  return s !== undefined && s.state !== 'Z';
}

/** alive(), and its command line still contains `needle` (the PID was not reused by another program). */
export function stillRuns(pid: number, needle: string): boolean {
  return alive(pid) && (commandLine(pid) ?? '').includes(needle);
}

function entry(pid: number, comm: string): ProcessEntry {
  return { pid, comm, cmd: commandLine(pid) ?? '' };
}

/** Every process below `root` (by parent links), at any depth. */
export function descendantsOf(root = process.pid): ProcessEntry[] {
  const stats = new Map<number, ProcStat>();
  for (const pid of pids()) {
    const s = procStat(pid);
    if (s) stats.set(pid, s);
  }
  const out: ProcessEntry[] = [];
  for (const [pid, s] of stats) {
    for (let p: number | undefined = s.ppid, depth = 0; p !== undefined && p > 1 && depth < 64; p = stats.get(p)?.ppid, depth++) {
      if (p === root) {
        out.push(entry(pid, s.comm));
        break;
      }
    }
  }
  return out;
}

/** The live (not zombie) processes of a process group. */
export function groupMembers(pgid: number): ProcessEntry[] {
  const out: ProcessEntry[] = [];
  for (const pid of pids()) {
    const s = procStat(pid);
    if (s && s.pgid === pgid && s.state !== 'Z') out.push(entry(pid, s.comm));
  }
  return out;
}

/** Live processes (other than this one) whose command line contains `needle`, wherever they were re-parented. */
export function processesMentioning(needle: string): ProcessEntry[] {
  const out: ProcessEntry[] = [];
  for (const pid of pids()) {
    if (pid === process.pid) continue;
    const cmd = commandLine(pid);
    const s = procStat(pid);
    if (cmd?.includes(needle) && s && s.state !== 'Z') out.push({ pid, comm: s.comm, cmd });
  }
  return out;
}

/** The PIDs of QEMU processes whose command line mentions `needle`; with graceMs, waits that long for them to go. */
export async function qemuProcessesMentioning(needle: string, opts: { graceMs?: number } = {}): Promise<number[]> {
  const qemus = () => processesMentioning(needle).filter((p) => p.cmd.includes('qemu-system')).map((p) => p.pid);
  // A QEMU whose rewind process just died is killed by its watchdog a moment later.
  await waitUntil(() => qemus().length === 0, opts.graceMs ?? 0);
  return qemus();
}

/**
 * The debug adapter's processes for recordings under `needle` (a folder), as "PID: command":
 * QEMU replay processes whose command line mentions it, and gdb processes whose environment names
 * such a bundle (the adapter sets REWIND_BUNDLE for its gdb).
 */
export function adapterProcessesOf(needle: string): string[] {
  const out: string[] = [];
  for (const pid of pids()) {
    const cmd = commandLine(pid);
    if (cmd === undefined) continue;
    if (cmd.includes('qemu-system') && cmd.includes(needle)) out.push(`${pid}: ${cmd.slice(0, 120)}`);
    else if (/(^|\/)gdb /.test(cmd)) {
      try {
        const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        if (env.some((e) => e.startsWith('REWIND_BUNDLE=') && e.includes(needle))) out.push(`${pid}: ${cmd.slice(0, 120)}`);
      } catch {
        // gone
      }
    }
  }
  return out;
}

/** Waits until none of the adapter's processes for `needle` is left (they exit shortly after disconnect), else fails. */
export async function assertNoLeftovers(needle: string, timeoutMs = 10_000): Promise<void> {
  await waitUntil(() => adapterProcessesOf(needle).length === 0, timeoutMs, 200);
  assert.deepEqual(adapterProcessesOf(needle), [], 'processes left behind');
}

type Probed<T> = T | undefined | false;

/** Asks `probe` every `everyMs` until it gives a value (anything but undefined or false); undefined once `timeoutMs` has passed. */
export async function poll<T>(probe: () => Probed<T> | Promise<Probed<T>>, timeoutMs: number, everyMs = 100): Promise<T | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) return undefined;
    await sleep(everyMs);
  }
}

/** Whether `ok` came true within `timeoutMs` (asked every `everyMs`). */
export async function waitUntil(ok: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  return (await poll(async () => (await ok()) || undefined, timeoutMs, everyMs)) === true;
}

/** The first value `probe` gives (see poll); throws, naming `what`, when none comes within `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Probed<T> | Promise<Probed<T>>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const v = await poll(probe, timeoutMs, everyMs);
  if (v === undefined) throw new Error(`timed out waiting for ${what} (${timeoutMs} ms)`);
  return v;
}

/** Whether the process was gone (or a zombie, or with `needle`, running something else) within `timeoutMs`. */
export function waitGone(pid: number, timeoutMs: number, needle?: string): Promise<boolean> {
  return waitUntil(() => !(needle === undefined ? alive(pid) : stillRuns(pid, needle)), timeoutMs, 50);
}

/** SIGKILL to a process that is still there. */
export function killIfAlive(pid: number | undefined): void {
  if (pid === undefined || !alive(pid)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}

/** Gives a process `timeoutMs` to exit, then SIGKILLs it. */
export async function waitGoneOrKill(pid: number, timeoutMs: number): Promise<void> {
  if (!(await waitGone(pid, timeoutMs))) killIfAlive(pid);
}
