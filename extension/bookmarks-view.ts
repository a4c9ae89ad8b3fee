/**
 * The Bookmarks view: the recording's named time points (rewind/bookmarks; the adapter keeps them
 * beside the recording), by time; a click goes there, the context menu removes one, the title bar
 * adds one at the current position. The bookmark at the position is marked "◀ now".
 */
import * as vscode from 'vscode';
import type { RewindBookmark } from '@rewind/protocol';
import { describePosition } from './novsc/format';
import type { SessionTracker } from './sessions';

export class BookmarksView implements vscode.TreeDataProvider<RewindBookmark>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RewindBookmark | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly sessions: SessionTracker) {
    const view = vscode.window.createTreeView('rewind.bookmarks', { treeDataProvider: this });
    this.subscriptions = [
      view,
      this.changed,
      sessions.onDidChangeActive(() => this.changed.fire(undefined)),
      // Redrawn only when what it shows changes (the list, or which one is "◀ now"): each redraw
      // replaces the rows' click commands, and a click on a row drawn before it finds none.
      sessions.onDidChangeMarkers(() => this.redrawIfChanged()),
      sessions.onDidChangePosition(() => this.redrawIfChanged()),
      vscode.commands.registerCommand('rewind.refreshBookmarks', async () => {
        await this.sessions.active?.refreshBookmarks().catch(() => undefined);
        this.changed.fire(undefined);
      }),
    ];
  }

  /** What the rows showed when last drawn (see shown()). */
  private drawn = '';

  /** The session, its bookmarks and which of them are at the position. */
  private shown(): string {
    const s = this.sessions.active;
    const at = s?.position?.icount;
    return JSON.stringify([s?.session.id, (s?.bookmarks ?? []).map((b) => [b.id, b.name, b.icount, b.icount === at])]);
  }

  private redrawIfChanged(): void {
    if (this.shown() !== this.drawn) this.changed.fire(undefined);
  }

  getChildren(node?: RewindBookmark): RewindBookmark[] {
    if (node) return [];
    this.drawn = this.shown();
    return [...(this.sessions.active?.bookmarks ?? [])].sort((a, b) => a.icount - b.icount || a.name.localeCompare(b.name));
  }

  getTreeItem(b: RewindBookmark): vscode.TreeItem {
    const pos = this.sessions.active?.position;
    const item = new vscode.TreeItem(b.name);
    item.id = `bookmark-${b.id}`;
    const now = pos?.icount === b.icount;
    item.description = `${now ? '◀ now · ' : ''}${describePosition(b.icount, pos?.end ?? 0)}`;
    item.iconPath = new vscode.ThemeIcon(now ? 'debug-stackframe' : 'bookmark', new vscode.ThemeColor(now ? 'debugIcon.stepOverForeground' : 'charts.blue'));
    item.tooltip = `Bookmark "${b.name}" at ${describePosition(b.icount, pos?.end ?? 0)}, added ${b.createdAt.slice(0, 19).replace('T', ' ')} UTC (stored beside the recording). Click to go there.`;
    item.accessibilityInformation = { label: `Bookmark ${b.name} ${item.description}` };
    item.contextValue = 'rewind.bookmark';
    item.command = { command: 'rewind.seek', title: 'Go to this bookmark', arguments: [{ icount: b.icount }] };
    return item;
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}
