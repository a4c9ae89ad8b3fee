/**
 * How a recording's snapshot store, and its disk when it has one, is attached to QEMU. Record and
 * replay use the same arguments (see docs/recording.md, "Disks").
 *
 * The snapshot store is a qcow2 file: QEMU keeps its internal snapshots (machine state and, for a
 * disk, the disk's blocks) in it. A recording with a disk has no separate disk file: the store IS
 * the disk (the user's image converted to qcow2). Every internal snapshot then holds the disk as it
 * was at that time point, so loading a snapshot restores memory, devices and disk together, and the
 * replay engine's private copies of the store carry the disk with them.
 *
 * The guest sees the disk through QEMU's blkreplay filter, which records the order in which disk
 * requests complete (record) and completes them in that order (replay): the data itself comes from
 * the image, which is why the image must be in the recorded state at the snapshot a replay starts
 * from. Order matters: the store's own drive (`id=rr`) comes first, so that QEMU writes snapshot
 * machine state straight into it; through blkreplay, QEMU's snapshot at start-up waits for a flush
 * that record mode only completes once the guest runs, and hangs (measured with -blockdev nodes).
 */
import type { DiskDevice } from '@rewind/protocol';

export type { DiskDevice };

/** Disk devices a recording can use (manifest.json names them: the type DiskDevice is in protocol/manifest.ts). */
export const DISK_DEVICES = {
  /**
   * virtio-blk on PCI. The guest needs the virtio_pci and virtio_blk drivers (modules in Debian's
   * kernels: an initramfs loads them). NVMe, which Debian's cloud kernel has built in, is not
   * possible: QEMU 7.2 cannot snapshot it ("State blocked by non-migratable device").
   */
  'virtio-blk-pci': { linuxDevice: '/dev/vda' },
} as const satisfies Record<DiskDevice, { linuxDevice: string }>;

export const DEFAULT_DISK_DEVICE: DiskDevice = 'virtio-blk-pci';

export function isDiskDevice(v: unknown): v is DiskDevice {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(DISK_DEVICES, v);
}

/** A value inside a QEMU option list: a comma is written twice. */
export function qemuOptionValue(value: string): string {
  return value.split(',').join(',,');
}

/**
 * The QEMU arguments that attach the snapshot store `image` and, with `disk`, present that same
 * image to the guest as its disk through blkreplay. `throwaway`: the image is a private copy that
 * nothing needs after a host crash, so QEMU may skip its flushes (cache=unsafe). Measured: a replay
 * process started on a fresh 58 MB copy answered after 0.07-0.12 s instead of 0.14-0.52 s, the
 * flush of the copy's dirty pages no longer in the way.
 */
export function storeDriveArgs(image: string, disk?: { device: DiskDevice }, throwaway = false): string[] {
  const args = ['-drive', `file=${qemuOptionValue(image)},if=none,id=rr${throwaway ? ',cache=unsafe' : ''}`];
  if (disk) args.push('-drive', 'driver=blkreplay,if=none,image=rr,id=disk0', '-device', `${disk.device},drive=disk0`);
  return args;
}
