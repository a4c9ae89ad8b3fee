// The wire types moved to the top-level protocol/ folder, one file per wire (protocol/index.ts).
// This shim keeps the old import path working; it goes when imports move to the protocol package.
export * from '../../protocol/bridge';
export * from '../../protocol/cli-json';
export * from '../../protocol/dap';
export * from '../../protocol/manifest';
export * from '../../protocol/recording';
export * from '../../protocol/webview';
