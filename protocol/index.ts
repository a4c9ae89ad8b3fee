/**
 * Rewind's wire types, one file per wire: the bridge's JSON-RPC (bridge.ts), the debug adapter's
 * launch arguments and custom requests and events (dap.ts), the extension <-> timeline webview
 * messages (webview.ts) and the `rewind` command's JSON outputs (cli-json.ts), the language server's additions to LSP (lsp.ts); and what they share:
 * time points and events (recording.ts), manifest.json (manifest.ts), the error codes
 * (error-codes.ts). Types and constant tables only: nothing here imports from another folder.
 */
export * from './bridge';
export * from './cli-json';
export * from './dap';
export * from './error-codes';
export * from './lsp';
export * from './manifest';
export * from './recording';
export * from './webview';
