/**
 * QmpClient against a scripted QMP server on a Unix socket: what an exiting QEMU does to it. (The
 * recorder's own tests run it against real QEMU; this pins down the order of events at the end.)
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { QmpClient, type QmpEvent } from '../recorder-bridge/src/qemu/qmp';
import { tempDir } from './helpers';

/** A QMP server that greets, accepts qmp_capabilities, and hands the connection to `then`. */
async function fakeQemu(path: string, then: (socket: Socket) => void): Promise<() => void> {
  const server = createServer((socket) => {
    socket.write(JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: [] } }) + '\n');
    socket.once('data', (d) => {
      const { id } = JSON.parse(d.toString()) as { id: string };
      socket.write(JSON.stringify({ return: {}, id }) + '\n');
      then(socket);
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return () => server.close();
}

describe('QmpClient at the end of a QEMU', () => {
  const dir = tempDir(after);

  it('whenClosed() resolves only after the last events written before the close were emitted', async () => {
    const stop = await fakeQemu(join(dir, 'a.sock'), (socket) => {
      // Power-off: the SHUTDOWN event, then the process ends (its socket with it), in two writes.
      setTimeout(() => socket.write(JSON.stringify({ event: 'SHUTDOWN', data: { guest: true, reason: 'guest-shutdown' }, timestamp: { seconds: 0, microseconds: 0 } }) + '\n'), 50);
      setTimeout(() => socket.end(), 100);
    });
    const qmp = await QmpClient.connect(join(dir, 'a.sock'));
    const events: QmpEvent[] = [];
    qmp.on('event', (e: QmpEvent) => events.push(e));
    assert.equal(events.length, 0, 'nothing yet: the event is written later');
    await qmp.whenClosed(10_000);
    assert.equal(qmp.isClosed, true);
    assert.deepEqual(events.map((e) => [e.event, e.data?.reason]), [['SHUTDOWN', 'guest-shutdown']]);
    stop();
  });

  it('whenClosed() gives up after its timeout when QEMU keeps the connection open', async () => {
    let peer: Socket | undefined;
    const stop = await fakeQemu(join(dir, 'b.sock'), (socket) => (peer = socket));
    const qmp = await QmpClient.connect(join(dir, 'b.sock'));
    await qmp.whenClosed(200);
    assert.equal(qmp.isClosed, false, 'the timeout ended the wait, not a close');
    assert.equal(qmp.listenerCount('close'), 0, 'no listener left behind');
    qmp.close();
    peer?.destroy();
    stop();
  });
});
