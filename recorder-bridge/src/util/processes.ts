import type { ChildProcess } from 'node:child_process';

/**
 * Every QEMU (and later gdb) process Rewind starts is registered here and killed by PID when the
 * Node process exits, however it exits. Children are started in their own process group (so that a
 * terminal's Ctrl-C reaches Rewind, which then stops them cleanly), so nothing else would kill them.
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
  for (const child of live) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}

/** Resolves when the child has exited (at once if it already has). */
export function waitForExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}
