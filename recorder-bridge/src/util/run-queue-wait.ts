/**
 * How long a process's busiest thread waited for a CPU (Linux schedstat), so that a measured
 * replay time can be told without the machine's load: the index pass places its time-rule
 * snapshots by replay time (docs/index-design.md, "Extra snapshots"), and with wall time alone the
 * same recording got other snapshots on a loaded machine than on an idle one.
 *
 * /proc/PID/task/TID/schedstat holds, per thread: nanoseconds on a CPU, nanoseconds runnable but
 * waiting for one (the run queue), time slices. QEMU replays on one thread (TCG with icount runs
 * every vCPU on one), the one that uses the most CPU over a stretch; its wait is the load's share
 * of the stretch's wall time. Where schedstat is missing (a kernel without CONFIG_SCHED_INFO) the
 * wait reads as 0: wall time, as before.
 */
import { readdirSync, readFileSync } from 'node:fs';

export type ThreadTimes = Map<string, { cpuNs: number; waitNs: number }>;

/** Every thread of the given processes, with its CPU and run-queue times so far. */
export function threadTimes(pids: readonly string[]): ThreadTimes {
  const out: ThreadTimes = new Map();
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of tids) {
      try {
        const [cpu, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').trim().split(/\s+/);
        if (cpu !== undefined && wait !== undefined) out.set(`${pid}/${tid}`, { cpuNs: Number(cpu), waitNs: Number(wait) });
      } catch {
        // gone, or no schedstat
      }
    }
  }
  return out;
}

/** Milliseconds the thread that used the most CPU between two readings waited for a CPU meanwhile. */
export function busiestThreadWaitMs(before: ThreadTimes, after: ThreadTimes): number {
  let best: { cpu: number; wait: number } | undefined;
  for (const [tid, a] of after) {
    const b = before.get(tid) ?? { cpuNs: 0, waitNs: 0 };
    const cpu = a.cpuNs - b.cpuNs;
    if (!best || cpu > best.cpu) best = { cpu, wait: a.waitNs - b.waitNs };
  }
  return best ? Math.max(0, best.wait) / 1e6 : 0;
}

/** Milliseconds all the threads used on a CPU between two readings. */
export function cpuMsBetween(before: ThreadTimes, after: ThreadTimes): number {
  let ns = 0;
  for (const [tid, a] of after) ns += a.cpuNs - (before.get(tid)?.cpuNs ?? 0);
  return Math.max(0, ns) / 1e6;
}
