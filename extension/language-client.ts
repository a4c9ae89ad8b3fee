/**
 * The language server in VS Code (language-server/, `dist/lsp.js`): started with the first Rewind
 * debug session, told which recording that session has open (DAP rewind/recordingReach) and
 * where it is after every move, and told when the session ends. Its lenses and hover links run
 * `rewind.goto`, which moves the active session.
 */
import * as vscode from 'vscode';
import { LanguageClient, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import {
  GOTO_COMMAND,
  LSP_POSITION_NOTIFICATION,
  LSP_SESSION_NOTIFICATION,
  type RewindGotoArguments,
  type RewindLspPosition,
  type RewindLspSession,
} from '@rewind/protocol';
import type { RewindSession, SessionTracker } from './sessions';
import { command } from './commands/util';

/** The languages whose sources a kernel is built from. */
const LANGUAGES = ['c', 'cpp', 'asm', 'gas', 'nasm', 'arm', 'arm64'];

export class RewindLanguageClient implements vscode.Disposable {
  private client?: LanguageClient;
  private starting?: Promise<LanguageClient | undefined>;
  /** The session whose recording the server describes now. */
  private described?: RewindSession;
  /** The position the server was told last (a repeat would make it ask for every lens again). */
  private told?: number;
  /** follow() calls in the order of their events: a position sent before its session would be lost. */
  private following: Promise<void> = Promise.resolve();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly sessions: SessionTracker,
  ) {
    this.disposables.push(
      vscode.commands.registerCommand('rewind.goto', command(async (args: RewindGotoArguments) => {
        if (typeof args?.icount !== 'number') throw new Error('rewind.goto needs {icount}');
        await sessions.require().request('rewind/seek', { icount: args.icount });
      })),
      sessions.onDidChangePosition((s) => this.enqueue(s)),
      sessions.onDidChangeActive((s) => this.enqueue(s)),
    );
  }

  private enqueue(s: RewindSession | undefined): void {
    this.following = this.following.then(() => this.follow(s)).catch((e: Error) => this.sessions.log.warn(`the language server did not hear of a move: ${e.message}`));
  }

  /** Tells the server about the session the views follow (its recording once, then each position). */
  private async follow(s: RewindSession | undefined): Promise<void> {
    if (!vscode.workspace.getConfiguration('rewind').get<boolean>('languageServer.enabled', true)) return;
    if (!s) {
      if (this.described) {
        this.described = undefined;
        await this.client?.sendNotification(LSP_SESSION_NOTIFICATION, null satisfies RewindLspSession);
      }
      return;
    }
    if (!s.position) return; // not stopped yet: the recording is still opening
    const client = await this.start();
    if (!client) return;
    if (this.described !== s) {
      this.described = s;
      const reach = await s.request('rewind/recordingReach', {});
      await client.sendNotification(LSP_SESSION_NOTIFICATION, { reach, icount: s.position.icount } satisfies RewindLspSession);
    } else if (this.told !== s.position.icount) {
      await client.sendNotification(LSP_POSITION_NOTIFICATION, { icount: s.position.icount } satisfies RewindLspPosition);
    }
    this.told = s.position.icount;
  }

  private start(): Promise<LanguageClient | undefined> {
    this.starting ??= (async () => {
      const lsp = vscode.Uri.joinPath(this.extensionUri, 'dist', 'lsp.js').fsPath;
      // In VS Code the extension host's executable is Electron: ELECTRON_RUN_AS_NODE makes it plain Node.
      const server: ServerOptions = {
        command: process.execPath,
        args: ['-e', `require(${JSON.stringify(lsp)}).runStdio()`],
        options: { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } },
      };
      const options: LanguageClientOptions = {
        documentSelector: LANGUAGES.map((language) => ({ scheme: 'file', language })),
        synchronize: { configurationSection: 'rewind' },
        initializationOptions: { rewind: lspSettings() },
        // Hover links are rewind.goto commands.
        markdown: { isTrusted: { enabledCommands: [GOTO_COMMAND] } },
      };
      this.client = new LanguageClient('rewind', 'Rewind Language Server', server, options);
      await this.client.start();
      return this.client;
    })().catch((e: Error) => {
      this.sessions.log.error(`the language server did not start: ${e.message}`);
      return undefined;
    });
    return this.starting;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    void this.client?.stop();
  }
}

/** The settings the server reads (the rest of the section follows through didChangeConfiguration). */
function lspSettings(): { lineCounts?: string; coverage?: boolean } {
  const c = vscode.workspace.getConfiguration('rewind');
  return { lineCounts: c.get<string>('lineCounts', 'inlay'), coverage: c.get<boolean>('coverage', true) };
}
