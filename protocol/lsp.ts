/**
 * The language server's wire beyond plain LSP (docs/language-server.md): the settings it reads,
 * the notifications a client sends it to name the debug session's recording and position, and the
 * command its lenses and hovers carry.
 */
import type { RewindRecordingReach } from './dap';
import type { TimePoint } from './recording';

/** Settings (initializationOptions.rewind, or workspace/didChangeConfiguration's settings.rewind). */
export interface RewindLspSettings {
  /** A `rewind bridge` to follow (nvim, Emacs): "unix:PATH" or "tcp:HOST:PORT", with `recording`. */
  bridge?: string;
  token?: string;
  tokenFile?: string;
  /** The bundle, as a path that bridge opens. */
  recording?: string;
  /** Symbol files (the kernel's first), as the debug session's "symbols". */
  symbols?: string[];
  /** gdb's substitute-path pairs, as the debug session's "sourceMap" ({from: to}). */
  sourceMap?: Record<string, string>;
  gdbPath?: string;
  /** Per-line hit counts as inlay hints ('inlay', the default) or none ('off'). */
  lineCounts?: 'inlay' | 'off';
  /** Lines that never ran shown faded (a hint diagnostic with the "unnecessary" tag). Default true. */
  coverage?: boolean;
}

/** Client -> server: the debug session's recording (null: the session ended). */
export const LSP_SESSION_NOTIFICATION = 'rewind/session';
export type RewindLspSession = { reach: RewindRecordingReach; icount: TimePoint } | null;

/** Client -> server: the debug session's position changed. */
export const LSP_POSITION_NOTIFICATION = 'rewind/position';
export interface RewindLspPosition {
  icount: TimePoint;
}

/** The command of lenses and hover links: the client moves its debug session to `icount`. */
export const GOTO_COMMAND = 'rewind.goto';
export interface RewindGotoArguments {
  icount: TimePoint;
  /** What is there ("previous call of config_set_name"). */
  label?: string;
}
