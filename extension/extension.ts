/**
 * Rewind's VS Code extension: glue only. It hosts the debug adapter (debug-adapter/, inline by
 * default), offers launch configurations, and adds the views and commands of time travel. The
 * logic that needs no VS Code lives in extension/novsc/ (unit-tested under plain Node).
 */
import * as vscode from 'vscode';
import { REWIND_DEBUG_TYPE } from '@rewind/protocol';
import { RewindAdapterFactory } from './adapter';
import { BookmarksView } from './bookmarks-view';
import { registerBookmarkCommands } from './commands/bookmarks';
import { registerQueryCommands } from './commands/queries';
import { registerRecordingCommands } from './commands/recording';
import { registerTimeTravelCommands } from './commands/time-travel';
import { RewindConfigurationProvider, RewindDynamicConfigurationProvider } from './config-provider';
import { EventsView } from './events-view';
import { RewindLanguageClient } from './language-client';
import { SessionTracker } from './sessions';
import { SnapshotsView } from './snapshots-view';
import { modulesView } from './modules-view';
import { tasksView } from './tasks-view';
import { PositionStatusBar } from './status-bar';
import { TimelineViewProvider } from './timeline-view';
import { ValueHistoryPanel } from './value-history-view';
import { followQemuSetting } from './qemu-setting';

export function activate(context: vscode.ExtensionContext): void {
  const sessions = new SessionTracker();
  const timeline = new TimelineViewProvider(context.extensionUri, sessions);
  const valueHistory = new ValueHistoryPanel(context.extensionUri, sessions);
  context.subscriptions.push(
    sessions,
    followQemuSetting(sessions.log),
    vscode.debug.registerDebugAdapterDescriptorFactory(REWIND_DEBUG_TYPE, new RewindAdapterFactory(context.extensionUri, sessions.log)),
    vscode.debug.registerDebugConfigurationProvider(REWIND_DEBUG_TYPE, new RewindConfigurationProvider()),
    vscode.debug.registerDebugConfigurationProvider(REWIND_DEBUG_TYPE, new RewindDynamicConfigurationProvider(), vscode.DebugConfigurationProviderTriggerKind.Dynamic),
    new PositionStatusBar(sessions),
    timeline,
    vscode.window.registerWebviewViewProvider(TimelineViewProvider.viewId, timeline),
    new EventsView(sessions, context.workspaceState),
    new SnapshotsView(sessions),
    new RewindLanguageClient(context.extensionUri, sessions),
    new BookmarksView(sessions),
    tasksView(sessions),
    modulesView(sessions),
    ...registerBookmarkCommands(sessions),
    ...registerTimeTravelCommands(sessions),
    valueHistory,
    ...registerQueryCommands(sessions, valueHistory),
    ...registerRecordingCommands(context.extensionUri),
  );
  void vscode.commands.executeCommand('setContext', 'rewind.sessionActive', false);
}

export function deactivate(): void {
  // Sessions end with their debug sessions; the inline adapters kill gdb and QEMU when disposed.
}
