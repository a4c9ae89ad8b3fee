/*
 * Output to a reader that went away (`rewind events B | head`). Node ignores SIGPIPE, so a write to
 * a closed pipe fails with EPIPE, by default as an uncaught exception with a stack trace. Here it
 * ends the command quietly instead, with exit code 0 (the reader has what it wanted): a command
 * that handles Ctrl-C (record, check, salvage, replay, bridge) is stopped the same way, so that it
 * cleans up (QEMU processes, temporary files) and a recording still gets a complete bundle; any
 * other command exits at once. Any other error of stdout (ENOSPC, EIO) ends the command with a
 * message and exit code 2; one of stderr is thrown as before.
 */

let installed = false;
let broken = false;

export function handleBrokenPipes(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', onStreamError);
  process.stderr.on('error', onStreamError);
}

/** True once stdout or stderr lost its reader: the command's result and messages go nowhere. */
export function pipeBroken(): boolean {
  return broken;
}

function onStreamError(this: NodeJS.WriteStream, e: NodeJS.ErrnoException): void {
  // After the first EPIPE, writes to the destroyed stream fail too: nobody reads them anyway.
  if (broken && (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED')) return;
  if (e.code !== 'EPIPE') {
    // A full disk (ENOSPC), an I/O error: the output is lost, which the user must know.
    if (this !== process.stdout) throw e;
    process.stderr.write(`rewind: cannot write the output: ${e.message}\n`);
    process.exit(2);
  }
  broken = true;
  if (process.listenerCount('SIGINT') > 0) process.emit('SIGINT', 'SIGINT');
  else process.exit(0);
}
