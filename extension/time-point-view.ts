/**
 * A tree view of what the kernel holds at the active session's time point (the Tasks and Modules
 * views): asked again whenever the session moves or another becomes active, only while the view is
 * visible (each answer is a walk of kernel lists through gdb). Its message says what it shows, or
 * why it shows nothing.
 */
import * as vscode from 'vscode';
import type { RewindSession, SessionTracker } from './sessions';

export interface TimePointRow {
  id: string;
  label: string;
  description: string;
  tooltip: string;
}

export interface TimePointViewSpec<R extends TimePointRow> {
  viewId: string;
  /** The rows at the session's time point, and the message above them. */
  load(s: RewindSession): Promise<{ rows: R[]; message?: string }>;
  children(row: R): R[];
  icon(row: R): vscode.ThemeIcon;
  /** What a click on a row does, if anything. */
  command?(row: R): vscode.Command | undefined;
}

export class TimePointView<R extends TimePointRow> implements vscode.TreeDataProvider<R>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<R | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly view: vscode.TreeView<R>;
  private readonly subscriptions: vscode.Disposable[];
  private rows: R[] = [];
  /** The refresh in flight: a newer one makes its answer stale. */
  private generation = 0;

  constructor(
    private readonly sessions: SessionTracker,
    private readonly spec: TimePointViewSpec<R>,
  ) {
    this.view = vscode.window.createTreeView(spec.viewId, { treeDataProvider: this });
    this.subscriptions = [
      this.view,
      this.changed,
      sessions.onDidChangeActive(() => void this.refresh()),
      sessions.onDidChangePosition((s) => {
        if (s === this.sessions.active) void this.refresh();
      }),
      this.view.onDidChangeVisibility(() => void this.refresh()),
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
      const r = await this.spec.load(s);
      if (generation === this.generation) this.show(r.rows, r.message);
    } catch (e) {
      if (generation === this.generation) this.show([], (e as Error).message);
    }
  }

  private show(rows: R[], message: string | undefined): void {
    this.rows = rows;
    this.view.message = message;
    this.changed.fire(undefined);
  }

  getChildren(node?: R): R[] {
    return node ? this.spec.children(node) : this.rows;
  }

  getTreeItem(r: R): vscode.TreeItem {
    const item = new vscode.TreeItem(r.label, this.spec.children(r).length > 0 ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = r.id;
    item.description = r.description;
    item.tooltip = r.tooltip;
    item.iconPath = this.spec.icon(r);
    const command = this.spec.command?.(r);
    if (command) item.command = command;
    item.accessibilityInformation = { label: `${r.label} ${r.description}` };
    return item;
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}
