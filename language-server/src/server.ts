/**
 * Rewind's language server: the recording's facts in the kernel's sources, over plain LSP.
 * - CodeLens above each function: how often it ran, and its first / previous / next / last call
 *   (previous and next relative to the debug session's position), each a `rewind.goto` command;
 * - inlay hints: how often each line ran; lines that never ran faded (hint diagnostics tagged
 *   "unnecessary");
 * - hover on a variable or field: its value now and its recent writes, each a link there.
 *
 * Its recording comes from the client (VS Code: the extension's `rewind/session` and
 * `rewind/position` notifications), or from settings that name a bridge and a recording, whose
 * sessions it then follows (nvim, Emacs). With neither it answers nothing.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  LSP_POSITION_NOTIFICATION,
  LSP_SESSION_NOTIFICATION,
  type RewindLspPosition,
  type RewindLspSession,
  type RewindLspSettings,
  type RewindRecordingReach,
  type TimePoint,
} from '@rewind/protocol';
import { CodeLensRefreshRequest, InlayHintRefreshRequest, TextDocumentSyncKind, TextDocuments, type CodeLens, type Connection, type InitializeResult } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { expressionAt } from './expression-at';
import { LinkedRecording, type FileCounts } from './linked-recording';
import { functionLenses, lineHint, neverRan, resolvedNavLens, valueHover, type NavLensData } from './presentation';
import { settingsOf } from './settings';

export function startLanguageServer(connection: Connection): void {
  new RewindLanguageServer(connection).listen();
}

class RewindLanguageServer {
  private readonly documents = new TextDocuments(TextDocument);
  private settings: RewindLspSettings = {};
  private recording?: Promise<LinkedRecording | undefined>;
  /** Where the followed debug session is. */
  private position: TimePoint = 0;
  private canRefresh = { codeLens: false, inlayHint: false };
  private fromClient = false;

  constructor(private readonly connection: Connection) {}

  listen(): void {
    const c = this.connection;
    c.onInitialize((params): InitializeResult => {
      const ws = params.capabilities.workspace;
      this.canRefresh = { codeLens: ws?.codeLens?.refreshSupport === true, inlayHint: ws?.inlayHint?.refreshSupport === true };
      this.settings = settingsOf(params.initializationOptions);
      return {
        capabilities: {
          textDocumentSync: TextDocumentSyncKind.Incremental,
          codeLensProvider: { resolveProvider: true },
          inlayHintProvider: true,
          hoverProvider: true,
        },
        serverInfo: { name: 'rewind-lsp' },
      };
    });
    c.onInitialized(() => this.followSettings());
    c.onDidChangeConfiguration((p) => {
      const next = settingsOf(p.settings);
      const relink = next.bridge !== this.settings.bridge || next.recording !== this.settings.recording;
      this.settings = next;
      if (relink && !this.fromClient) this.followSettings();
      else this.refreshAll();
    });
    c.onNotification(LSP_SESSION_NOTIFICATION, (p: RewindLspSession) => {
      this.fromClient = p !== null;
      if (p === null) this.link(undefined);
      else {
        this.position = p.icount;
        this.link(p.reach);
      }
    });
    c.onNotification(LSP_POSITION_NOTIFICATION, (p: RewindLspPosition) => this.moved(p.icount));

    c.onCodeLens(async (p) => {
      const rec = await this.linked();
      const doc = this.documents.get(p.textDocument.uri);
      if (!rec || !doc) return [];
      const counts = await this.counts(rec, p.textDocument.uri);
      if (!counts) return [];
      // A navigation lens found before (this position's, or first and last) comes resolved: a refresh
      // does not take its command away while the user picks it.
      return counts.functions.flatMap((f) =>
        functionLenses(p.textDocument.uri, f, lineOf(doc, f.line)).map((lens) => {
          const data = lens.data as NavLensData | undefined;
          const known = data && rec.knownHit(data.function, data.which, this.position);
          return data && known ? resolvedNavLens(lens, data, known.icount) : lens;
        }),
      );
    });
    c.onCodeLensResolve(async (lens: CodeLens) => {
      const data = lens.data as NavLensData | undefined;
      const rec = await this.linked();
      if (!data || !rec || !Array.isArray(data.addresses)) return lens;
      try {
        return resolvedNavLens(lens, data, await rec.hit(data.function, data.addresses.map((a) => BigInt(a)), data.which, this.position));
      } catch (e) {
        this.log(`${data.which} call of ${data.function}: ${(e as Error).message}`);
        lens.command = { title: `${data.which}: not found (see the log)`, command: '' };
        return lens;
      }
    });
    c.languages.inlayHint.on(async (p) => {
      const rec = await this.linked();
      const doc = this.documents.get(p.textDocument.uri);
      if (!rec || !doc || this.settings.lineCounts === 'off') return [];
      const counts = await this.counts(rec, p.textDocument.uri);
      if (!counts) return [];
      return counts.lines.filter((l) => l.line - 1 >= p.range.start.line && l.line - 1 <= p.range.end.line).map((l) => lineHint(l, lineOf(doc, l.line)));
    });
    c.onHover(async (p) => {
      const rec = await this.linked();
      const doc = this.documents.get(p.textDocument.uri);
      if (!rec || !doc) return null;
      const at = expressionAt(lineOf(doc, p.position.line + 1), p.position.character);
      if (!at) return null;
      try {
        const v = await rec.valueAt(at.expression, this.position);
        return valueHover(v, this.position, { start: { line: p.position.line, character: at.start }, end: { line: p.position.line, character: at.end } });
      } catch (e) {
        this.log(`hover on ${at.expression}: ${(e as Error).message}`);
        return null;
      }
    });
    this.documents.onDidOpen((e) => void this.publishCoverage(e.document.uri));
    this.documents.onDidClose((e) => void c.sendDiagnostics({ uri: e.document.uri, diagnostics: [] }));
    c.onShutdown(() => this.link(undefined));
    this.documents.listen(c);
    c.listen();
  }

  /** Opens the recording named by the settings (nvim, Emacs) and follows its sessions' positions. */
  private followSettings(): void {
    const s = this.settings;
    if (s.bridge === undefined || s.recording === undefined) {
      if (!this.fromClient) this.link(undefined);
      return;
    }
    let token = s.token;
    if (token === undefined && s.tokenFile !== undefined) {
      try {
        token = readFileSync(s.tokenFile, 'utf8').trim();
      } catch (e) {
        void this.connection.window.showErrorMessage(`Rewind: cannot read the bridge's tokenFile ${s.tokenFile}: ${(e as Error).message}`);
        return;
      }
    }
    const reach: RewindRecordingReach = {
      bridge: s.bridge,
      ...(token !== undefined ? { token } : {}),
      recording: s.recording,
      symbols: s.symbols ?? [],
      sourceMap: Object.entries(s.sourceMap ?? {}),
    };
    this.link(reach, async (rec) => {
      rec.client.onFollowedPosition((p) => this.moved(p.icount));
      const followed = await rec.client.follow(s.recording!);
      const last = followed.sessions.at(-1);
      if (last) this.moved(last.icount);
    });
  }

  /** Replaces the recording (undefined: none); refreshes what the editor shows. */
  private link(reach: RewindRecordingReach | undefined, then?: (rec: LinkedRecording) => Promise<void>): void {
    const old = this.recording;
    this.recording = undefined;
    void old?.then((r) => r?.dispose());
    if (reach) {
      const gdbPath = this.settings.gdbPath;
      this.recording = LinkedRecording.open(reach, { ...(gdbPath ? { gdbPath } : {}), log: (l) => this.log(l) }).then(
        async (rec) => {
          await then?.(rec);
          return rec;
        },
        (e: Error) => {
          void this.connection.window.showErrorMessage(`Rewind: cannot open the recording ${reach.recording} on ${reach.bridge}: ${e.message}`);
          return undefined;
        },
      );
    }
    this.refreshAll();
  }

  private async linked(): Promise<LinkedRecording | undefined> {
    return this.recording;
  }

  private moved(icount: TimePoint): void {
    if (icount === this.position) return;
    this.position = icount;
    if (this.canRefresh.codeLens) void this.connection.sendRequest(CodeLensRefreshRequest.type).catch(() => undefined);
  }

  private refreshAll(): void {
    if (this.canRefresh.codeLens) void this.connection.sendRequest(CodeLensRefreshRequest.type).catch(() => undefined);
    if (this.canRefresh.inlayHint) void this.connection.sendRequest(InlayHintRefreshRequest.type).catch(() => undefined);
    for (const d of this.documents.all()) void this.publishCoverage(d.uri);
  }

  private async counts(rec: LinkedRecording, uri: string): Promise<FileCounts | undefined> {
    if (!uri.startsWith('file:')) return undefined;
    try {
      return await rec.fileCounts(fileURLToPath(uri));
    } catch (e) {
      this.log(`${uri}: ${(e as Error).message}`);
      return undefined;
    }
  }

  private async publishCoverage(uri: string): Promise<void> {
    const rec = await this.linked();
    const doc = this.documents.get(uri);
    const counts = rec && doc && this.settings.coverage !== false ? await this.counts(rec, uri) : undefined;
    const diagnostics = counts && doc ? counts.lines.filter((l) => l.count === 0).map((l) => neverRan(l, lineOf(doc, l.line))) : [];
    await this.connection.sendDiagnostics({ uri, diagnostics });
  }

  private log(line: string): void {
    this.connection.console.log(line);
  }
}

/** Line `line` (1-based) of a document, without its newline. */
function lineOf(doc: TextDocument, line: number): string {
  return doc.getText({ start: { line: line - 1, character: 0 }, end: { line, character: 0 } }).replace(/\r?\n$/, '');
}
