/**
 * The Tasks view (Linux guests): every task at the session's time point (rewind/tasks), processes
 * with their threads, refreshed as time moves while the view is visible (each refresh is a walk of
 * the kernel's task list through gdb). Its message says why it is empty (not Linux, kernel memory
 * unreadable at this time point).
 */
import * as vscode from 'vscode';
import { taskRows, tasksSummary, type TaskRow } from './novsc/tasks';
import type { SessionTracker } from './sessions';

const ICONS: Record<TaskRow['icon'], vscode.ThemeIcon> = {
  running: new vscode.ThemeIcon('play-circle', new vscode.ThemeColor('charts.green')),
  'kernel-thread': new vscode.ThemeIcon('gear'),
  process: new vscode.ThemeIcon('symbol-event'),
};

export class TasksView implements vscode.TreeDataProvider<TaskRow>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<TaskRow | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly view: vscode.TreeView<TaskRow>;
  private readonly subscriptions: vscode.Disposable[];
  private rows: TaskRow[] = [];
  /** The refresh in flight: a newer one makes its answer stale. */
  private generation = 0;

  constructor(private readonly sessions: SessionTracker) {
    this.view = vscode.window.createTreeView('rewind.tasks', { treeDataProvider: this });
    this.subscriptions = [
      this.view,
      this.changed,
      sessions.onDidChangeActive(() => void this.refresh()),
      sessions.onDidChangePosition((s) => {
        if (s === this.sessions.active) void this.refresh();
      }),
      this.view.onDidChangeVisibility(() => void this.refresh()),
      vscode.commands.registerCommand('rewind.refreshTasks', () => this.refresh()),
    ];
  }

  async refresh(): Promise<void> {
    const generation = ++this.generation;
    const s = this.sessions.active;
    if (!s || !this.view.visible) {
      if (!s) this.show([], undefined);
      return;
    }
    try {
      const r = await s.request('rewind/tasks', {});
      if (generation === this.generation) this.show(taskRows(r), tasksSummary(r));
    } catch (e) {
      if (generation === this.generation) this.show([], (e as Error).message);
    }
  }

  private show(rows: TaskRow[], message: string | undefined): void {
    this.rows = rows;
    this.view.message = message;
    this.changed.fire(undefined);
  }

  getChildren(node?: TaskRow): TaskRow[] {
    return node ? node.threads : this.rows;
  }

  getTreeItem(r: TaskRow): vscode.TreeItem {
    const item = new vscode.TreeItem(r.label, r.threads.length > 0 ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = r.id;
    item.description = r.description;
    item.tooltip = r.tooltip;
    item.iconPath = ICONS[r.icon];
    item.accessibilityInformation = { label: `${r.label} ${r.description}` };
    return item;
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}
