/** The bridge daemon and its client. The wire types are in protocol/bridge.ts (top level); docs/bridge.md describes the protocol. */
export { startBridge, closeOnSignals, type BridgeOptions, type RunningBridge } from './server';
export { BridgeClient, BridgeRequestError, type BreakpointSpec, type RequestOptions } from './client';
export { defaultSocketPath, formatAddress, isLoopback, parseListen, type BridgeAddress } from './address';
export { resolveInRoot } from './root';
