/**
 * The Tasks view (Linux guests): every task at the session's time point (rewind/tasks), processes
 * with their threads, refreshed as time moves while the view is visible. Its message says why it
 * is empty (not Linux, kernel memory unreadable at this time point). A click on a task that is not
 * running shows where it sleeps (rewind/taskStack); a frame picked there opens its source line.
 */
import type { RewindTaskFrame } from '@rewind/protocol';
import * as vscode from 'vscode';
import { taskFrameItem, taskRows, tasksSummary, type TaskRow } from './novsc/tasks';
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
    command: (r) => (r.running ? undefined : { command: 'rewind.showTaskStack', title: 'Show Where It Sleeps', arguments: [r] }),
  });
  return vscode.Disposable.from(
    view,
    vscode.commands.registerCommand('rewind.refreshTasks', () => view.refresh()),
    vscode.commands.registerCommand('rewind.showTaskStack', (row: TaskRow) => showTaskStack(sessions, row)),
  );
}

/** The saved stack of a task that is not running, as a pick list; the frame picked opens at its line. */
async function showTaskStack(sessions: SessionTracker, row: TaskRow): Promise<void> {
  const s = sessions.active;
  if (!s) return;
  let frames: RewindTaskFrame[];
  try {
    frames = (await s.request('rewind/taskStack', { task: row.task })).frames;
  } catch (e) {
    void vscode.window.showErrorMessage(`Rewind: where ${row.label} sleeps: ${(e as Error).message}`);
    return;
  }
  const items = frames.map((f, i) => ({ ...taskFrameItem(f, i), frame: f }));
  const picked = await vscode.window.showQuickPick(items, { title: `${row.label} (${row.description}) sleeps here`, placeHolder: 'Pick a frame to open its source line', matchOnDescription: true });
  const f = picked?.frame;
  if (!f?.fullname || f.line === undefined) return;
  try {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(f.fullname));
    const line = new vscode.Range(f.line - 1, 0, f.line - 1, 0);
    await vscode.window.showTextDocument(doc, { selection: line, preview: true });
  } catch {
    void vscode.window.showWarningMessage(`Rewind: ${f.file}:${f.line} (${f.function ?? f.address}) is not on this machine: gdb found no ${f.fullname}`);
  }
}
