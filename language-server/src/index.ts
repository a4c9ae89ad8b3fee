/** @rewind/language-server's public API: the server on a connection, and its stdio entry (`rewind lsp`). */
export { startLanguageServer } from './server';
export { runStdio } from './main';
