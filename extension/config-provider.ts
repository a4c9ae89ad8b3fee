/**
 * Rewind's DebugConfigurationProvider: the configurations it offers when launch.json is created,
 * what F5 does without a launch.json, one "Replay NAME" entry per recording in the workspace
 * (dynamic configurations), and the checks before a session starts. The decisions are in
 * novsc/launch-configs.ts (unit-tested); this is the glue.
 */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { checkResolvedConfiguration, recordConfiguration, replayConfiguration, resolveConfiguration, START_CHOICES, type RewindDebugConfiguration } from './novsc/launch-configs';
import { installCommand } from './novsc/prerequisites';
import { findRecordings, pickKernel, pickRecording } from './pickers';

export class RewindConfigurationProvider implements vscode.DebugConfigurationProvider {
  /** "create a launch.json file": ask which kind, then what to debug. */
  async provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): Promise<vscode.DebugConfiguration[]> {
    const config = await askForConfiguration(folder);
    return config ? [config] : [];
  }

  async resolveDebugConfiguration(folder: vscode.WorkspaceFolder | undefined, config: vscode.DebugConfiguration): Promise<vscode.DebugConfiguration | undefined> {
    const r = resolveConfiguration(config);
    if (r.kind === 'ask') return askForConfiguration(folder);
    if (r.kind === 'error') {
      await showConfigurationError(r.message);
      return undefined;
    }
    return r.config;
  }

  async resolveDebugConfigurationWithSubstitutedVariables(_folder: vscode.WorkspaceFolder | undefined, config: vscode.DebugConfiguration): Promise<vscode.DebugConfiguration | undefined> {
    const check = checkResolvedConfiguration(config as RewindDebugConfiguration);
    if (check.ok) return config;
    if (check.message) {
      const copy = 'Copy Install Command';
      const choice = await vscode.window.showErrorMessage(check.message, copy);
      if (choice === copy && check.missing) await vscode.env.clipboard.writeText(installCommand(check.missing));
    }
    return undefined;
  }
}

/** Dynamic configurations: "Replay NAME" for each recording found in the workspace. */
export class RewindDynamicConfigurationProvider implements vscode.DebugConfigurationProvider {
  async provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): Promise<vscode.DebugConfiguration[]> {
    const recordings = await findRecordings();
    return recordings.slice(0, 20).map((p) => replayConfiguration(p, folder?.uri.fsPath, `Replay ${basename(p)}`));
  }
}

async function askForConfiguration(folder: vscode.WorkspaceFolder | undefined): Promise<RewindDebugConfiguration | undefined> {
  const choice = await vscode.window.showQuickPick(
    START_CHOICES.map((c) => ({ label: c.label, detail: c.detail, start: c.kind })),
    { title: 'Rewind', placeHolder: 'What do you want to debug?' },
  );
  if (!choice) return undefined;
  if (choice.start === 'replay') {
    const recording = await pickRecording();
    return recording ? replayConfiguration(recording, folder?.uri.fsPath) : undefined;
  }
  const kernel = await pickKernel();
  return kernel ? recordConfiguration(kernel, folder?.uri.fsPath) : undefined;
}

async function showConfigurationError(message: string): Promise<void> {
  const open = 'Open launch.json';
  const choice = await vscode.window.showErrorMessage(message, open);
  if (choice === open) await vscode.commands.executeCommand('workbench.action.debug.configure');
}
