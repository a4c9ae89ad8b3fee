/** The Snapshots view: the recording's snapshots and those taken in this session; a click goes there. */
import * as vscode from 'vscode';
import type { RewindSnapshot, SnapshotSource } from '@rewind/protocol';
import { describePosition } from './novsc/format';
import type { SessionTracker } from './sessions';

/** What the tooltip says of where a snapshot comes from. */
const SOURCE_TEXT: Record<SnapshotSource, string> = {
  record: 'Recorded with the bundle',
  replay: 'Taken in this debug session (not stored in the recording)',
  index: "Saved by the recording's index pass where replay is slow (stored beside the recording)",
};

export class SnapshotsView implements vscode.TreeDataProvider<RewindSnapshot>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RewindSnapshot | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly sessions: SessionTracker) {
    const view = vscode.window.createTreeView('rewind.snapshots', { treeDataProvider: this });
    this.subscriptions = [
      view,
      this.changed,
      sessions.onDidChangeActive(() => this.changed.fire(undefined)),
      sessions.onDidChangeMarkers(() => this.changed.fire(undefined)),
      vscode.commands.registerCommand('rewind.refreshSnapshots', async () => {
        await this.sessions.active?.refreshSnapshots().catch(() => undefined);
        this.changed.fire(undefined);
      }),
    ];
  }

  getChildren(node?: RewindSnapshot): RewindSnapshot[] {
    if (node) return [];
    return [...(this.sessions.active?.snapshots ?? [])].sort((a, b) => a.icount - b.icount);
  }

  getTreeItem(s: RewindSnapshot): vscode.TreeItem {
    const end = this.sessions.active?.position?.end ?? 0;
    const item = new vscode.TreeItem(s.name);
    item.id = `snapshot-${s.name}-${s.icount}`;
    item.description = `${describePosition(s.icount, end)}${s.source === 'replay' ? ' · this session' : s.source === 'index' ? ' · index' : ''}`;
    item.iconPath = new vscode.ThemeIcon('device-camera', new vscode.ThemeColor('charts.purple'));
    item.tooltip = `${SOURCE_TEXT[s.source]}: replay starts from here, so going to any time after it is fast. Click to go to it.`;
    // The tooltip is a sentence about all snapshots: screen readers (and tests) get the row's own text.
    item.accessibilityInformation = { label: `Snapshot ${s.name} ${item.description}` };
    item.command = { command: 'rewind.seek', title: 'Go to this snapshot', arguments: [{ icount: s.icount }] };
    return item;
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}
