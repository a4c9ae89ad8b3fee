/**
 * Message types shared by the bridge, the debug adapter, the extension and the webview: the one
 * module where the shapes of Rewind's JSON live. `rewind info --json` and `rewind events --json`
 * print these shapes; docs/json-output.md documents them and they only grow (new optional fields).
 */
import type { ErrorCode } from './error-codes';
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
  /** A disk recorded through blkreplay (bundle format version 2). */
  disk?: { originalPath: string; format: string; sha256: string; virtualSize: number; device: string };
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

/** The verdict on one snapshot of a recording (snapshot verification: docs/bundle-format.md). */
export interface SnapshotVerdict {
  name: string;
  icount: TimePoint;
  /** 'ok': resumes and replays the same machine; 'bad': does not; 'unknown': could not be compared (the snapshot before it is bad). */
  verdict: 'ok' | 'bad' | 'unknown';
  /** Where it was compared with the replay from the snapshot before it. */
  probe: TimePoint;
  why?: string;
}

/** What a replay of a whole recording found (`rewind check`). */
export interface ReplayCheckResult {
  /** icount at which the replay stopped. */
  icount: TimePoint;
  /** Where a replay of this recording ends (its first shutdown event). */
  endIcount: TimePoint;
  totalIcount: TimePoint;
  /** Console output the replay produced, compared with the recorded transcript. */
  consoleMatches: boolean;
  consoleBytes: number;
  wallSeconds: number;
}

/** `rewind check --json`. */
export interface CheckJson extends ReplayCheckResult {
  schema: 'rewind.check/1';
  bundle: string;
  ok: boolean;
  /** Each snapshot, started as QEMU's own replay starts one (rrsnapshot, paused, continued). */
  snapshots: SnapshotVerdict[];
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
    ...(m.guest.disk ? { disk: { originalPath: m.guest.disk.originalPath, format: m.guest.disk.format, sha256: m.guest.disk.sha256, virtualSize: m.guest.disk.virtualSize, device: m.guest.disk.device } } : {}),
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
  /** Stable string code: one of error-codes.ts, each listed in docs/bridge.md. */
  code: ErrorCode;
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
  /** The recorded snapshots. */
  snapshots: BridgeSnapshot[];
  /** The current time point (0 after opening). */
  icount: TimePoint;
  /** The bundle's absolute path on the bridge's host. */
  path: string;
  /** The recorded kernel, so a client can check its symbol files against it. */
  kernel: { format: string; sha256: string; buildId?: string; linuxVersion?: string; originalPath: string };
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

/** Inclusive bounds on the stack pointer (rsp; esp on i386 guests); either may be left open. */
export interface BridgeStackFilter {
  min?: HexAddress;
  max?: HexAddress;
}

/**
 * A breakpoint that counts only in some frames: it triggers when its address executes with the
 * stack pointer within `stack`. Other hits are stepped over and not reported. E.g. "the entry of
 * the current function in this frame": {address: entry, stack: {min: CFA-8, max: CFA-8}}.
 */
export interface BridgeBreakpoint {
  address: HexAddress;
  stack?: BridgeStackFilter;
}

export interface ContinueParams extends SessionParams {
  /** Code addresses (hex strings), or breakpoints with a stack filter. */
  breakpoints?: Array<HexAddress | BridgeBreakpoint>;
  watchpoints?: BridgeWatchpoint[];
  /** Stop at this time point at the latest. */
  until?: TimePoint;
}
export interface ReverseContinueParams extends SessionParams {
  breakpoints?: Array<HexAddress | BridgeBreakpoint>;
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

/** A snapshot a session can start replay processes from. */
export interface BridgeSnapshot extends SnapshotEntry {
  /** 'record': taken while recording (in the bundle); 'replay': created with rewind/createSnapshot (this session only, never in the bundle). */
  source: 'record' | 'replay';
}

export interface SnapshotsResult {
  /** The recorded snapshots and those created with rewind/createSnapshot, by icount. */
  snapshots: BridgeSnapshot[];
}
export interface CreateSnapshotResult {
  snapshot: BridgeSnapshot;
}

/** The console's lines (the bundle's console.jsonl), at or after `from`. */
export interface ConsoleParams extends SessionParams {
  from?: TimePoint;
  /** At most this many lines (default 1000). */
  limit?: number;
}
export interface ConsoleLine {
  /** 1-based line number of the transcript. */
  line: number;
  /** When the guest wrote its first character. */
  start: TimePoint;
  /** When the guest wrote its newline (or, for 'approximate' time points, an upper bound). */
  icount: TimePoint;
  text: string;
}
export interface ConsoleResult {
  lines: ConsoleLine[];
  truncated: boolean;
  timepoints: 'exact' | 'approximate';
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
  /** One code address; or `addresses`. */
  address?: HexAddress;
  /** Any of several code addresses (e.g. every address of a source line), each optionally with a stack filter. */
  addresses?: Array<HexAddress | BridgeBreakpoint>;
  from?: TimePoint;
  to?: TimePoint;
  /**
   * Lower `from` to the nearest snapshot at or before it (recorded, or added by the engine), so
   * that the scan starts where a replay process can: the cheapest window that reaches back to
   * `from`. Searching backward, ask again with `to` = the `from` of the answer.
   */
  snapFrom?: boolean;
}
export interface WritesParams extends SessionParams {
  address: HexAddress;
  size: number;
  from?: TimePoint;
  to?: TimePoint;
}
export interface HitsResult {
  hits: BridgeHit[];
  /** rewind/hits: the range that was scanned (`from` as lowered by snapFrom). */
  from?: TimePoint;
  to?: TimePoint;
}
export interface LastWriteParams extends SessionParams {
  address: HexAddress;
  size: number;
}
export interface LastWriteResult {
  /** null when nothing wrote the range before the current position. */
  hit: BridgeHit | null;
}

/**
 * One read-only gdb remote-protocol packet for the replay process that holds the current time:
 * g, p, m, qXfer:features:read, qfThreadInfo/qsThreadInfo, qThreadExtraInfo, qC, qAttached,
 * qOffsets, qSymbol, qTStatus, T<thread>, ?, H<g|c><thread>. Anything else (writes, execution,
 * breakpoints, k, D...) is refused with 'packet-refused'.
 */
export interface GdbPacketParams extends SessionParams {
  /** The packet's payload, without "$" and checksum: "g", "m100a9a,10". */
  packet: string;
  /** Read as this thread (gdb's thread id, "1" or "p1.1"): Hg<thread> is sent first. */
  thread?: string;
}
export interface GdbPacketResult {
  /** The gdbstub's reply payload ("E.." for an error, "" when unsupported). */
  reply: string;
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
  'rewind/console': { params: ConsoleParams; result: ConsoleResult };
  'rewind/hits': { params: HitsParams; result: HitsResult };
  'rewind/writes': { params: WritesParams; result: HitsResult };
  'rewind/lastWrite': { params: LastWriteParams; result: LastWriteResult };
  'rewind/gdbPacket': { params: GdbPacketParams; result: GdbPacketResult };
  'rewind/createSnapshot': { params: SessionParams; result: CreateSnapshotResult };
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

// ============================================================================================
// Debug adapter (DAP): launch/attach arguments and Rewind's custom requests and events.
// The debug adapter serves them; the extension, the webview and any DAP client use them.
// Documented in docs/debug-adapter.md. Time points are numbers (icount), addresses hex strings.
// ============================================================================================

/** The debug type of Rewind's adapter (launch.json `"type"`). */
export const REWIND_DEBUG_TYPE = 'rewind';

/** `"record"` in a launch configuration: record a guest first, then debug the recording. */
export interface RecordSpec {
  /** Kernel: an ELF multiboot kernel or a Linux bzImage. */
  kernel: string;
  initrd?: string;
  /** Kernel command line. */
  append?: string;
  /** Serial-console input script (docs: README "Input scripts"). */
  input?: string;
  /** Stop recording when the console prints this text. */
  stopOn?: string;
  /** Stop recording after this many seconds (default 120). */
  timeout?: number;
  /** Guest memory in MiB. */
  memory?: number;
  /** Snapshot interval in instructions (a number, or "200M"). */
  snapshotEvery?: number | string;
  /** Where the bundle goes (never overwritten); default: a new folder next to the kernel's workspace. */
  out?: string;
  /** The Linux preset (`rewind record --linux`): a bzImage, recorded with the documented Linux defaults. */
  linux?: boolean;
  /** A raw or qcow2 disk image, recorded through QEMU's blkreplay driver (the file is only read). */
  disk?: string;
  /** Stop recording when the replay log grows past this size ("512M" or bytes; 0: no limit). */
  maxLog?: number | string;
}

/** Shared by launch and attach. */
export interface RewindCommonArguments {
  /**
   * ELF files with the guest's symbols and DWARF. Default: the kernel recorded in the bundle.
   * The first is the main symbol file; others are added with add-symbol-file at their linked addresses.
   */
  symbols?: string[];
  /** Source path mapping for gdb (`set substitute-path FROM TO`): { "/build/dir": "${workspaceFolder}" }. */
  sourceMap?: Record<string, string>;
  /** The gdb binary (default: gdb on PATH). */
  gdbPath?: string;
  /** Stop at the start of the recording instead of running to the first breakpoint. */
  stopOnEntry?: boolean;
  /** Stop first at this time point (an icount, or "end"). */
  startAt?: number | 'end';
  /** Log DAP, GDB/MI and bridge traffic to the debug console. */
  trace?: boolean;
}

export interface RewindLaunchArguments extends RewindCommonArguments {
  /** An existing recording bundle (a *.rewind directory). */
  recording?: string;
  /** Or: record first (with progress), then debug the new bundle. */
  record?: RecordSpec;
}

export interface RewindAttachArguments extends RewindCommonArguments {
  /** A running bridge: "unix:PATH" or "tcp:HOST:PORT" (`rewind bridge`). */
  bridge: string;
  /** TCP bridges need their token (or tokenFile). */
  token?: string;
  tokenFile?: string;
  /** The bundle, as a path the bridge understands (relative to its --root, or absolute inside it). */
  recording: string;
}

/** Where the debuggee is in time. */
export interface RewindPosition {
  icount: TimePoint;
  /** The last time point of the recording. */
  end: TimePoint;
  /** icount / end, 0..100. */
  percent: number;
  atStart: boolean;
  atEnd: boolean;
  /** The event of the index nearest to the position (either side), if any. */
  nearestEvent?: ReplayEvent;
}

export interface RewindPositionChangedEvent extends RewindPosition {
  /** What moved: 'step', 'stepBack', 'continue', 'reverseContinue', 'seek', 'breakpoint', ... */
  reason: string;
}

export interface RewindSeekArguments {
  /** Exactly one of: a time point, an event of the index (its index), or a percentage of the recording. */
  icount?: TimePoint;
  eventIndex?: number;
  percent?: number;
}

export interface RewindEventsArguments {
  from?: TimePoint;
  to?: TimePoint;
  kinds?: string[];
  limit?: number;
}

export interface RewindSnapshot {
  name: string;
  icount: TimePoint;
  /** 'record': in the bundle; 'replay': added while debugging (kept for this session only). */
  source: 'record' | 'replay';
}
export interface RewindSnapshotsResponse {
  snapshots: RewindSnapshot[];
}

/** A place in the guest's code, resolved by gdb. */
export interface RewindCodeLocation {
  address: HexAddress;
  function?: string;
  /** Absolute source path, when gdb knows it. */
  path?: string;
  line?: number;
}

export interface RewindLastWriteArguments {
  /** A C expression (an lvalue) evaluated in frameId's scope; or address + size. */
  expression?: string;
  frameId?: number;
  address?: HexAddress;
  size?: number;
  /** Move to the writing instruction (default false: only report it). */
  seek?: boolean;
}
export interface RewindLastWriteResponse {
  found: boolean;
  address: HexAddress;
  size: number;
  /** The time point just after the write. */
  icount?: TimePoint;
  /** The writing instruction (the time point before `icount`). */
  writer?: RewindCodeLocation;
  /** The bytes before and after the write, hex. */
  before?: string;
  after?: string;
}

export interface RewindHitsArguments {
  /** A source line (every address gdb maps it to), or a code address, or a function. */
  source?: { path: string };
  line?: number;
  address?: HexAddress;
  function?: string;
  from?: TimePoint;
  to?: TimePoint;
}
export interface RewindHitsResponse {
  /** The code addresses that were searched. */
  addresses: HexAddress[];
  hits: Array<{ icount: TimePoint; address: HexAddress }>;
}

/** rewind/reverseStepIn and rewind/reverseStepOut (DAP has no reverse step-in or step-out). */
export interface RewindReverseStepArguments {
  threadId: number;
  granularity?: 'statement' | 'line' | 'instruction';
}

/** rewind/dmesg (Linux guests): the kernel log, read from the printk ring buffer as it is at the current time point. */
export interface RewindDmesgArguments {
  /** Only the last `limit` records. */
  limit?: number;
}
export interface RewindDmesgLine {
  /** The record's sequence number (dmesg's order; numbers below `firstSeq` were overwritten). */
  seq: number;
  /** The record's timestamp (local_clock() when it was logged), in nanoseconds since boot. */
  timestampNs: number;
  /** printk level: 0 (KERN_EMERG) to 7 (KERN_DEBUG). */
  level: number;
  /** syslog facility (0: kernel; 1: user, e.g. lines written to /dev/kmsg). */
  facility: number;
  text: string;
  /** Who logged it: "T<pid>" (a task) or "CPU<n>" (interrupt context). */
  caller?: string;
}
export interface RewindDmesgResponse {
  /** The time point the log was read at. */
  icount: TimePoint;
  lines: RewindDmesgLine[];
  /** The oldest and the next sequence numbers (absent while the log is empty). */
  firstSeq?: number;
  nextSeq?: number;
  /** The text ring's size in bytes and the number of record descriptors. */
  bufferSize: number;
  records: number;
}

/** A kernel problem found over the whole recording (rewind/kernelEvents). */
export type RewindKernelEventKind = 'panic' | 'oops' | 'bug' | 'warning';
export interface RewindKernelEvent {
  /** The time point at the entry of the reporting function: seek there to see the stack that reported it. */
  icount: TimePoint;
  kind: RewindKernelEventKind;
  /** The reporting function: panic, oops_begin (the x86 die path), report_bug (a BUG()), __warn (WARN()). */
  function: string;
  /** Its address (hex). */
  address: HexAddress;
  /** What the kernel said, when cheap to know: panic's message, a warning's file:line, a BUG()'s address. */
  message?: string;
  /** This event's index in rewind/events (after the event index's own events): rewind/seek {eventIndex} goes there. */
  eventIndex: number;
}
export interface RewindKernelEventsResponse {
  events: RewindKernelEvent[];
  /** The functions that were watched (those the vmlinux has). */
  functions: Array<{ name: string; address: HexAddress }>;
}

/**
 * Kinds that rewind/events adds on a Linux recording, once the kernel-event scan is done (see
 * docs/debug-adapter.md): a kernel event of kind K is listed as `kernel-K`, with `detail`
 * "FUNCTION: MESSAGE". Their indices follow the event index's own.
 */
export const KERNEL_EVENT_KINDS = {
  'kernel-panic': 'panic(): the kernel panicked',
  'kernel-oops': 'oops_begin(): an oops (the x86 die path: a fault in the kernel)',
  'kernel-bug': 'report_bug() that led to an oops: a BUG()',
  'kernel-warning': '__warn(): a WARN()',
} as const;
export type KernelEventKindName = keyof typeof KERNEL_EVENT_KINDS;

/** An event of rewind/events: one of the event index's, or (Linux) a kernel event. */
export type RewindEvent = Omit<ReplayEvent, 'kind'> & { kind: ReplayEvent['kind'] | KernelEventKindName };
/**
 * rewind/events as served: `EventsResult`, where on a Linux recording `events` may also hold
 * kernel kinds and `counts` counts them, and `kernelScan` tells how far the scan is.
 */
export interface RewindEventsResponse extends Omit<EventsResult, 'events'> {
  events: RewindEvent[];
  /** Linux recordings only: 'scanning' (kernel events follow, announced by rewind/eventsChanged), 'done', 'failed'. */
  kernelScan?: 'scanning' | 'done' | 'failed';
}

/** Every custom request of the adapter: command -> arguments and response body. */
export interface RewindDapRequests {
  'rewind/position': { args: Record<string, never>; body: RewindPosition };
  'rewind/seek': { args: RewindSeekArguments; body: RewindPosition };
  'rewind/events': { args: RewindEventsArguments; body: EventsResult };
  'rewind/snapshots': { args: Record<string, never>; body: RewindSnapshotsResponse };
  'rewind/takeSnapshot': { args: Record<string, never>; body: { snapshot: RewindSnapshot } };
  'rewind/lastWrite': { args: RewindLastWriteArguments; body: RewindLastWriteResponse };
  'rewind/hits': { args: RewindHitsArguments; body: RewindHitsResponse };
  'rewind/reverseStepIn': { args: RewindReverseStepArguments; body: Record<string, never> };
  'rewind/reverseStepOut': { args: RewindReverseStepArguments; body: Record<string, never> };
  'rewind/dmesg': { args: RewindDmesgArguments; body: RewindDmesgResponse };
  'rewind/kernelEvents': { args: Record<string, never>; body: RewindKernelEventsResponse };
}
export type RewindDapCommand = keyof RewindDapRequests;

export interface RewindEventsChangedEvent {
  reason: 'kernel-events';
  /** Counts per kind, as rewind/events now answers them. */
  counts: Record<string, number>;
}

/** Custom events of the adapter: event -> body. */
export interface RewindDapEvents {
  /** After every change of the position (any step, continue, seek), after its stopped event. */
  'rewind/positionChanged': RewindPositionChangedEvent;
  /** The events of rewind/events changed (Linux: the kernel-event scan finished): ask again. */
  'rewind/eventsChanged': RewindEventsChangedEvent;
}

/** Stopped-event reasons Rewind adds to DAP's own. */
export const REWIND_STOP_REASON = {
  start: 'start of recording',
  end: 'end of recording',
} as const;
// ============================================================================================
// End of the debug adapter protocol.
// ============================================================================================

// ============================================================================================
// VS Code extension <-> webview: the Recording Timeline (extension/timeline-view.ts hosts it,
// extension/webview/timeline.ts draws it). Messages travel by postMessage as plain JSON.
// Time points are numbers (icount). Documented in docs/extension.md.
// ============================================================================================

/** A lane of the timeline: one group of event kinds of the index. */
export type TimelineLaneId = 'kernel' | 'interrupts' | 'clock' | 'serial' | 'console' | 'disk' | 'network' | 'other';

/** One event of the index, as the timeline shows it (hover details). */
export interface TimelineEvent {
  index: number;
  icount: TimePoint;
  kind: string;
  detail?: string;
  /** serial-input: the bytes typed (latin1). */
  bytes?: string;
  value?: string;
  size?: number;
}

/** Which part of the recording the webview shows, cut into `buckets` equal spans. */
export interface TimelineViewRange {
  from: TimePoint;
  /** Inclusive. */
  to: TimePoint;
  buckets: number;
}

export interface TimelineLaneData {
  id: TimelineLaneId;
  label: string;
  /** Events of this lane in the whole recording. */
  total: number;
  /** Events per bucket of the view: bucket i covers [from + i*span, from + (i+1)*span), span = (to - from + 1) / buckets. */
  counts: number[];
  /** Buckets whose count is an estimate (the lane has too many events to fetch them all for this view). */
  estimated: number[];
  /** The lane's events in the view, when there are few enough of them (markers and hover details). */
  events?: TimelineEvent[];
}

/** A point of interest drawn on the timeline. */
export interface TimelineMarker {
  icount: TimePoint;
  /** snapshot: a snapshot to replay from; stop: where the session stopped on a breakpoint, data breakpoint or panic; hit: a result of "Show All Hits". */
  kind: 'snapshot' | 'stop' | 'hit';
  label: string;
}

export interface TimelineSessionInfo {
  /** The debug session's name. */
  name: string;
  /** The recording's folder, when known. */
  recording?: string;
  /** The last time point of the recording. */
  end: TimePoint;
  /** Events of the index, by kind (the whole recording). */
  counts: Record<string, number>;
}

/** Extension -> webview. */
export type TimelineToWebview =
  | { type: 'session'; session: TimelineSessionInfo | null }
  | { type: 'position'; icount: TimePoint; end: TimePoint; percent: number; reason?: string }
  /** `view`: the requested view, clamped to the recording. */
  | { type: 'lanes'; requestId: number; view: TimelineViewRange; lanes: TimelineLaneData[]; overview?: boolean }
  | { type: 'markers'; markers: TimelineMarker[] }
  | { type: 'error'; message: string };

/** Webview -> extension. */
export type TimelineFromWebview =
  | { type: 'ready' }
  /**
   * Asks for the lanes of a view; answered with `lanes` of the same requestId. A request still
   * running when a newer one comes is dropped, except the whole-recording strip (`overview`).
   */
  | { type: 'view'; requestId: number; view: TimelineViewRange; overview?: boolean }
  /** Go to this time point. */
  | { type: 'seek'; icount: TimePoint }
  /** Run one of the extension's commands (the empty state's buttons). */
  | { type: 'command'; command: 'openRecording' | 'recordGuest' | 'goToTime' };
// ============================================================================================
// End of the extension <-> webview protocol.
// ============================================================================================
