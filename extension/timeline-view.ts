/**
 * The Recording Timeline: a webview view in the Run and Debug container. This side feeds it
 * (session, position, markers, lane counts for each view it asks for) and acts on what it asks
 * (seek, commands). The drawing is extension/webview/timeline.ts; the data novsc/timeline-data.ts;
 * the messages are typed in recorder-bridge/src/protocol.ts.
 */
import * as vscode from 'vscode';
import { webviewHtml } from './webview-html';
import type { TimelineFromWebview, TimelineToWebview } from '@rewind/protocol';
import { AbortedError, normalizeView } from './novsc/timeline-data';
import type { RewindSession, SessionTracker } from './sessions';
import { showError } from './commands/util';

export class TimelineViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = 'rewind.timeline';
  private view?: vscode.WebviewView;
  private readonly subscriptions: vscode.Disposable[];
  /** The newest view request; older ones still running are dropped. */
  private latestRequest = 0;

  constructor(private readonly extensionUri: vscode.Uri, private readonly sessions: SessionTracker) {
    this.subscriptions = [
      sessions.onDidChangeActive((s) => this.sendSession(s)),
      sessions.onDidChangeEvents((s) => this.sendSession(s)),
      sessions.onDidChangePosition((s) => this.sendPosition(s)),
      sessions.onDidChangeMarkers((s) => {
        if (s === this.sessions.active) this.post({ type: 'markers', markers: s.markers() });
      }),
    ];
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [dist, media] };
    view.webview.html = this.html(view.webview, dist, media);
    view.webview.onDidReceiveMessage((m: TimelineFromWebview) => void this.onMessage(m));
    view.onDidDispose(() => (this.view = undefined));
  }

  private html(webview: vscode.Webview, dist: vscode.Uri, media: vscode.Uri): string {
    return webviewHtml(webview, { dist, media, script: 'timeline.js', style: 'timeline.css', title: 'Recording Timeline', dataImages: true, body: `
<div id="empty" class="empty" hidden>
  <p>The timeline of a recording shows here while a Rewind debug session runs: its events by kind, breakpoint hits, snapshots and where you are.</p>
  <button data-command="openRecording">Open Recording…</button>
  <button data-command="recordGuest" class="secondary">Record Guest Kernel…</button>
</div>
<div id="timeline" hidden>
  <div class="toolbar" role="toolbar" aria-label="Timeline">
    <button id="zoom-out" title="Zoom out (-)" aria-label="Zoom out">−</button>
    <button id="zoom-in" title="Zoom in (+)" aria-label="Zoom in">+</button>
    <button id="zoom-fit" title="Show the whole recording (0)" aria-label="Show the whole recording">Fit</button>
    <button id="follow" title="Keep the current position in view (F)" aria-label="Follow the position" aria-pressed="true">Follow</button>
    <span id="readout" class="readout" aria-live="polite"></span>
  </div>
  <canvas id="canvas" tabindex="0" role="img" aria-label="Recording timeline: click to go to a time point; wheel or +/- to zoom; drag or arrow keys to pan"></canvas>
  <div id="tooltip" class="tooltip" role="tooltip" hidden></div>
  <div id="status" class="status"></div>
</div>
` });
  }

  private post(m: TimelineToWebview): void {
    void this.view?.webview.postMessage(m);
  }

  private sendSession(s: RewindSession | undefined): void {
    if (!s?.position) {
      this.post({ type: 'session', session: null });
      return;
    }
    const p = s.position;
    void s.timelineData().then(
      (data) => {
        if (s !== this.sessions.active) return;
        // The axis ends where replay ends (the adapter's `end`), which the status bar's percentage uses too.
        this.post({ type: 'session', session: { name: s.session.name, ...(s.recording ? { recording: s.recording } : {}), end: p.end, counts: data.counts } });
        this.sendPosition(s);
        this.post({ type: 'markers', markers: s.markers() });
      },
      (e: unknown) => this.post({ type: 'error', message: `cannot read the recording's events: ${(e as Error).message}` }),
    );
  }

  private sendPosition(s: RewindSession): void {
    const p = s.position;
    if (!p || s !== this.sessions.active) return;
    this.post({ type: 'position', icount: p.icount, end: p.end, percent: p.percent });
  }

  private async onMessage(m: TimelineFromWebview): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.sendSession(this.sessions.active);
        return;
      case 'view': {
        const s = this.sessions.active;
        if (!s) return;
        if (!m.overview) this.latestRequest = m.requestId;
        const stale = () => !m.overview && this.latestRequest !== m.requestId;
        try {
          const data = await s.timelineData();
          const lanes = await data.view(m.view, stale);
          this.post({ type: 'lanes', requestId: m.requestId, view: normalizeView(m.view, data.end), lanes, ...(m.overview ? { overview: true } : {}) });
        } catch (e) {
          if (!(e instanceof AbortedError)) this.post({ type: 'error', message: (e as Error).message });
        }
        return;
      }
      case 'seek':
        try {
          await this.sessions.require().request('rewind/seek', { icount: Math.round(m.icount) });
        } catch (e) {
          showError(e);
        }
        return;
      case 'command': {
        const commands = { openRecording: 'rewind.openRecording', recordGuest: 'rewind.recordGuest', goToTime: 'rewind.goToTime' } as const;
        await vscode.commands.executeCommand(commands[m.command]);
        return;
      }
    }
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
  }
}
