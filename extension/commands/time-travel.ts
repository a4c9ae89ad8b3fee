/**
 * Moving through the recording: Go to Time…, Reverse Step Into / Out, Take Snapshot Here, and
 * the seek behind clicks in the timeline and the trees.
 */
import * as vscode from 'vscode';
import type { RewindSeekArguments } from '@rewind/protocol';
import { describeEvent, describePosition, groupDigits } from '../novsc/format';
import { typedLines } from '../novsc/events';
import { parseTimeInput, TIME_INPUT_HELP } from '../novsc/time-input';
import type { SessionTracker } from '../sessions';
import { command, focus } from './util';

interface TimeItem extends vscode.QuickPickItem {
  target?: RewindSeekArguments;
  error?: string;
}

/** Events worth jumping to from Go to Time (clock reads and console bytes are too many). */
const JUMP_KINDS = ['kernel-panic', 'kernel-oops', 'kernel-bug', 'kernel-warning', 'serial-input', 'exception', 'block', 'network', 'input', 'shutdown'];

export function registerTimeTravelCommands(sessions: SessionTracker): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('rewind.goToTime', command(() => goToTime(sessions))),
    vscode.commands.registerCommand('rewind.reverseStepInto', command(async () => {
      const s = sessions.require();
      await s.request('rewind/reverseStepIn', { threadId: focus(s).threadId });
    })),
    vscode.commands.registerCommand('rewind.reverseStepOut', command(async () => {
      const s = sessions.require();
      await s.request('rewind/reverseStepOut', { threadId: focus(s).threadId });
    })),
    vscode.commands.registerCommand('rewind.takeSnapshot', command(async () => {
      const s = sessions.require();
      const { snapshot } = await s.request('rewind/takeSnapshot', {});
      await s.refreshSnapshots();
      sessions.markersChanged(s);
      void vscode.window.showInformationMessage(`Snapshot ${snapshot.name} at icount ${groupDigits(snapshot.icount)}: going back to this point, and replaying from it, is now fast (kept for this session).`);
    })),
    /** Internal: the timeline, the trees and pickers seek through this. */
    vscode.commands.registerCommand('rewind.seek', command(async (target: RewindSeekArguments) => {
      await sessions.require().request('rewind/seek', target);
    })),
  ];
}

async function goToTime(sessions: SessionTracker): Promise<void> {
  const s = sessions.require();
  const pos = s.position ?? (await s.request('rewind/position', {}));
  const end = pos.end;
  const qp = vscode.window.createQuickPick<TimeItem>();
  qp.title = `Go to Time — now at ${describePosition(pos.icount, end)}`;
  qp.placeholder = `Type ${TIME_INPUT_HELP}; or pick an event`;
  qp.matchOnDescription = true;
  const fixed: TimeItem[] = [
    { label: '$(debug-restart) Start of the recording', description: 'icount 0', target: { icount: 0 } },
    { label: '$(debug-stop) End of the recording', description: `icount ${groupDigits(end)}`, target: { icount: end } },
  ];
  qp.items = fixed;
  qp.busy = true;
  const typedItems = (): TimeItem[] => {
    const parsed = parseTimeInput(qp.value, { end, current: pos.icount });
    if (!parsed) return [];
    if (!parsed.ok) return [{ label: '$(error) Not a time point', detail: parsed.error, alwaysShow: true, error: parsed.error }];
    const t = parsed.target;
    const target: RewindSeekArguments = t.kind === 'icount' ? { icount: t.icount } : t.kind === 'percent' ? { percent: t.percent } : { eventIndex: t.eventIndex };
    return [{ label: `$(arrow-right) ${parsed.label}`, alwaysShow: true, target }];
  };

  qp.show();

  // Snapshots and notable events, loaded while the picker is open.
  void (async () => {
    const extra: TimeItem[] = [];
    try {
      if (s.snapshots.length === 0) await s.refreshSnapshots();
      extra.push({ label: 'Snapshots', kind: vscode.QuickPickItemKind.Separator });
      for (const snap of s.snapshots) extra.push({ label: `$(device-camera) Snapshot ${snap.name}`, description: describePosition(snap.icount, end), target: { icount: snap.icount } });
      const { events, truncated } = await s.request('rewind/events', { kinds: JUMP_KINDS, limit: 5000 });
      const lines = typedLines(events);
      if (lines.length > 0) {
        extra.push({ label: 'Typed at the console', kind: vscode.QuickPickItemKind.Separator });
        for (const l of lines) extra.push({ label: `$(keyboard) ${l.text}`, description: describePosition(l.icount, end), detail: `event #${l.eventIndex}`, target: { eventIndex: l.eventIndex } });
      }
      const others = events.filter((e) => e.kind !== 'serial-input');
      if (others.length > 0) {
        extra.push({ label: truncated ? 'Events (the first 5,000)' : 'Events', kind: vscode.QuickPickItemKind.Separator });
        for (const e of others.slice(0, 2000)) extra.push({ label: `$(symbol-event) ${describeEvent(e)}`, description: describePosition(e.icount, end), detail: `event #${e.index}`, target: { eventIndex: e.index } });
      }
    } catch {
      // the picker still works with typed input
    }
    qp.items = [...typedItems(), ...fixed, ...extra];
    qp.busy = false;
  })();

  let base = fixed;
  qp.onDidChangeValue(() => {
    base = qp.items.filter((i) => i.alwaysShow !== true);
    qp.items = [...typedItems(), ...base];
  });

  const picked = await new Promise<TimeItem | undefined>((resolve) => {
    qp.onDidAccept(() => resolve(qp.selectedItems[0] ?? qp.activeItems[0]));
    qp.onDidHide(() => resolve(undefined));
  });
  qp.dispose();
  if (!picked) return;
  if (picked.error) {
    void vscode.window.showErrorMessage(picked.error);
    return;
  }
  if (picked.target) await s.request('rewind/seek', picked.target);
}
