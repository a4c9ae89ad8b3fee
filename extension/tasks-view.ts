/**
 * The Tasks view (Linux guests): every task at the session's time point (rewind/tasks), processes
 * with their threads, refreshed as time moves while the view is visible. Its message says why it
 * is empty (not Linux, kernel memory unreadable at this time point).
 */
import * as vscode from 'vscode';
import { taskRows, tasksSummary, type TaskRow } from './novsc/tasks';
import type { SessionTracker } from './sessions';
import { TimePointView } from './time-point-view';

const ICONS: Record<TaskRow['icon'], vscode.ThemeIcon> = {
  running: new vscode.ThemeIcon('play-circle', new vscode.ThemeColor('charts.green')),
  'kernel-thread': new vscode.ThemeIcon('gear'),
  process: new vscode.ThemeIcon('symbol-event'),
};

/** The view, and its Refresh command. */
export function tasksView(sessions: SessionTracker): vscode.Disposable {
  const view = new TimePointView<TaskRow>(sessions, {
    viewId: 'rewind.tasks',
    load: async (s) => {
      const r = await s.request('rewind/tasks', {});
      return { rows: taskRows(r), message: tasksSummary(r) };
    },
    children: (r) => r.threads,
    icon: (r) => ICONS[r.icon],
  });
  return vscode.Disposable.from(view, vscode.commands.registerCommand('rewind.refreshTasks', () => view.refresh()));
}
