/**
 * Replay processes launched ahead of need: paused at `init` on a private copy of a snapshot store,
 * not yet placed at any snapshot (replay-process.ts, launchBlank). A start from a snapshot of that
 * store then costs only the snapshot's load and the replay to its first quiet point: on the Linux
 * fixture about 0.1-0.2 s instead of 0.6-1 s (the image copy, QEMU's start-up and its load of `init`
 * are the rest, and copies of one image are made one at a time). `count` are kept for the bundle's
 * own store, and one for each image of the index's extra snapshots (`warmImages`), which a search
 * far back starts from; the engine's added snapshots each live in an image of their own, and go cold.
 * Probe replays have a set of their own (`probe`): QEMU loads a plugin only at its start, so theirs
 * wait with the probe plugin loaded, for the query's arguments (replay-process.ts, armProbe).
 */
import type { Bundle } from '../bundle/reader';
import { blankUsable, discardBlank, launchBlank, type BlankProcess } from './replay-process';
import type { ReplayWorkspace } from './workspace';

export class BlankProcesses {
  /** Ready blank processes by the image they copied. */
  private readonly ready = new Map<string, BlankProcess[]>();
  private filling?: Promise<void>;
  /** The launch under way: the image it copies, and whether it ended with a ready process. */
  private launching?: { source: string; done: Promise<boolean> };
  private shut = false;
  /** Discards under way (close() waits for them). */
  private readonly dying = new Set<Promise<void>>();

  constructor(
    private readonly bundle: Bundle,
    private readonly ws: ReplayWorkspace,
    /** How many to keep ready on the bundle's store (0: none at all). */
    readonly count: number,
    /** Other images to keep one ready on (the index's extra snapshots'). */
    private readonly warmImages: () => readonly string[] = () => [],
    /** The probe plugin, for a set of probe blanks. */
    private readonly probe?: string,
  ) {}

  /** A ready blank process on a copy of `source`, if there is one (the caller owns it from now on). */
  take(source: string): BlankProcess | undefined {
    const list = this.ready.get(source) ?? [];
    while (list.length > 0) {
      const b = list.shift()!;
      if (blankUsable(b)) return b;
      this.discard(b);
    }
    return undefined;
  }

  /**
   * A ready blank process on a copy of `source`, or else the one being launched on it, once it is
   * ready: it is further along than a process launched now would be (copies of an image are made
   * one at a time, so a new launch would also wait behind it). Undefined when there is neither.
   */
  async takeOrAwait(source: string): Promise<BlankProcess | undefined> {
    const ready = this.take(source);
    if (ready || this.launching?.source !== source) return ready;
    await this.launching.done;
    return this.take(source);
  }

  /** Kills the ready ones that can no longer be placed (exited, stopped by a signal): the next fill replaces them. */
  prune(): void {
    for (const list of this.ready.values()) {
      for (const b of [...list]) {
        if (blankUsable(b)) continue;
        list.splice(list.indexOf(b), 1);
        this.discard(b);
      }
    }
  }

  /** Launches blank processes, one at a time, until each image has its number ready (a failed launch ends the fill). */
  fill(): Promise<void> {
    this.filling ??= this.fillOnce().finally(() => (this.filling = undefined));
    return this.filling;
  }

  /** Process groups of the ready ones (tests and diagnostics). */
  pids(): number[] {
    return [...this.ready.values()].flat().map((b) => b.child.pid).filter((p): p is number => p !== undefined);
  }

  /** Kills every ready one, and any launched meanwhile. */
  async close(): Promise<void> {
    this.shut = true;
    await this.filling?.catch(() => undefined);
    for (const list of this.ready.values()) for (const b of list.splice(0)) this.discard(b);
    await Promise.all([...this.dying]);
  }

  private async fillOnce(): Promise<void> {
    for (let source = this.lacking(); !this.shut && source !== undefined; source = this.lacking()) {
      const done = (async () => {
        let b: BlankProcess;
        try {
          b = await launchBlank(this.bundle, this.ws, source, this.probe !== undefined ? { probe: this.probe } : {});
        } catch {
          return false; // a start that fails here fails in the foreground too, with its error
        }
        if (this.shut) this.discard(b);
        else this.ready.set(source, [...(this.ready.get(source) ?? []), b]);
        return true;
      })();
      this.launching = { source, done };
      const launched = await done.finally(() => (this.launching = undefined));
      if (!launched) return;
    }
  }

  /** The next image short of ready blank processes: the store first. */
  private lacking(): string | undefined {
    if (this.count === 0) return undefined;
    const have = (image: string) => this.ready.get(image)?.length ?? 0;
    if (have(this.ws.snapshots) < this.count) return this.ws.snapshots;
    return [...new Set(this.warmImages())].find((image) => image !== this.ws.snapshots && have(image) < 1);
  }

  private discard(b: BlankProcess): void {
    const p = discardBlank(b, true).catch(() => undefined);
    this.dying.add(p);
    void p.finally(() => this.dying.delete(p));
  }
}
