import { readdirSync, readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Every QEMU (and later gdb) process Rewind starts is registered here and killed when the Node
 * process exits. Children are started in their own process group (so that a terminal's Ctrl-C
 * reaches Rewind, which then stops them cleanly), so nothing else would kill them; and because a
 * Node process killed with SIGKILL runs no exit handler, QEMU runs under a watchdog shell that
 * kills it when Rewind's end of its stdin pipe closes (see spawnGuarded).
 */
const live = new Set<ChildProcess>();
let hooked = false;

export function trackChild(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', killAllChildren);
    for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        killAllChildren();
        process.exit(128 + (sig === 'SIGTERM' ? 15 : 1));
      });
    }
  }
}

export function killAllChildren(): void {
  for (const child of live) killGroup(child);
  live.clear();
}

/** Resolves when the child has exited (at once if it already has). */
export function waitForExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * The watchdog: runs the command in the background, waits until stdin reaches end-of-file (Rewind
 * closed it, or died) and then kills it. The shell exits with the command's exit status.
 */
// (A background job's stdin is /dev/null in a non-interactive shell, so the pipe goes through fd 3.)
const WATCHDOG =
  'exec 3<&0; "$@" </dev/null 3<&- & c=$!; (while read -r _ <&3; do :; done; kill -9 $c 2>/dev/null) & w=$!; exec 3<&-; wait $c; s=$?; kill $w 2>/dev/null; exit $s';

/**
 * Starts a long-running program (QEMU) in its own process group, under the watchdog, with stderr
 * piped. Stop it with QMP or killGroup(); it never outlives the Node process.
 */
export function spawnGuarded(binary: string, argv: string[]): ChildProcess {
  const child = spawn('/bin/sh', ['-c', WATCHDOG, 'rewind-watchdog', binary, ...argv], { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
  child.stdin!.on('error', () => undefined);
  trackChild(child);
  return child;
}

/** SIGKILL to the child's whole process group (the watchdog shell and the program under it). */
export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  // Even when the watchdog shell has gone, the group lives on while QEMU does.
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // no process left in the group
  }
}

/**
 * CPU time (user + system, in clock ticks, 100 a second on Linux) used so far by the processes of
 * a process group: tells a replay that is busy going nowhere from one that waits (idle stretches
 * replay at the wall clock's pace, asleep). Processes that are gone no longer count.
 */
export function groupCpuTicks(pgid: number): number {
  return groupStat(pgid).cpuTicks;
}

/**
 * The fields of /proc/PID/stat after the command name, which may hold spaces: [0] is field 3 of
 * proc(5) (the state), so field N is at N - 3. Undefined when no such process exists.
 */
export function procStatFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // gone
  }
}

/**
 * Whether a thread of a process of the group is waiting, not stuck: in uninterruptible sleep
 * (state D: on the disk, e.g. a write throttled while the page cache is flushed) or runnable
 * (state R: ready, but the machine's cores are taken by others). Reads every thread: only for the
 * rare moments that need it.
 */
export function groupThreadWaits(pgid: number): boolean {
  for (const { pid } of groupProcesses(pgid)) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of tasks) {
      const state = procStatFields(`${pid}/task/${tid}`)?.[0];
      if (state === 'D' || state === 'R') return true;
    }
  }
  return false;
}

/** The PIDs of a process group's processes now (for processCpuTicks, which is cheaper than a scan of /proc). */
export function groupPids(pgid: number): string[] {
  return groupProcesses(pgid).map((p) => p.pid);
}

/** CPU time (user + system, in clock ticks) one process has used so far, all its threads included; 0 once it is gone. */
export function processCpuTicks(pid: string): number {
  const fields = procStatFields(pid);
  return fields ? cpuTicksOf(fields) : 0;
}

/** utime + stime (fields 14 and 15 of proc(5)) of procStatFields' answer. */
function cpuTicksOf(fields: string[]): number {
  return Number(fields[11]) + Number(fields[12]);
}

/** The processes of a process group, each with its /proc/PID/stat fields (procStatFields). */
function groupProcesses(pgid: number): Array<{ pid: string; fields: string[] }> {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: Array<{ pid: string; fields: string[] }> = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const fields = procStatFields(name);
    if (fields && Number(fields[2]) === pgid) found.push({ pid: name, fields });
  }
  return found;
}

/**
 * CPU time used so far by a process group (see groupCpuTicks), and whether one of its processes is
 * stopped by a signal (SIGSTOP, SIGTSTP: state T): such a process answers nothing until continued.
 */
export function groupStat(pgid: number): { cpuTicks: number; stopped: boolean } {
  let total = 0;
  let stopped = false;
  for (const { fields } of groupProcesses(pgid)) {
    total += cpuTicksOf(fields);
    if (fields[0] === 'T') stopped = true;
  }
  return { cpuTicks: total, stopped };
}
