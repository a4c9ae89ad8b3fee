/**
 * A check the DAP tests run on the recordings they make: a known recorder problem (QEMU's, not the
 * adapter's) now and then saves a snapshot from which a replay never moves. Such a recording
 * cannot test the adapter, so the tests record another one.
 */
import { Bundle } from '../recorder-bridge/src/bundle/reader';
import { replayEnd } from '../recorder-bridge/src/replay/engine';
import { ReplayWorker } from '../recorder-bridge/src/replay/worker';
import { ReplayWorkspace } from '../recorder-bridge/src/replay/workspace';

/**
 * A recorded snapshot from which a replay process cannot execute one instruction (within 15 s:
 * even an idle guest gets a timer interrupt every 10 ms of guest time), described; or undefined.
 */
export async function unreplayableSnapshot(path: string): Promise<string | undefined> {
  const b = await Bundle.open(path);
  const end = replayEnd(await b.readIndex());
  const ws = await ReplayWorkspace.create(b);
  try {
    for (const snap of b.manifest.snapshots.list.filter((s) => s.icount < end)) {
      const w = await ReplayWorker.start(b, ws, { ...snap, image: ws.snapshots, source: 'record' }, end);
      let timer: NodeJS.Timeout | undefined;
      try {
        // The worker's own watchdog may call the spin a hang first (frozen at its snapshot with a
        // busy CPU): that is the same finding.
        const moved = await Promise.race([
          w.runTo(snap.icount + 1).then(
            () => true,
            (e: unknown) => {
              if ((e as { code?: unknown }).code === 'replay-hung') return false;
              throw e;
            },
          ),
          new Promise<false>((r) => (timer = setTimeout(() => r(false), 15_000))),
        ]);
        if (!moved) return `a replay started at snapshot ${snap.name} (icount ${snap.icount}) does not get to the next instruction`;
      } finally {
        clearTimeout(timer);
        await w.kill();
      }
    }
    return undefined;
  } finally {
    await ws.dispose();
  }
}

/** How many recorded snapshots lie strictly inside the replayable part of the recording. */
export async function snapshotsInside(path: string): Promise<number> {
  const b = await Bundle.open(path);
  const end = replayEnd(await b.readIndex());
  return b.manifest.snapshots.list.filter((s) => s.icount > 0 && s.icount < end).length;
}
