/**
 * The user's own gdb set-up, from the launch configuration: "gdbInit" (a file gdb sources) and then
 * "setupCommands" (gdb CLI commands), run once the symbols are loaded and gdb is connected to the
 * recording, at its start. gdb runs with -nx, so ~/.gdbinit is read only when "gdbInit" names it.
 * What each prints goes to the Debug Console; a command gdb refuses ends the launch with an error
 * that names it.
 */
import { AdapterError, ErrorId } from './errors';
import { GdbCommandError, type Gdb } from './mi/gdb';
import { symbolReplacementRefusal } from './symbol-commands';

export interface GdbSetup {
  gdbInit?: string;
  setupCommands: string[];
}

/** A set-up command may run a script (the kernel's vmlinux-gdb.py takes seconds on a big vmlinux). */
const SETUP_COMMAND_TIMEOUT_MS = 300_000;

export async function runGdbSetup(gdb: Gdb, setup: GdbSetup, print: (text: string) => void): Promise<void> {
  const steps = [
    ...(setup.gdbInit ? [{ what: `"gdbInit" (${setup.gdbInit})`, command: `source ${setup.gdbInit}` }] : []),
    ...setup.setupCommands.map((command, i) => ({ what: `"setupCommands"[${i}]`, command })),
  ];
  for (const s of steps) {
    const refused = symbolReplacementRefusal(s.command);
    if (refused) throw new AdapterError(`Rewind launch configuration: ${s.what}: ${refused}. Remove it from the launch configuration.`, ErrorId.badConfig, true);
    let out: string;
    try {
      out = await gdb.console(s.command, { timeoutMs: SETUP_COMMAND_TIMEOUT_MS });
    } catch (e) {
      if (!(e instanceof GdbCommandError)) throw e;
      throw new AdapterError(`Rewind launch configuration: ${s.what}: gdb refused \`${s.command}\`: ${e.message}. Fix or remove it in the launch configuration.`, ErrorId.badConfig, true);
    }
    print(`(gdb) ${s.command}\n${out.endsWith('\n') || out === '' ? out : `${out}\n`}`);
  }
}
