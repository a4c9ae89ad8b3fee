/**
 * File names inside a recording bundle (format v1 and v2). A bundle is a directory; every file except
 * manifest.json is listed with its size and sha256 in the manifest. See docs/bundle-format.md.
 */
export const BUNDLE_FORMAT = 'rewind-recording';
/**
 * The newest bundle format version: 2 adds a disk (`guest.disk`). Rewind writes version 2 only for
 * a recording with a disk, which an older Rewind must refuse rather than replay without the disk;
 * every other recording is still written as version 1.
 */
export const BUNDLE_FORMAT_VERSION = 2;
/** The oldest bundle format version this Rewind reads. */
export const BUNDLE_FORMAT_VERSION_MIN = 1;

export const MANIFEST = 'manifest.json';
/** QEMU's replay log, gzip-compressed (it compresses about 250x). */
export const REPLAY_LOG = 'replay.log.gz';
/**
 * qcow2 file holding the internal snapshots (vmstate) taken while recording; with a disk, it is also
 * the disk itself (its active layer and, in every snapshot, the disk at that time point).
 */
export const SNAPSHOTS = 'snapshots.qcow2';
/** Raw console bytes, exactly as received from the guest's serial port. */
export const CONSOLE_RAW = 'console.txt';
/** The console as JSON lines: {"line":N,"icount":T,"text":"..."}. */
export const CONSOLE_LINES = 'console.jsonl';
/** Copies of the booted images, so that a bundle replays on another machine. */
export const GUEST_KERNEL = 'guest/kernel';
export const GUEST_INITRD = 'guest/initrd';
/** The input script used while recording, when there was one. */
export const INPUT_SCRIPT = 'input.txt';
/** The snapshot QEMU takes at the start of every recording (rrsnapshot=init). */
export const INITIAL_SNAPSHOT = 'init';
