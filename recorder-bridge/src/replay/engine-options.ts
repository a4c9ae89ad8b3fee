/** How a replay engine is opened (ReplayEngine.open, whose EngineOptions add `onOpen`): its bounds on processes and snapshots, its index, its progress callbacks. */
import type { TimePoint } from '../timepoint';

export interface EngineSettings {
  /** Replay processes kept alive at once (the current one included). Default 8: the current one, the spares near and far, and a scan and its landing. */
  maxWorkers?: number;
  /**
   * Idle replay processes kept parked just behind the current time, so that going back starts
   * without waiting for a process (about 0.5 s for a 256 MiB Linux guest). Default 3: a step back
   * over a line uses up to three (a scan, a landing, and one to spare). Besides them, one each at
   * 4M and 32M instructions back (spare-parking.ts). 0 turns them all off.
   */
  spares?: number;
  /**
   * Replay processes launched ahead of need, paused at `init` and not yet placed (blank-processes.ts):
   * a start from a recorded snapshot then skips QEMU's start-up. Default 3 (the parallel scan of
   * two windows and the landing of a reverse continue); 0 turns them off.
   */
  blanks?: number;
  /** Workers used by whole-recording queries. Default 2 (one per core here). */
  queryParallelism?: number;
  /** Snapshots the engine may add while replaying (the ladder's bound on storage). Default 24; 0 turns the ladder off. */
  maxLadderSnapshots?: number;
  /** A replay process that does not answer, or spins without moving, for this long is killed and replaced. Default 1.5 s. */
  hangTimeoutMs?: number;
  /** Progress of the snapshot verification an older bundle gets on first open (replayed instructions of the total). */
  onVerifyProgress?: (done: TimePoint, total: TimePoint) => void;
  /** Cancels that verification (open then fails with a CancelledError). */
  signal?: AbortSignal;
  /**
   * The recording's index (docs/index-design.md): 'use' loads it when the bundle has one (default);
   * 'build' also builds it in the background when it has none or it is damaged (queries go
   * without it meanwhile); 'off' never uses it (benchmarks and tests that compare).
   */
  index?: 'use' | 'build' | 'off';
  /**
   * Probe replays (probe-scan.ts): 'use' (default) scans with the probe plugin where Rewind's QEMU
   * can load it, the scan allows, and the hits expected make it worth a process; 'always' wherever
   * it can (tests); 'off' always stops at each hit under the gdbstub (tests and benchmarks that compare).
   */
  probe?: 'use' | 'always' | 'off';
  /** Progress of a background index build. */
  onIndexProgress?: (done: TimePoint, total: TimePoint) => void;
}
