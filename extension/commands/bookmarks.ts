/**
 * Bookmarks and clickable logs: Add / Go to / Remove Bookmark, and Go to Console Line… and Go to
 * dmesg Line… (the Debug Console's lines cannot be clicked into a time point, so these pickers list
 * the guest's console and kernel log with the time point of each line).
 */
import * as vscode from 'vscode';
import type { RewindBookmark } from '@rewind/protocol';
import { bookmarkNameProblem, consoleLineLabel, defaultBookmarkName, lastAtOrBefore } from '../novsc/bookmarks';
import { describePosition, groupDigits } from '../novsc/format';
import type { RewindSession, SessionTracker } from '../sessions';
import { UserFacingError } from '../sessions';
import { command } from './util';

interface Picked<T> extends vscode.QuickPickItem {
  value: T;
}

export function registerBookmarkCommands(sessions: SessionTracker): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('rewind.addBookmark', command(() => addBookmark(sessions.require()))),
    vscode.commands.registerCommand('rewind.goToBookmark', command(() => goToBookmark(sessions.require()))),
    // From the view's context menu with its row; from the palette, a picker.
    vscode.commands.registerCommand('rewind.removeBookmark', command((b?: RewindBookmark) => removeBookmark(sessions.require(), b))),
    vscode.commands.registerCommand('rewind.goToConsoleLine', command(() => goToConsoleLine(sessions.require()))),
    vscode.commands.registerCommand('rewind.goToDmesgLine', command(() => goToDmesgLine(sessions.require()))),
  ];
}

async function addBookmark(s: RewindSession): Promise<void> {
  const pos = s.position ?? (await s.request('rewind/position', {}));
  await s.refreshBookmarks().catch(() => undefined);
  const name = await vscode.window.showInputBox({
    title: `Add Bookmark at ${describePosition(pos.icount, pos.end)}`,
    prompt: 'A name for this time point (kept beside the recording)',
    value: defaultBookmarkName(pos.icount, s.bookmarks),
    validateInput: (v) => bookmarkNameProblem(v, s.bookmarks),
  });
  if (name === undefined) return;
  const { bookmark } = await s.request('rewind/addBookmark', { name: name.trim(), icount: pos.icount });
  void vscode.window.setStatusBarMessage(`Bookmark "${bookmark.name}" at icount ${groupDigits(bookmark.icount)}`, 5000);
}

async function pickBookmark(s: RewindSession, title: string): Promise<RewindBookmark | undefined> {
  await s.refreshBookmarks();
  if (s.bookmarks.length === 0) throw new UserFacingError('This recording has no bookmarks yet: Rewind: Add Bookmark… names the current time point.');
  const end = s.position?.end ?? 0;
  const picked = await vscode.window.showQuickPick(
    s.bookmarks.map((b): Picked<RewindBookmark> => ({ label: `$(bookmark) ${b.name}`, description: describePosition(b.icount, end), value: b })),
    { title, matchOnDescription: true },
  );
  return picked?.value;
}

async function goToBookmark(s: RewindSession): Promise<void> {
  const b = await pickBookmark(s, 'Go to Bookmark');
  if (b) await s.request('rewind/seek', { icount: b.icount });
}

async function removeBookmark(s: RewindSession, given?: RewindBookmark): Promise<void> {
  const b = given && typeof given.id === 'string' ? given : await pickBookmark(s, 'Remove Bookmark');
  if (b) await s.request('rewind/removeBookmark', { id: b.id });
}

async function goToConsoleLine(s: RewindSession): Promise<void> {
  const r = await s.request('rewind/console', { limit: 100_000 });
  if (r.lines.length === 0) throw new UserFacingError('The guest printed nothing on its serial console in this recording.');
  const pos = s.position;
  const end = pos?.end ?? 0;
  const items = r.lines.map((l): Picked<number> => ({ label: consoleLineLabel(l.text), description: `line ${l.line} · ${describePosition(l.icount, end)}`, value: l.icount }));
  const qp = vscode.window.createQuickPick<Picked<number>>();
  qp.title = `Go to Console Line (${groupDigits(r.lines.length)} lines${r.timepoints === 'approximate' ? ', approximate time points' : ''})`;
  qp.placeholder = 'Type to filter; the line is where the guest printed it';
  qp.matchOnDescription = true;
  qp.items = items;
  // Starts at the last line printed before now.
  const now = pos ? lastAtOrBefore(r.lines, pos.icount) : -1;
  if (now >= 0) qp.activeItems = [items[now]!];
  qp.show();
  const picked = await new Promise<Picked<number> | undefined>((resolve) => {
    qp.onDidAccept(() => resolve(qp.selectedItems[0] ?? qp.activeItems[0]));
    qp.onDidHide(() => resolve(undefined));
  });
  qp.dispose();
  if (picked) await s.request('rewind/seek', { icount: picked.value });
}

/** The kernel log as it is now (Linux guests); the picked record's time point comes from its console line. */
async function goToDmesgLine(s: RewindSession): Promise<void> {
  const log = await s.request('rewind/dmesg', {});
  if (log.lines.length === 0) throw new UserFacingError('The kernel log is empty at this time point: go later in the recording.');
  const picked = await vscode.window.showQuickPick(
    log.lines.map((l): Picked<number> => ({ label: consoleLineLabel(l.text.split('\n')[0] ?? ''), description: `[${(l.timestampNs / 1e9).toFixed(6)}] · #${l.seq}`, value: l.seq })).reverse(),
    { title: `Go to dmesg Line (the kernel log at icount ${groupDigits(log.icount)}, newest first)`, matchOnDescription: true },
  );
  if (!picked) return;
  const t = await s.request('rewind/dmesgTime', { seq: picked.value });
  await s.request('rewind/seek', { icount: t.icount });
}
