/**
 * Replay processes launched ahead of need: paused at `init` on a private copy of the bundle's
 * snapshot store, not yet placed at any snapshot (replay-process.ts, launchBlank). A start from a
 * recorded snapshot then costs only the snapshot's load and the replay to its first quiet point:
 * on the Linux fixture about 0.2 s instead of 0.7 s (the image copy, QEMU's start-up and its load
 * of `init` are the rest). Only the bundle's own store is kept warm: the engine's added snapshots
 * each live in an image of their own.
 */
import type { Bundle } from '../bundle/reader';
import { blankUsable, discardBlank, launchBlank, type BlankProcess } from './replay-process';
import type { ReplayWorkspace } from './workspace';

export class BlankProcesses {
  private readonly ready: BlankProcess[] = [];
  private filling?: Promise<void>;
  private shut = false;
  /** Discards under way (close() waits for them). */
  private readonly dying = new Set<Promise<void>>();

  constructor(
    private readonly bundle: Bundle,
    private readonly ws: ReplayWorkspace,
    /** How many to keep ready. */
    readonly count: number,
  ) {}

  /** A ready blank process on a copy of `source`, if there is one (the caller owns it from now on). */
  take(source: string): BlankProcess | undefined {
    if (source !== this.ws.snapshots) return undefined;
    while (this.ready.length > 0) {
      const b = this.ready.shift()!;
      if (blankUsable(b)) return b;
      this.discard(b);
    }
    return undefined;
  }

  /** Kills the ready ones that can no longer be placed (exited, stopped by a signal): the next fill replaces them. */
  prune(): void {
    for (const b of [...this.ready]) {
      if (blankUsable(b)) continue;
      this.ready.splice(this.ready.indexOf(b), 1);
      this.discard(b);
    }
  }

  /** Launches blank processes, one at a time, until `count` are ready (a failed launch ends the fill). */
  fill(): Promise<void> {
    this.filling ??= this.fillOnce().finally(() => (this.filling = undefined));
    return this.filling;
  }

  /** Process groups of the ready ones (tests and diagnostics). */
  pids(): number[] {
    return this.ready.map((b) => b.child.pid).filter((p): p is number => p !== undefined);
  }

  /** Kills every ready one, and any launched meanwhile. */
  async close(): Promise<void> {
    this.shut = true;
    await this.filling?.catch(() => undefined);
    for (const b of this.ready.splice(0)) this.discard(b);
    await Promise.all([...this.dying]);
  }

  private async fillOnce(): Promise<void> {
    while (!this.shut && this.ready.length < this.count) {
      let b: BlankProcess;
      try {
        b = await launchBlank(this.bundle, this.ws, this.ws.snapshots);
      } catch {
        return; // a start that fails here fails in the foreground too, with its error
      }
      if (this.shut) this.discard(b);
      else this.ready.push(b);
    }
  }

  private discard(b: BlankProcess): void {
    const p = discardBlank(b, true).catch(() => undefined);
    this.dying.add(p);
    void p.finally(() => this.dying.delete(p));
  }
}
