/**
 * The status bar item: where the session is in the recording (icount and percentage), updated
 * after every stop; a click opens Go to Time.
 */
import * as vscode from 'vscode';
import { formatPercent, groupDigits, percentOf } from './novsc/format';
import type { RewindSession, SessionTracker } from './sessions';

export class PositionStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('rewind.position', vscode.StatusBarAlignment.Left, 50);
  private readonly subscriptions: vscode.Disposable[];

  constructor(sessions: SessionTracker) {
    this.item.name = 'Rewind Position';
    this.item.command = 'rewind.goToTime';
    this.subscriptions = [sessions.onDidChangePosition((s) => this.show(s)), sessions.onDidChangeActive((s) => this.show(s))];
  }

  private show(s: RewindSession | undefined): void {
    const p = s?.position;
    if (!s || !p) {
      this.item.hide();
      return;
    }
    // From icount and end (not the adapter's rounded percent): the same text as the timeline's readout.
    const percent = formatPercent(percentOf(p.icount, p.end));
    this.item.text = `$(history) ${groupDigits(p.icount)} · ${percent}`;
    this.item.accessibilityInformation = { label: `Rewind position: icount ${groupDigits(p.icount)} of ${groupDigits(p.end)}, ${percent} of the recording` };
    const tip = new vscode.MarkdownString(undefined, true);
    tip.appendMarkdown(`**Rewind** — icount ${groupDigits(p.icount)} of ${groupDigits(p.end)} (${percent})`);
    if (p.atStart) tip.appendMarkdown('  \nAt the start of the recording');
    if (p.atEnd) tip.appendMarkdown('  \nAt the end of the recording');
    const near = s.nearestEventText();
    if (near) tip.appendMarkdown(`  \nNearest event: ${near}`);
    tip.appendMarkdown('  \n\nClick to go to another time');
    this.item.tooltip = tip;
    this.item.show();
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
    this.item.dispose();
  }
}
