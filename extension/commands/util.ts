/** Shared by the commands: error reporting and the focused thread and frame. */
import * as vscode from 'vscode';
import { UserFacingError, type RewindSession } from '../sessions';

/** Wraps a command so that any failure becomes one clear error message (never an unhandled rejection). */
export function command<A extends unknown[]>(fn: (...args: A) => Promise<unknown>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      showError(e);
    }
  };
}

export function showError(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof UserFacingError) void vscode.window.showErrorMessage(message);
  else if (message === 'cancelled') return;
  else void vscode.window.showErrorMessage(`Rewind: ${message}`);
}

/** The thread and frame the Call Stack view has focused in this session (else the last stop's thread). */
export function focus(s: RewindSession): { threadId: number; frameId?: number } {
  const item = vscode.debug.activeStackItem;
  if (item && item.session.id === s.session.id) {
    if (item instanceof vscode.DebugStackFrame) return { threadId: item.threadId, frameId: item.frameId };
    return { threadId: item.threadId };
  }
  return { threadId: s.threadId };
}
