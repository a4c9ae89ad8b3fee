/**
 * Message types shared by the bridge, the debug adapter, the extension and the webview: the one
 * module where the shapes of Rewind's JSON live. `rewind info --json` and `rewind events --json`
 * print these shapes; docs/json-output.md documents them and they only grow (new optional fields).
 */
import type { Manifest, SnapshotEntry, StopReason } from './bundle/manifest';
import type { ReplayEvent } from './replay-log';
import type { TimePoint } from './timepoint';

export type { ReplayEvent } from './replay-log';
export type { EventKind } from './replay-log';
export type { Manifest, SnapshotEntry, StopReason } from './bundle/manifest';
export type { TimePoint } from './timepoint';

/** `rewind info --json`. */
export interface InfoJson {
  schema: 'rewind.info/1';
  bundle: string;
  formatVersion: number;
  kernel: { originalPath: string; format: string; sha256: string; buildId?: string; linuxVersion?: string };
  initrd?: { originalPath: string; sha256: string };
  append: string;
  memoryMiB: number;
  qemu: { binary: string; version: string };
  recordedAt: string;
  stopReason: StopReason;
  stopDetail?: string;
  wallSeconds: number;
  guestSeconds?: number;
  totalIcount: TimePoint;
  log: { formatName: string; formatVersion: number; rawBytes: number; compressedBytes: number };
  events: { total: number; byKind: Record<string, number> };
  snapshots: SnapshotEntry[];
  console: { lines: number };
  warnings: string[];
}

/** `rewind events --json`. */
export interface EventsJson {
  schema: 'rewind.events/1';
  bundle: string;
  totalIcount: TimePoint;
  /** Counts per kind over the whole recording (not just the selection). */
  counts: Record<string, number>;
  filter: { kinds?: string[]; from?: TimePoint; to?: TimePoint };
  events: ReplayEvent[];
}

export function infoJson(bundleDir: string, m: Manifest): InfoJson {
  return {
    schema: 'rewind.info/1',
    bundle: bundleDir,
    formatVersion: m.formatVersion,
    kernel: {
      originalPath: m.guest.kernel.originalPath,
      format: m.guest.kernel.format,
      sha256: m.guest.kernel.sha256,
      ...(m.guest.kernel.buildId ? { buildId: m.guest.kernel.buildId } : {}),
      ...(m.guest.kernel.linuxVersion ? { linuxVersion: m.guest.kernel.linuxVersion } : {}),
    },
    ...(m.guest.initrd ? { initrd: { originalPath: m.guest.initrd.originalPath, sha256: m.guest.initrd.sha256 } } : {}),
    append: m.guest.append,
    memoryMiB: m.guest.memoryMiB,
    qemu: { binary: m.qemu.binary, version: m.qemu.version },
    recordedAt: m.recording.startedAt,
    stopReason: m.recording.stopReason,
    ...(m.recording.stopDetail ? { stopDetail: m.recording.stopDetail } : {}),
    wallSeconds: m.recording.wallSeconds,
    ...(m.recording.guestSeconds !== undefined ? { guestSeconds: m.recording.guestSeconds } : {}),
    totalIcount: m.recording.totalIcount,
    log: {
      formatName: m.recording.replayLog.logFormatName,
      formatVersion: m.recording.replayLog.logFormatVersion,
      rawBytes: m.stats.logBytesRaw,
      compressedBytes: m.stats.logBytesCompressed,
    },
    events: { total: m.stats.eventTotal, byKind: m.stats.eventCounts },
    snapshots: m.snapshots.list,
    console: { lines: m.console.lineCount },
    warnings: m.recording.warnings,
  };
}

// ============================================================================================
// Bridge protocol (JSON-RPC 2.0): `rewind bridge` and its clients. Documented in docs/bridge.md.
// Addresses cross the wire as hex strings ("0x100a9a") because they are 64-bit; time points are
// plain numbers (instruction counts). Every operation but hello/open names its session.
// ============================================================================================

/** Bumped when a request or result changes incompatibly. `rewind/hello` must name this version. */
export const BRIDGE_PROTOCOL_VERSION = 1;

/** A 64-bit guest address as a hex string, "0x100a9a". */
export type HexAddress = string;

/** JSON-RPC error codes of the bridge; `error.data.code` carries a finer, stable string code. */
export const BridgeErrorCode = {
  /** A UserError: something the user can fix (data.code: the UserError's code). */
  userError: -32000,
  /** No or a wrong token; the connection is closed after this response. */
  unauthorized: -32001,
  /** A request before `rewind/hello`. */
  helloRequired: -32002,
  /** The client asked for another protocol version. */
  protocolMismatch: -32003,
  /** Cancelled by `$/cancelRequest` (the LSP value). */
  cancelled: -32800,
  invalidParams: -32602,
  methodNotFound: -32601,
  internal: -32603,
} as const;

export interface BridgeErrorData {
  /** Stable string code: 'outside-root', 'bad-token', 'hello-required', 'cancelled', 'internal', a UserError code... */
  code: string;
}

export interface HelloParams {
  /** Required on TCP connections (the bridge prints or writes it when it starts). */
  token?: string;
  protocolVersion: number;
  client?: string;
}
export interface HelloResult {
  protocolVersion: number;
  rewindVersion: string;
}

export interface SessionParams {
  sessionId: string;
}

export interface OpenParams {
  /** A bundle directory, relative to the bridge's --root (or absolute, inside it). */
  bundle: string;
}
export interface OpenResult {
  sessionId: string;
  /** The last time point a replay reaches. */
  end: TimePoint;
  totalIcount: TimePoint;
  snapshots: SnapshotEntry[];
  /** The current time point (0 after opening). */
  icount: TimePoint;
}

export interface PositionResult {
  icount: TimePoint;
  end: TimePoint;
}

export interface SeekParams extends SessionParams {
  icount: TimePoint;
}

export interface BridgeWatchpoint {
  address: HexAddress;
  size: number;
  access: 'write' | 'read' | 'readWrite';
}

export interface ContinueParams extends SessionParams {
  breakpoints?: HexAddress[];
  watchpoints?: BridgeWatchpoint[];
  /** Stop at this time point at the latest. */
  until?: TimePoint;
}
export interface ReverseContinueParams extends SessionParams {
  breakpoints?: HexAddress[];
  watchpoints?: BridgeWatchpoint[];
}

/** Why a forward or reverse continue stopped. */
export interface BridgeStop {
  kind: 'time' | 'breakpoint' | 'watchpoint' | 'end' | 'start';
  icount: TimePoint;
  /** breakpoint: its address; watchpoint: the pc after the access. */
  address?: HexAddress;
  /** watchpoint: the data address that triggered. */
  dataAddress?: HexAddress;
}

/** Register name -> hex value ("0x..."). */
export type RegistersResult = Record<string, HexAddress>;

export interface ReadMemoryParams extends SessionParams {
  address: HexAddress;
  /** Bytes, at most 1 MiB. */
  length: number;
}
export interface ReadMemoryResult {
  /** base64 */
  data: string;
}

export interface SnapshotsResult {
  snapshots: SnapshotEntry[];
}

export interface EventsParams extends SessionParams {
  from?: TimePoint;
  to?: TimePoint;
  kinds?: string[];
  limit?: number;
}
export interface EventsResult {
  totalIcount: TimePoint;
  counts: Record<string, number>;
  events: ReplayEvent[];
  /** True when `limit` (default 10000) cut the selection short. */
  truncated: boolean;
}

export interface BridgeHit {
  icount: TimePoint;
  address: HexAddress;
  dataAddress?: HexAddress;
}

export interface HitsParams extends SessionParams {
  address: HexAddress;
  from?: TimePoint;
  to?: TimePoint;
}
export interface WritesParams extends SessionParams {
  address: HexAddress;
  size: number;
  from?: TimePoint;
  to?: TimePoint;
}
export interface HitsResult {
  hits: BridgeHit[];
}
export interface LastWriteParams extends SessionParams {
  address: HexAddress;
  size: number;
}
export interface LastWriteResult {
  /** null when nothing wrote the range before the current position. */
  hit: BridgeHit | null;
}

/** Every bridge request: method -> params and result. */
export interface BridgeRequests {
  'rewind/hello': { params: HelloParams; result: HelloResult };
  'rewind/open': { params: OpenParams; result: OpenResult };
  'rewind/close': { params: SessionParams; result: null };
  'rewind/position': { params: SessionParams; result: PositionResult };
  'rewind/seek': { params: SeekParams; result: PositionResult };
  'rewind/stepi': { params: SessionParams; result: PositionResult };
  'rewind/reverseStepi': { params: SessionParams; result: PositionResult };
  'rewind/continue': { params: ContinueParams; result: BridgeStop };
  'rewind/reverseContinue': { params: ReverseContinueParams; result: BridgeStop };
  'rewind/registers': { params: SessionParams; result: RegistersResult };
  'rewind/readMemory': { params: ReadMemoryParams; result: ReadMemoryResult };
  'rewind/snapshots': { params: SessionParams; result: SnapshotsResult };
  'rewind/events': { params: EventsParams; result: EventsResult };
  'rewind/hits': { params: HitsParams; result: HitsResult };
  'rewind/writes': { params: WritesParams; result: HitsResult };
  'rewind/lastWrite': { params: LastWriteParams; result: LastWriteResult };
}
export type BridgeMethod = keyof BridgeRequests;

export interface ProgressNotification {
  sessionId: string;
  /** Work done and total, in instructions replayed. */
  done: number;
  total: number;
}
export interface PositionChangedNotification {
  sessionId: string;
  icount: TimePoint;
}

/** Every bridge notification (server to client): method -> params. */
export interface BridgeNotifications {
  'rewind/progress': ProgressNotification;
  'rewind/positionChanged': PositionChangedNotification;
}

/** What `rewind bridge` prints on stdout (one JSON line) once it listens. */
export interface BridgeListeningJson {
  schema: 'rewind.bridge/1';
  /** Unix socket path, or undefined on TCP. */
  socket?: string;
  host?: string;
  port?: number;
  protocolVersion: number;
  /** Where the token was written (TCP with --token-file). */
  tokenFile?: string;
}
// ============================================================================================
// End of the bridge protocol.
// ============================================================================================
