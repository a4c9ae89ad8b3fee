/** @rewind/adapter's public API: the DAP session, which the extension runs in-process or `dist/dap.js` serves over stdio. */
export { RewindDebugSession } from './session';
