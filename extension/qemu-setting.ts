/**
 * Keeps REWIND_QEMU in the extension host's environment equal to the setting rewind.qemuPath.
 * The inline adapter and Record Guest Kernel… run the engine in this process, and the executable
 * adapter inherits the environment, so this one variable reaches every QEMU the extension starts.
 */
import * as vscode from 'vscode';
import { chooseQemu } from '@rewind/core';
import { rewindQemuEnv } from './novsc/qemu-choice';

export function followQemuSetting(log: vscode.LogOutputChannel): vscode.Disposable {
  const inherited = process.env['REWIND_QEMU'];
  const apply = (): void => {
    const setting = vscode.workspace.getConfiguration('rewind').get<string>('qemuPath') ?? '';
    try {
      const value = rewindQemuEnv(setting, inherited);
      if (value === undefined) delete process.env['REWIND_QEMU'];
      else process.env['REWIND_QEMU'] = value;
      // A path that is not a build fails here, at once, rather than at the next replay.
      if (value !== undefined && value !== 'system') log.info(`QEMU: ${chooseQemu('qemu-system-x86_64').path} (rewind.qemuPath)`);
    } catch (e) {
      log.error((e as Error).message);
      const open = 'Open Settings';
      void vscode.window.showErrorMessage((e as Error).message, open).then((c) => {
        if (c === open) void vscode.commands.executeCommand('workbench.action.openSettings', 'rewind.qemuPath');
      });
    }
  };
  apply();
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('rewind.qemuPath')) apply();
  });
}
