/**
 * A language server client that is not VS Code: `rewind lsp --stdio` as a child process, spoken
 * to with vscode-jsonrpc, as nvim or Emacs would. It answers the server's requests a client must
 * answer (refreshes, configuration), records what the server pushes (diagnostics, log lines,
 * refresh requests), and ends the server by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import type { CodeLens, Diagnostic, Hover, InlayHint } from 'vscode-languageserver-protocol';
import { REWIND_BIN } from '../helpers';
import { waitGoneOrKill } from './procs';

export class LspClient {
  private child?: ChildProcess;
  private rpc?: MessageConnection;
  /** Log lines (window/logMessage) and messages shown to the user (window/showMessage). */
  readonly log: string[] = [];
  readonly shown: string[] = [];
  /** The latest diagnostics of each document. */
  readonly diagnostics = new Map<string, Diagnostic[]>();
  /** How many workspace/codeLens/refresh requests the server sent. */
  codeLensRefreshes = 0;
  private refreshWaiters: Array<() => void> = [];
  private diagnosticWaiters: Array<() => void> = [];

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the server and initializes it with `initializationOptions`. */
  async start(initializationOptions: unknown): Promise<{ capabilities: Record<string, unknown> }> {
    const child = spawn(process.execPath, [REWIND_BIN, 'lsp', '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (b: Buffer) => this.log.push(`stderr: ${b.toString()}`));
    const rpc = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    this.rpc = rpc;
    rpc.onNotification('window/logMessage', (p: { message: string }) => this.log.push(p.message));
    rpc.onNotification('window/showMessage', (p: { message: string }) => this.shown.push(p.message));
    rpc.onNotification('textDocument/publishDiagnostics', (p: { uri: string; diagnostics: Diagnostic[] }) => {
      this.diagnostics.set(p.uri, p.diagnostics);
      for (const w of this.diagnosticWaiters.splice(0)) w();
    });
    rpc.onRequest('workspace/codeLens/refresh', () => {
      this.codeLensRefreshes++;
      for (const w of this.refreshWaiters.splice(0)) w();
      return null;
    });
    rpc.onRequest('workspace/inlayHint/refresh', () => null);
    rpc.onRequest('window/showMessageRequest', () => null);
    rpc.listen();
    return rpc.sendRequest('initialize', {
      processId: process.pid,
      rootUri: null,
      capabilities: { workspace: { codeLens: { refreshSupport: true }, inlayHint: { refreshSupport: true } }, textDocument: { codeLens: {}, hover: { contentFormat: ['markdown'] }, inlayHint: {} } },
      initializationOptions,
    }).then(async (r) => {
      await rpc.sendNotification('initialized', {});
      return r as { capabilities: Record<string, unknown> };
    });
  }

  /** didOpen of a C file from disk; returns its URI. */
  async open(path: string): Promise<string> {
    const uri = pathToFileURL(path).href;
    await this.rpc!.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'c', version: 1, text: readFileSync(path, 'utf8') } });
    return uri;
  }

  codeLens(uri: string): Promise<CodeLens[]> {
    return this.rpc!.sendRequest('textDocument/codeLens', { textDocument: { uri } });
  }

  resolve(lens: CodeLens): Promise<CodeLens> {
    return this.rpc!.sendRequest('codeLens/resolve', lens);
  }

  inlayHints(uri: string, lines: number): Promise<InlayHint[] | null> {
    return this.rpc!.sendRequest('textDocument/inlayHint', { textDocument: { uri }, range: { start: { line: 0, character: 0 }, end: { line: lines, character: 0 } } });
  }

  hover(uri: string, line: number, character: number): Promise<Hover | null> {
    return this.rpc!.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line, character } });
  }

  /** Resolves after the server's next workspace/codeLens/refresh. */
  nextCodeLensRefresh(): Promise<void> {
    return new Promise((resolve) => this.refreshWaiters.push(resolve));
  }

  /** Resolves with `uri`'s diagnostics once they satisfy `ok`. */
  async diagnosticsOf(uri: string, ok: (d: Diagnostic[]) => boolean): Promise<Diagnostic[]> {
    for (;;) {
      const d = this.diagnostics.get(uri);
      if (d && ok(d)) return d;
      await new Promise<void>((resolve) => this.diagnosticWaiters.push(resolve));
    }
  }

  /** shutdown and exit; the process is killed if it lingers. */
  async stop(): Promise<void> {
    const pid = this.child?.pid;
    if (this.rpc) {
      await Promise.race([this.rpc.sendRequest('shutdown').catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]);
      await this.rpc.sendNotification('exit').catch(() => undefined);
      this.rpc.dispose();
    }
    if (pid !== undefined) await waitGoneOrKill(pid, 5000);
  }
}
