/**
 * `rewind dap`: the debug adapter on stdin/stdout, for any DAP client (VS Code's executable mode,
 * nvim-dap, Emacs dape, tests). Nothing else may write to stdout: it carries the protocol.
 */
import { RewindDebugSession } from './session';

export function runStdio(): void {
  const session = new RewindDebugSession();
  // The session ends (killing gdb and the replay processes) and the process exits when the client
  // closes the stream (the base class calls shutdown()) or on a signal.
  process.on('SIGTERM', () => session.shutdown());
  process.on('SIGINT', () => session.shutdown());
  session.start(process.stdin, process.stdout);
}

if (require.main === module) runStdio();
