/**
 * The `rewind` command's JSON outputs: `info --json`, `events --json`, `check --json` (and
 * `record`/`salvage --json`, shaped as `info`), documented in docs/json-output.md; and the line
 * `rewind bridge` prints once it listens (docs/bridge.md). They only grow (new optional fields).
 */
import type { SnapshotEntry, StopReason } from './manifest';
import type { ReplayEvent, TimePoint } from './recording';

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
  /** Linux: whether the kernel ran with KASLR; `offset` (hex) when `--vmlinux` let `rewind info` find it. */
  kaslr?: { on: boolean; offset?: string };
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
  /** The recording's analysis index (`rewind index`), when looked for (rewind info, rewind record). */
  index?: IndexInfoJson;
}

/** The analysis index of a recording as `rewind info` finds it (docs/index-design.md, "Storage"). */
export interface IndexInfoJson {
  /** 'incomplete': a pass stopped half way (rewind index finishes it); 'damaged': a file is missing, cut or changed. */
  state: 'none' | 'incomplete' | 'complete' | 'damaged';
  /** The folder it is in: BUNDLE/index, or the state folder for a read-only bundle. */
  where?: string;
  /** Bucket size in instructions. */
  bucket?: number;
  slices?: number;
  /** Complete: the number of buckets, and the bytes of its slice files (deflated). */
  buckets?: number;
  bytes?: number;
  /** Complete: the extra snapshots it holds (docs/index-design.md, "Extra snapshots"), and the bytes their images take on disk (they are sparse). */
  extraSnapshots?: number;
  extraBytes?: number;
  /** Incomplete: the instructions its finished slices cover, of the replay's `end`. */
  covered?: TimePoint;
  end?: TimePoint;
  /** Damaged: what is wrong, and what to do. */
  message?: string;
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
