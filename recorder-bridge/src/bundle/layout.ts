/**
 * File names inside a recording bundle (format v1 to v3). A bundle is a directory; every file except
 * manifest.json is listed with its size and sha256 in the manifest. See docs/bundle-format.md.
 */
// The format's name and versions are manifest.json's `format` and `formatVersion`: protocol/manifest.ts.
export { BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, BUNDLE_FORMAT_VERSION_MIN } from '@rewind/protocol';

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
/**
 * Verdicts on the snapshots of a bundle that does not carry them (format 1 and 2, or a recording
 * whose verification was cancelled): written beside the manifest on first open, never listed in it.
 */
export const SNAPSHOT_VERDICTS = 'snapshot-verdicts.json';
/**
 * The analysis index (`rewind index`, docs/index-design.md "Storage"): a folder of its own beside the
 * manifest, additive like SNAPSHOT_VERDICTS: never listed in the manifest, tied to it by its sha256,
 * integrity-checked on load, and rebuilt rather than trusted when damaged. A bundle is complete and
 * usable without it.
 */
export const INDEX_DIR = 'index';
/** The snapshot QEMU takes at the start of every recording (rrsnapshot=init). */
export const INITIAL_SNAPSHOT = 'init';
