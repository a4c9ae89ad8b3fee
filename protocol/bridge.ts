/**
 * Bridge protocol (JSON-RPC 2.0): `rewind bridge` and its clients. Documented in docs/bridge.md.
 * Addresses cross the wire as hex strings ("0x100a9a") because they are 64-bit; time points are
 * plain numbers (instruction counts). Every operation but hello/open names its session.
 */
import type { ErrorCode } from './error-codes';
import type { SnapshotEntry } from './manifest';
import type { ReplayEvent, TimePoint } from './recording';

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
  /** Stable string code: one of ERROR_CODES (error-codes.ts), each listed in docs/bridge.md. */
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
  /** sha256 of the bundle's manifest.json: names the recording (a client keeps its own data about it, e.g. bookmarks, under this name). */
  manifestSha256: string;
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
  /**
   * Write watchpoints only: stop only where a write changes the watched bytes, as gdb's `watch`
   * (a write of the value already there goes unreported). Default false: every write stops.
   */
  changes?: boolean;
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

/**
 * Where a snapshot comes from. 'record': taken while recording (in the bundle); 'replay': created
 * with rewind/createSnapshot (this session only, never in the bundle); 'index': saved and verified
 * by the index pass where replay is slow (in the recording's index, beside the bundle).
 */
export type SnapshotSource = 'record' | 'replay' | 'index';

/** A snapshot a session can start replay processes from. */
export interface BridgeSnapshot extends SnapshotEntry {
  source: SnapshotSource;
}

export interface SnapshotsResult {
  /** The recorded snapshots, the index's and those created with rewind/createSnapshot, by icount. */
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
  /** The write was an interrupt's or exception's frame, pushed by the CPU (no instruction); `address` is the handler's first instruction. */
  delivery?: true;
  /** rewind/writes with `values`: the watched bytes just before and just after the write, hex. */
  before?: string;
  value?: string;
  /** rewind/writes and rewind/hits with `task`: the Linux task that wrote (or ran the code), and its CPU (absent where unreadable). */
  task?: BridgeHitTask;
}

/** A Linux task as a write's sample read it. */
export interface BridgeHitTask {
  /** The task_struct's address. */
  task: HexAddress;
  pid: number;
  tgid: number;
  comm: string;
  cpu?: number;
}

/**
 * Where a Linux x86_64 kernel keeps the current task, from the vmlinux (the adapter reads it):
 * rewind/writes then reads, at each write, the per-CPU `current_task` of the writing CPU (at its
 * kernel GS base) and the task's pid, tgid and comm.
 */
export interface BridgeTaskProbe {
  /** Per-CPU offsets (the symbols' values) of `current_task` and of `cpu_number`. */
  currentTask: HexAddress;
  cpuNumber?: HexAddress;
  /** Byte offsets of the fields in struct task_struct. */
  pid: number;
  tgid: number;
  comm: number;
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
  /** Also which Linux task runs at each hit (x86_64 guests): the hits then carry `task`. */
  task?: BridgeTaskProbe;
}
export interface WritesParams extends SessionParams {
  address: HexAddress;
  size: number;
  from?: TimePoint;
  to?: TimePoint;
  /** Also read the bytes before and after each write (value history; at most 4096 bytes). */
  values?: boolean;
  /** With `values`: also which Linux task wrote (x86_64 guests). */
  task?: BridgeTaskProbe;
}

/** rewind/counts: how often code addresses ran in [from, to), exactly (from the index, or by replay without one). */
export interface CountsParams extends SessionParams {
  addresses: HexAddress[];
  from?: TimePoint;
  to?: TimePoint;
}
export interface CountsResult {
  counts: Array<{ address: HexAddress; count: number }>;
  /** Whether the index answered (false: the range was replayed). */
  indexed: boolean;
}

/**
 * rewind/coverage: the code addresses in [low, high) that ran, with their counts, in the index's
 * buckets overlapping [from, to) (needs the index: 'index-missing' without it).
 */
export interface CoverageParams extends SessionParams {
  low: HexAddress;
  high: HexAddress;
  from?: TimePoint;
  to?: TimePoint;
}
export interface CoverageResult {
  counts: Array<{ address: HexAddress; count: number }>;
  /** The time span counted: the range rounded out to the index's bucket boundaries. */
  from: TimePoint;
  to: TimePoint;
}

/** rewind/indexStatus: whether queries go by the recording's index (docs/index-design.md). */
export interface IndexStatusResult {
  state: 'off' | 'absent' | 'building' | 'ready' | 'damaged' | 'failed';
  buckets?: number;
  /** The index's folder, when ready. */
  where?: string;
  /** Why it is damaged or failed. */
  message?: string;
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
/** rewind/lastHit: the newest run of any of the addresses before a time point, without moving the session. */
export interface LastHitParams extends SessionParams {
  addresses: Array<HexAddress | BridgeBreakpoint>;
  /** Default: the session's current time point. */
  before?: TimePoint;
}
export interface LastHitResult {
  /** null when none of the addresses ran before `before`. */
  hit: BridgeHit | null;
}
/** rewind/firstHit: the earliest run of any of the addresses at or after a time point, without moving the session. */
export interface FirstHitParams extends SessionParams {
  addresses: Array<HexAddress | BridgeBreakpoint>;
  /** Default: just after the session's current time point. */
  from?: TimePoint;
}
export interface FirstHitResult {
  /** null when none of the addresses runs at or after `from`. */
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

/**
 * rewind/follow: this connection hears where the sessions of other connections on the same
 * bundle move (rewind/followedPosition). A language server follows the debugger's session this way.
 */
export interface FollowParams {
  /** The bundle, as for rewind/open. */
  bundle: string;
}
export interface FollowResult {
  /** The bundle on the bridge host. */
  path: string;
  /** The sessions of other connections open on it now, with their positions. */
  sessions: Array<{ sessionId: string; icount: TimePoint }>;
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
  'rewind/lastHit': { params: LastHitParams; result: LastHitResult };
  'rewind/firstHit': { params: FirstHitParams; result: FirstHitResult };
  'rewind/counts': { params: CountsParams; result: CountsResult };
  'rewind/coverage': { params: CoverageParams; result: CoverageResult };
  'rewind/indexStatus': { params: SessionParams; result: IndexStatusResult };
  'rewind/gdbPacket': { params: GdbPacketParams; result: GdbPacketResult };
  'rewind/createSnapshot': { params: SessionParams; result: CreateSnapshotResult };
  'rewind/follow': { params: FollowParams; result: FollowResult };
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

/** A session of another connection on a followed bundle moved (rewind/follow). */
export interface FollowedPositionNotification {
  /** The bundle on the bridge host (FollowResult.path). */
  path: string;
  sessionId: string;
  icount: TimePoint;
}

/** Every bridge notification (server to client): method -> params. */
export interface BridgeNotifications {
  'rewind/progress': ProgressNotification;
  'rewind/positionChanged': PositionChangedNotification;
  'rewind/followedPosition': FollowedPositionNotification;
}
