/**
 * The Value History panel: every write of an expression's bytes over the whole recording, in a
 * table in a webview panel (one panel; a new query replaces its table), each row a click that
 * goes to the write; the writes also on the Recording Timeline (markers of kind 'write', in a
 * lane of their own, while the panel is open). This side asks the adapter (rewind/valueHistory,
 * cancellable), makes the rows (novsc/value-history.ts) and carries out what the webview asks
 * (seek, cancel, refresh); extension/webview/value-history.ts draws the table. Messages are typed
 * in protocol/webview.ts.
 */
import * as vscode from 'vscode';
import { webviewHtml } from './webview-html';
import type { ValueHistoryFromWebview, ValueHistoryTable, ValueHistoryToWebview } from '@rewind/protocol';
import { summaryText, valueHistoryError, valueHistoryTable, writeMarkers } from './novsc/value-history';
import { UserFacingError, type RewindSession, type SessionTracker } from './sessions';
import { focus, showError } from './commands/util';

export class ValueHistoryPanel implements vscode.Disposable {
  static readonly viewType = 'rewind.valueHistory';
  private panel?: vscode.WebviewPanel;
  /** The session and expression of the table shown (or being asked for). */
  private current?: { session: RewindSession; expression: string; table?: ValueHistoryTable };
  private query?: vscode.CancellationTokenSource;
  private ready = false;
  private readonly queued: ValueHistoryToWebview[] = [];
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly extensionUri: vscode.Uri, private readonly sessions: SessionTracker) {
    this.subscriptions = [
      sessions.onDidChangePosition((s) => {
        if (s === this.current?.session && s.position) this.post({ type: 'position', icount: s.position.icount });
      }),
      vscode.debug.onDidTerminateDebugSession((ds) => {
        if (ds.id !== this.current?.session.session.id) return;
        this.query?.cancel();
        this.post({ type: 'ended' });
      }),
    ];
  }

  /**
   * Shows the value history of `expression` in `s` (evaluated in the focused frame): the panel
   * opens beside the editor at once with the query's progress (its Cancel button cancels the
   * query; so does closing the panel and the adapter's own progress notification). A failure is
   * shown in the panel and as an error message.
   */
  async show(s: RewindSession, expression: string): Promise<void> {
    this.query?.cancel();
    const query = new vscode.CancellationTokenSource();
    this.query = query;
    this.clearMarkers();
    this.current = { session: s, expression };
    this.open(expression);
    this.post({ type: 'loading', expression });
    const { frameId } = focus(s);
    try {
      const [answer, threads] = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Rewind: value history of ${expression}` }, () =>
        Promise.all([
          s.requestCancellable('rewind/valueHistory', { expression, ...(frameId !== undefined ? { frameId } : {}) }, query.token),
          // The vCPUs: with one, every write is on it (the adapter does not say which vCPU wrote).
          Promise.resolve(s.session.customRequest('threads')).then((r: { threads?: unknown[] }) => r.threads?.length, () => undefined),
        ]),
      );
      if (this.query !== query) return;
      const table = valueHistoryTable(expression, answer, { session: s.session.name, end: s.position?.end ?? 0, ...(threads !== undefined ? { threadCount: threads } : {}) });
      this.current = { session: s, expression, table };
      this.post({ type: 'table', table });
      if (s.position) this.post({ type: 'position', icount: s.position.icount });
      s.writes = writeMarkers(table);
      this.sessions.markersChanged(s);
      this.sessions.log.info(summaryText(table));
    } catch (e) {
      if (this.query !== query) return;
      const raw = e instanceof Error ? e.message : String(e);
      // Cancelled here (Cancel, the panel closed, a newer query) or in the adapter's progress notification.
      const cancelled = query.token.isCancellationRequested || raw === 'cancelled';
      const message = valueHistoryError(expression, cancelled ? 'cancelled' : raw);
      this.post({ type: 'error', expression, message });
      if (!cancelled) throw new UserFacingError(message);
    } finally {
      if (this.query === query) this.query = undefined;
      query.dispose();
    }
  }

  private open(expression: string): void {
    const title = `Value History: ${expression}`;
    if (this.panel) {
      this.panel.title = title;
      this.panel.reveal(undefined, true);
      return;
    }
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel(ValueHistoryPanel.viewType, title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      localResourceRoots: [dist, media],
      retainContextWhenHidden: true,
    });
    panel.iconPath = vscode.Uri.joinPath(media, 'rewind.png');
    this.ready = false;
    panel.webview.html = this.html(panel.webview, dist, media);
    panel.webview.onDidReceiveMessage((m: ValueHistoryFromWebview) => void this.onMessage(m));
    panel.onDidDispose(() => {
      this.panel = undefined;
      this.ready = false;
      this.queued.length = 0;
      this.query?.cancel();
      this.clearMarkers();
      this.current = undefined;
    });
    this.panel = panel;
  }

  /** The timeline's write lane belongs to the panel: it goes when the panel closes or shows another expression. */
  private clearMarkers(): void {
    const s = this.current?.session;
    if (!s || s.writes.length === 0) return;
    s.writes = [];
    this.sessions.markersChanged(s);
  }

  private html(webview: vscode.Webview, dist: vscode.Uri, media: vscode.Uri): string {
    return webviewHtml(webview, { dist, media, script: 'value-history.js', style: 'value-history.css', title: 'Value History', body: `
<header>
  <div id="summary" class="summary" aria-live="polite"></div>
  <div class="actions">
    <button id="cancel" class="secondary" hidden>Cancel</button>
    <button id="refresh" class="secondary" title="Ask again, in the frame now focused" hidden>Refresh</button>
  </div>
</header>
<div id="note" class="note"></div>
<div id="error" class="error" role="alert" hidden></div>
<table id="table" hidden>
  <thead><tr id="head"></tr></thead>
  <tbody id="rows"></tbody>
</table>
` });
  }

  private post(m: ValueHistoryToWebview): void {
    if (!this.panel) return;
    if (!this.ready) {
      this.queued.push(m);
      return;
    }
    void this.panel.webview.postMessage(m);
  }

  private async onMessage(m: ValueHistoryFromWebview): Promise<void> {
    switch (m.type) {
      case 'ready': {
        this.ready = true;
        // A panel restored or reloaded: the last table (or the query's state) again, then what was queued.
        const queued = this.queued.splice(0);
        if (queued.length === 0 && this.current?.table) queued.push({ type: 'table', table: this.current.table });
        for (const q of queued) void this.panel?.webview.postMessage(q);
        return;
      }
      case 'seek': {
        const s = this.current?.session;
        try {
          if (!s || !this.sessions.get(s.session)) throw new UserFacingError('The debug session of this value history has ended: open the recording again and ask again.');
          await s.request('rewind/seek', { icount: Math.round(m.icount) });
        } catch (e) {
          showError(e);
        }
        return;
      }
      case 'cancel':
        this.query?.cancel();
        return;
      case 'refresh': {
        const c = this.current;
        if (!c) return;
        try {
          const s = this.sessions.get(c.session.session) ?? this.sessions.require();
          await this.show(s, c.expression);
        } catch (e) {
          showError(e);
        }
        return;
      }
    }
  }

  dispose(): void {
    this.query?.cancel();
    this.panel?.dispose();
    for (const d of this.subscriptions) d.dispose();
  }
}
