/**
 * @rewind/core's public API: what the debug adapter and the extension may use. Anything not
 * exported here is internal to the core (tests and benchmarks reach further, by relative path; a
 * test fails when a package imports another package's internals: test/package-boundaries.test.ts).
 */
export { type TimePoint, formatIcount, parseIcount } from './timepoint';
export { UserError, isUserError, CancelledError } from './errors';
export { type BridgeAddress, formatAddress, toAddress } from './bridge/address';
export { BridgeClient, BridgeRequestError } from './bridge/client';
export { startBridge, type RunningBridge } from './bridge/server';
export { GdbRelay, type RelayExecutionEvent } from './gdb/relay';
export { BridgeRelayTarget } from './gdb/bridge-target';
export { Bundle } from './bundle/reader';
export type { Manifest } from './bundle/manifest';
export { record, type RecordProgress } from './record/recorder';
export { parseRecordOptions, type ParsedRecordOptions } from './record/options';
export { defaultBundleName } from './record/bundle-name';
export { elfBuildId } from './qemu/kernel-probe';
export { findOnPath } from './qemu/tools';
export { chooseQemu, type QemuChoice } from './qemu/qemu-binary';
export { vmlinuxMismatch, readLinuxBannerSymbol } from './qemu/linux-banner';
export { findKaslrOffsetOverTime, kaslrProbePoints } from './replay/kaslr-offset';
export { kaslrOn } from './record/linux-defaults';
