import { promises as fs } from 'node:fs';
import type { ReplayWorkspace } from './workspace';

/**
 * The image files that hold the snapshots the engine saved while replaying. A snapshot is saved
 * into the image of the worker that made it (a full copy of the snapshot store: about 0.5 GB for
 * the Linux fixture), and that file outlives the worker while a ladder point needs it. Once no
 * ladder point and no live worker uses it (the ladder dropped the point over its bound, the user
 * deleted it, its worker was retired), it is deleted: before, dropped points' images stayed until
 * the engine closed, and a 1,000-operation Linux session piled up 63 of them, 30 GB.
 */
export class LadderImages {
  private readonly kept = new Set<string>();

  constructor(private readonly ws: ReplayWorkspace) {}

  /** A snapshot was saved into `image`: keep the file while something uses it. */
  keep(image: string): void {
    if (image !== this.ws.snapshots) this.kept.add(image);
  }

  /** Deletes the kept images not in `inUse` (ladder points' and live workers' images); returns them. */
  async release(inUse: Iterable<string>): Promise<string[]> {
    const used = new Set(inUse);
    const gone = [...this.kept].filter((image) => !used.has(image));
    for (const image of gone) this.kept.delete(image);
    // After any copy of the file under way (a worker starting from one of its snapshots).
    await Promise.all(gone.map((image) => this.ws.withImage(image, () => fs.rm(image, { force: true }))));
    return gone;
  }
}
