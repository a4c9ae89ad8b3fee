/**
 * @rewind/adapter's public API: the DAP session, which the extension runs in-process or
 * `dist/dap.js` serves over stdio; and, for the language server, the debuggee (a bridge session
 * with gdb on it) and the symbol lookups it shares with the adapter.
 */
export { RewindDebugSession } from './session';
export { Debuggee, type DebuggeeOptions } from './debuggee';
export { sourceFacts, type SourceFacts } from './source-facts';
export { codeLocations, lineAddresses } from './handlers/history';
export { evaluate } from './mi/commands';
export { GdbCommandError } from './mi/gdb';
