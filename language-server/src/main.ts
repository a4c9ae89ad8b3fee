/** `rewind lsp`: the language server on stdin and stdout (bundled as dist/lsp.js). */
import { ProposedFeatures, createConnection } from 'vscode-languageserver/node';
import { startLanguageServer } from './server';

export function runStdio(): void {
  startLanguageServer(createConnection(ProposedFeatures.all, process.stdin, process.stdout));
}
