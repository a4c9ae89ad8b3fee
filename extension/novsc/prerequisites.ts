/**
 * What Rewind needs on the machine, and what to tell a person who lacks it: the missing commands
 * with the Debian packages that provide them, and the one command that installs them.
 * Never imports `vscode`.
 */
import { accessSync, constants } from 'node:fs';
import { isAbsolute } from 'node:path';
import { findOnPath } from '@rewind/core';

export interface Tool {
  command: string;
  debianPackage: string;
  /** What Rewind uses it for, in a few words. */
  role: string;
}

export const QEMU: Tool = { command: 'qemu-system-x86_64', debianPackage: 'qemu-system-x86', role: 'records and replays the guest' };
export const QEMU_IMG: Tool = { command: 'qemu-img', debianPackage: 'qemu-utils', role: 'stores snapshots' };
export const GDB: Tool = { command: 'gdb', debianPackage: 'gdb', role: 'reads symbols, source lines and variables' };

/** The tools a debug session needs: a local recording needs QEMU (replay); every session needs gdb. */
export function toolsFor(config: { request?: unknown; gdbPath?: unknown }): Tool[] {
  const gdb = typeof config.gdbPath === 'string' && config.gdbPath !== '' ? { ...GDB, command: config.gdbPath } : GDB;
  return config.request === 'attach' ? [gdb] : [QEMU, QEMU_IMG, gdb];
}

/** Is the command on PATH (or, given as a path, an executable file)? */
export function hasCommand(command: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (isAbsolute(command) || command.includes('/')) {
    try {
      accessSync(command, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }
  return findOnPath(command, env) !== undefined;
}

export function missingTools(tools: readonly Tool[], has: (command: string) => boolean = (c) => hasCommand(c)): Tool[] {
  return tools.filter((t) => !has(t.command));
}

/** `sudo apt-get install -y qemu-system-x86 gdb` */
export function installCommand(missing: readonly Tool[]): string {
  const pkgs = [...new Set(missing.map((t) => t.debianPackage))];
  return `sudo apt-get install -y ${pkgs.join(' ')}`;
}

/** One message naming every missing command, its package and what to run. */
export function prerequisiteMessage(missing: readonly Tool[]): string {
  const list = missing.map((t) => `${t.command} (${t.role}; Debian package ${t.debianPackage})`).join(', ');
  const custom = missing.some((t) => t.command.includes('/'));
  return `Rewind cannot start: ${list} ${missing.length === 1 ? 'is' : 'are'} missing. Install with: ${installCommand(missing)}${custom ? ', or fix "gdbPath" in the launch configuration' : ''}.`;
}
