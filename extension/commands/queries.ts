/**
 * Questions about the whole recording: Find Last Write (who last wrote this variable?), Show All
 * Hits of This Line (every time this line ran) and Show Value History (every write of a variable,
 * in the Value History panel: value-history-view.ts).
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import type { RewindLastWriteResponse } from '@rewind/protocol';
import { expressionFromContext, lineFromContext } from '../novsc/context-args';
import { expressionAt, expressionFromSelection } from '../novsc/value-history';
import type { ValueHistoryPanel } from '../value-history-view';
import { memoryValue } from '../novsc/events';
import { describePosition, groupDigits, shortIcount } from '../novsc/format';
import { UserFacingError, type SessionTracker } from '../sessions';
import { command, focus } from './util';

export function registerQueryCommands(sessions: SessionTracker, valueHistory: ValueHistoryPanel): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('rewind.findLastWrite', command((arg?: unknown) => findLastWrite(sessions, arg))),
    vscode.commands.registerCommand('rewind.showLineHits', command((arg?: unknown) => showLineHits(sessions, arg))),
    vscode.commands.registerCommand('rewind.showValueHistory', command((arg?: unknown) => showValueHistory(sessions, valueHistory, arg))),
  ];
}

/**
 * Value History: the expression of a Variables or Watch row as it is; from the editor or the
 * Command Palette, an input box prefilled with the selection (or the expression under the cursor).
 */
async function showValueHistory(sessions: SessionTracker, panel: ValueHistoryPanel, arg: unknown): Promise<void> {
  const s = sessions.require();
  let expression = expressionFromContext(arg);
  if (!expression) {
    const editor = vscode.window.activeTextEditor;
    let guess: string | undefined;
    if (editor && !editor.selection.isEmpty) guess = expressionFromSelection(editor.document.getText(editor.selection));
    else if (editor) guess = expressionAt(editor.document.lineAt(editor.selection.active.line).text, editor.selection.active.character);
    expression = expressionFromSelection(
      (await vscode.window.showInputBox({
        title: 'Rewind: Value History',
        prompt: 'A C expression for memory (a variable, a field, an array element): every write of its bytes over the whole recording',
        value: guess ?? '',
        placeHolder: 'cfg.heartbeat_interval',
        validateInput: (v) => (v.trim() === '' ? 'Type a C expression: a variable, a field, an array element' : undefined),
      })) ?? '',
    );
    if (!expression) return;
  }
  await panel.show(s, expression);
}

/** The expression: from the Variables or Watch row, else the editor's selection, else asked for. */
async function expressionFor(arg: unknown): Promise<string | undefined> {
  const fromView = expressionFromContext(arg);
  if (fromView) return fromView;
  const editor = vscode.window.activeTextEditor;
  if (editor && !editor.selection.isEmpty) return editor.document.getText(editor.selection).trim();
  const word = editor ? editor.document.getText(editor.document.getWordRangeAtPosition(editor.selection.active)) : '';
  return vscode.window.showInputBox({
    title: 'Find Last Write',
    prompt: 'A C expression for memory (a variable, a field, an array element): go back to the last instruction that wrote it',
    value: word,
    placeHolder: 'cfg.heartbeat_interval',
  });
}

async function findLastWrite(sessions: SessionTracker, arg: unknown): Promise<void> {
  const s = sessions.require();
  const expression = await expressionFor(arg);
  if (!expression) return;
  const { frameId } = focus(s);
  const before = s.position?.icount;
  const r: RewindLastWriteResponse = await s.request('rewind/lastWrite', { expression, ...(frameId !== undefined ? { frameId } : {}), seek: true });
  const what = `${expression} (${r.size} byte${r.size === 1 ? '' : 's'} at ${r.address})`;
  if (!r.found) {
    void vscode.window.showInformationMessage(
      `Nothing wrote ${what} before ${before !== undefined ? `icount ${groupDigits(before)}` : 'now'}: its value comes from the kernel image or from before the recording started.`,
    );
    return;
  }
  const where = r.writer?.function ? `${r.writer.function}${r.writer.path ? ` (${basename(r.writer.path)}:${r.writer.line})` : ''}` : r.writer?.address ?? 'unknown code';
  const oldValue = memoryValue(r.before, r.size);
  const newValue = memoryValue(r.after, r.size);
  const change = oldValue && newValue ? `: ${oldValue} → ${newValue}` : '';
  void vscode.window.showInformationMessage(`Last write of ${expression}: ${where}, just before icount ${groupDigits(r.icount ?? 0)}${change}. Step forward (F10) to see it happen.`);
}

interface HitItem extends vscode.QuickPickItem {
  icount: number;
}

async function showLineHits(sessions: SessionTracker, arg: unknown): Promise<void> {
  const s = sessions.require();
  const editor = vscode.window.activeTextEditor;
  const uri = arg instanceof vscode.Uri ? arg : (arg as { uri?: vscode.Uri } | undefined)?.uri instanceof vscode.Uri ? (arg as { uri: vscode.Uri }).uri : editor?.document.uri;
  const line = lineFromContext(arg) ?? (editor ? editor.selection.active.line + 1 : undefined);
  if (!uri || uri.scheme !== 'file' || line === undefined) throw new UserFacingError('Show All Hits of This Line needs a line of a source file: right-click a line number, or put the cursor on a line.');
  const path = uri.fsPath;
  const where = `${basename(path)}:${line}`;
  const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: `Rewind: finding every run of ${where}` }, () => s.request('rewind/hits', { source: { path }, line }));
  s.hits = r.hits.map((h, i) => ({ icount: h.icount, kind: 'hit' as const, label: `${where}, run ${i + 1} of ${r.hits.length}` }));
  sessions.markersChanged(s);
  if (r.hits.length === 0) {
    void vscode.window.showInformationMessage(`${where} never ran in this recording (code at ${r.addresses.join(', ')}).`);
    return;
  }
  const now = s.position?.icount ?? 0;
  const end = s.position?.end ?? r.hits[r.hits.length - 1]!.icount;
  const items: HitItem[] = r.hits.map((h, i) => {
    const d = h.icount - now;
    const rel = d === 0 ? '● now' : d < 0 ? `◀ ${shortIcount(-d)} before now` : `▶ ${shortIcount(d)} after now`;
    return { label: `Run ${i + 1}`, description: `${describePosition(h.icount, end)}  ${rel}`, detail: h.address, icount: h.icount };
  });
  const qp = vscode.window.createQuickPick<HitItem>();
  qp.title = `${where} ran ${r.hits.length} time${r.hits.length === 1 ? '' : 's'} — pick one to go there (also marked on the timeline)`;
  qp.items = items;
  // Start at the last run before now: the usual question is "what happened the previous time?".
  const previous = [...items].reverse().find((i) => i.icount < now) ?? items[0]!;
  qp.activeItems = [previous];
  qp.show();
  const picked = await new Promise<HitItem | undefined>((resolve) => {
    qp.onDidAccept(() => resolve(qp.activeItems[0]));
    qp.onDidHide(() => resolve(undefined));
  });
  qp.dispose();
  if (picked) await s.request('rewind/seek', { icount: picked.icount });
}
