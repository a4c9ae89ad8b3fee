/**
 * gdb commands that would replace the session's symbols, refused in the Debug Console (`-exec`) and
 * in "setupCommands". The adapter loads the kernel's symbols itself (at the KASLR offset: kaslr.ts)
 * and each loaded module's at every time point (linux/module-symbols.ts). `symbol-file` drops them
 * all, and the kernel's `lx-symbols` starts with a bare `symbol-file`, then loads a file named
 * `vmlinux` without the offset (measured on the module fixture: the session was left with "No
 * symbol table is loaded"). `add-symbol-file` adds to them and stays allowed.
 */
import { AdapterError, ErrorId } from './errors';

const REPLACES_SYMBOLS = /^\s*(symbol-file|lx-symbols)\b/;

/** Why `command` is refused, or undefined when it may run. */
export function symbolReplacementRefusal(command: string): string | undefined {
  const name = REPLACES_SYMBOLS.exec(command)?.[1];
  if (!name) return undefined;
  return (
    `the gdb command "${name}" would replace the session's symbols, which Rewind loads itself: the kernel's at its KASLR offset, and each loaded module's at every time point ` +
    '(give the folders of your .ko files in "moduleFolders" in the launch configuration); use add-symbol-file to add symbols of your own'
  );
}

/** Throws for a command that would replace the session's symbols. */
export function refuseSymbolReplacement(command: string): void {
  const why = symbolReplacementRefusal(command);
  if (why) throw new AdapterError(`Refused: ${why}`, ErrorId.badConfig);
}
