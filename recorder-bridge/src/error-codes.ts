/**
 * Every stable error code Rewind reports: a UserError's `code`, the bridge's `error.data.code`,
 * and the CLI's `--json` errors. One line each says when it happens; docs/bridge.md lists the same
 * lines (a test keeps the two equal). Add a code here before using it: `UserError` takes only these.
 */
export const ERROR_CODES = {
  // Options and parameters
  'bad-option': 'an option, argument or launch attribute is missing or out of range',
  'bad-params': 'a bridge request with a malformed parameter (e.g. an address that is not a 0x hex string)',
  'bad-event': 'an event index the recording does not have',
  // Bridge connections and sessions
  'bad-token': 'hello with the wrong token (the connection is closed)',
  'token-required': 'hello without a token on a bridge that needs one (the connection is closed)',
  'hello-required': 'a request before rewind/hello',
  'protocol-mismatch': 'hello asking for another protocol version',
  'method-not-found': 'an unknown bridge method',
  'cancelled': 'a request cancelled by the client ($/cancelRequest) or the user',
  'internal': 'anything else; the details (stack) go to the log only',
  'rpc-error': 'a client got a JSON-RPC error without a Rewind code (the other end is not a Rewind bridge)',
  'address-in-use': 'the bridge cannot listen: another process (another bridge?) holds the address',
  'listen-failed': 'the bridge cannot listen on the address for another reason',
  'remote-refused': 'a --listen address that is not loopback, without --allow-remote',
  'outside-root': 'a bundle path outside the bridge root',
  'bundle-not-found': 'no bundle at that path in the bridge root',
  'no-session': 'a session id that is not open on this connection',
  'session-closed': 'a request on a session that was closed',
  'too-many-sessions': 'the bridge has as many open sessions as it allows',
  'connection-closed': 'the connection closed while its bundle was opening',
  // Bundles
  'bundle-missing': 'no recording at the path given',
  'bundle-invalid': 'the path is not a recording bundle',
  'bundle-damaged': 'a file the manifest lists is missing from the bundle',
  'bundle-version': 'a bundle format this Rewind does not read',
  'manifest-missing': 'a folder without manifest.json (not a finished recording)',
  'manifest-invalid': 'a manifest.json that is not valid',
  'log-missing': "the bundle's replay log is missing",
  'log-corrupt': "the bundle's replay log is truncated or corrupted",
  'log-truncated': "the bundle's replay log ends in the middle of an event",
  'log-unknown-version': "the bundle's replay log was written by a QEMU whose log format Rewind does not read",
  'recording-incomplete': 'an OUT.partial folder or an unfinished bundle: rewind salvage finishes it',
  'recording-in-progress': 'an OUT.partial folder whose recorder is still running',
  // Recording
  'kernel-missing': 'the kernel file does not exist',
  'kernel-unreadable': 'the kernel file cannot be read',
  'kernel-invalid': 'the kernel is neither a multiboot ELF nor a Linux bzImage (or not the kind --linux needs)',
  'initrd-missing': 'the initrd file does not exist',
  'disk-missing': 'the disk image does not exist',
  'disk-unreadable': 'the disk image cannot be read',
  'disk-invalid': 'the disk image is a folder, empty, or in a format Rewind does not record',
  'disk-copy-failed': 'qemu-img could not copy the disk image into the recording',
  'disk-changed': 'the disk image changed while Rewind copied it',
  'input-missing': 'the input script does not exist or cannot be read',
  'input-invalid': 'a line of the input script is not a directive Rewind knows',
  'input-timeout': "the console did not print an input script's expected text in time",
  'out-exists': 'the output bundle (or its OUT.partial) exists already',
  'out-parent-missing': "the output's folder does not exist",
  'qemu-failed': 'QEMU exited while starting or recording',
  'record-failed': 'QEMU wrote no replay log',
  'record-interrupted': 'QEMU ended without finishing its replay log (what was recorded is kept in OUT.partial)',
  'log-too-large': 'the replay log is too large to index with the memory Node.js has',
  'tool-missing': 'a program Rewind needs (QEMU, qemu-img, gdb) is not installed',
  // Salvage
  'salvage-missing': 'no folder at the path given to rewind salvage',
  'salvage-not-partial': 'the folder given to rewind salvage is not an OUT.partial folder',
  'salvage-no-log': 'the OUT.partial folder has no replay log',
  'salvage-no-store': 'the OUT.partial folder has no snapshot store',
  'salvage-no-init': 'the recording was interrupted before QEMU saved its initial snapshot',
  'salvage-log-empty': 'the replay log holds no complete event',
  'salvage-log-corrupt': 'the replay log is corrupted before its cut',
  'salvage-log-truncated': 'the replay log ends before its header is complete',
  'salvage-log-unknown-version': 'the replay log was written by a QEMU whose log format Rewind does not read',
  'salvage-store-damaged': 'the snapshot store is damaged beyond leaked clusters',
  'salvage-image-changed': 'the kernel, initrd or disk the recording used is gone or changed',
  'salvage-replay-failed': 'the salvaged log does not replay',
  'salvage-incomplete': 'a file the half-finished manifest lists is missing',
  // Replay
  'replay-failed': 'a replay process exited early or stopped somewhere else than asked',
  'replay-hung': 'every route to the time point lost its replay process (rewind check names the snapshot)',
  'replay-timeout': 'rewind check: the replay did not reach the end in time',
  'engine-closed': 'a request after the replay engine was closed',
  'memory-unreadable': 'guest memory that is not mapped at this time point',
  'gdbstub-refused': "QEMU's gdbstub refused a packet",
  'packet-refused': 'a gdb packet that would change the recording (writes) or that the bridge does not pass on',
  'snapshot-failed': 'QEMU could not save a snapshot at that time point',
  'snapshot-recorded': 'deleting a snapshot taken while recording (it belongs to the bundle)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(s: string): s is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, s);
}
