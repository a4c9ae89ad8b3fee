/**
 * The Modules view: the guest's loadable modules at the session's time point (DAP `modules`; a
 * Linux guest's, each load with its address and whether gdb has its symbols), refreshed as time
 * moves while the view is visible.
 */
import * as vscode from 'vscode';
import { moduleRows, modulesSummary, type ModuleRow } from './novsc/modules';
import type { SessionTracker } from './sessions';
import { TimePointView } from './time-point-view';

const WITH_SYMBOLS = new vscode.ThemeIcon('symbol-module');
const WITHOUT_SYMBOLS = new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'));

/** The view, and its Refresh command. */
export function modulesView(sessions: SessionTracker): vscode.Disposable {
  const view = new TimePointView<ModuleRow>(sessions, {
    viewId: 'rewind.modules',
    load: async (s) => {
      const modules = await s.modules();
      return { rows: moduleRows(modules), message: modulesSummary(modules, s.position?.icount) };
    },
    children: () => [],
    icon: (r) => (r.symbols ? WITH_SYMBOLS : WITHOUT_SYMBOLS),
  });
  return vscode.Disposable.from(view, vscode.commands.registerCommand('rewind.refreshModules', () => view.refresh()));
}
