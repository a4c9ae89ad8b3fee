/**
 * The logic behind Rewind's DebugConfigurationProvider, without VS Code: the configurations it
 * offers, what it does with a configuration before and after VS Code substitutes variables, and
 * the messages for configurations that cannot work. extension/config-provider.ts is the glue.
 * Never imports `vscode`.
 */
import { isAbsolute, relative, sep } from 'node:path';
import { REWIND_DEBUG_TYPE } from '@rewind/protocol';
import { missingTools, prerequisiteMessage, toolsFor, type Tool } from './prerequisites';

/** A launch.json entry of type "rewind" (RewindLaunchArguments / RewindAttachArguments plus VS Code's fields). */
export interface RewindDebugConfiguration {
  type: string;
  request: string;
  name: string;
  [key: string]: unknown;
}

/** Variables the configurations may use (package.json `debuggers[].variables`): pickers run when the session starts. */
export const PICK_RECORDING = '${command:pickRecording}';
export const PICK_KERNEL = '${command:pickKernel}';

export const REPLAY_NAME = 'Replay a recording';
export const RECORD_NAME = 'Record and debug a kernel';

/** What "create a launch.json file" writes (also in package.json, kept equal by a unit test). */
export const INITIAL_CONFIGURATIONS: RewindDebugConfiguration[] = [
  { type: REWIND_DEBUG_TYPE, request: 'launch', name: REPLAY_NAME, recording: PICK_RECORDING },
  { type: REWIND_DEBUG_TYPE, request: 'launch', name: RECORD_NAME, record: { kernel: PICK_KERNEL, timeout: 120 } },
];

export type StartKind = 'replay' | 'record';

export const START_CHOICES: ReadonlyArray<{ kind: StartKind; label: string; detail: string }> = [
  { kind: 'replay', label: REPLAY_NAME, detail: 'Debug a .rewind recording, forward and backward' },
  { kind: 'record', label: RECORD_NAME, detail: 'Boot a kernel ELF or bzImage under QEMU, record the run, then debug the recording' },
];

/** A path as launch.json should hold it: `${workspaceFolder}/...` inside the folder, absolute outside. */
export function workspacePath(path: string, folder: string | undefined): string {
  if (!folder) return path;
  const rel = relative(folder, path);
  if (rel === '') return '${workspaceFolder}';
  if (rel.startsWith('..') || isAbsolute(rel)) return path;
  return `\${workspaceFolder}/${rel.split(sep).join('/')}`;
}

export function replayConfiguration(recording: string, folder?: string, name?: string): RewindDebugConfiguration {
  return { type: REWIND_DEBUG_TYPE, request: 'launch', name: name ?? REPLAY_NAME, recording: workspacePath(recording, folder) };
}

export function recordConfiguration(kernel: string, folder?: string, extra: { input?: string; initrd?: string } = {}): RewindDebugConfiguration {
  return {
    type: REWIND_DEBUG_TYPE,
    request: 'launch',
    name: RECORD_NAME,
    record: {
      kernel: workspacePath(kernel, folder),
      ...(extra.initrd ? { initrd: workspacePath(extra.initrd, folder) } : {}),
      ...(extra.input ? { input: workspacePath(extra.input, folder) } : {}),
      timeout: 120,
    },
  };
}

/** What resolveDebugConfiguration does with a configuration. */
export type Resolution =
  /** F5 without a launch.json: ask what to do (START_CHOICES). */
  | { kind: 'ask' }
  | { kind: 'ok'; config: RewindDebugConfiguration }
  | { kind: 'error'; message: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const present = (v: unknown) => v !== undefined && v !== null && v !== '';

/** Before variables are substituted: fill in what is missing, refuse what cannot work. */
export function resolveConfiguration(config: Record<string, unknown>): Resolution {
  // VS Code passes {} (or just noDebug) when there is no launch.json.
  if (!['type', 'request', 'name', 'recording', 'record', 'bridge'].some((k) => present(config[k]))) return { kind: 'ask' };
  const request = present(config.request) ? config.request : 'launch';
  const name = typeof config.name === 'string' && config.name !== '' ? config.name : request === 'attach' ? 'Attach to a Rewind bridge' : REPLAY_NAME;
  const out: RewindDebugConfiguration = { ...config, type: REWIND_DEBUG_TYPE, request: String(request), name };
  const where = `Rewind launch configuration "${name}"`;
  if (request === 'launch') {
    const hasRecording = present(config.recording);
    const hasRecord = present(config.record);
    if (hasRecording && hasRecord) return { kind: 'error', message: `${where}: give either "recording" (replay a bundle) or "record" (record a kernel first), not both.` };
    if (!hasRecording && !hasRecord) {
      return { kind: 'error', message: `${where} says nothing to debug: add "recording": "${PICK_RECORDING}" to pick a .rewind bundle, or "record": { "kernel": "${PICK_KERNEL}" } to record a kernel first.` };
    }
    if (hasRecord && (!isObject(config.record) || !present(config.record.kernel))) {
      return { kind: 'error', message: `${where}: "record" needs "kernel": the kernel ELF or bzImage to boot, e.g. "record": { "kernel": "\${workspaceFolder}/vmlinux" }.` };
    }
    if (hasRecording && typeof config.recording !== 'string') return { kind: 'error', message: `${where}: "recording" must be the path of a .rewind folder.` };
    return { kind: 'ok', config: out };
  }
  if (request === 'attach') {
    if (!present(config.bridge)) return { kind: 'error', message: `${where}: "bridge" is required: "unix:/path/to/socket" or "tcp:HOST:PORT" of a running \`rewind bridge\`.` };
    if (!present(config.recording)) return { kind: 'error', message: `${where}: "recording" is required: the bundle, as a path the bridge understands.` };
    return { kind: 'ok', config: out };
  }
  return { kind: 'error', message: `${where}: "request" must be "launch" or "attach", not ${JSON.stringify(request)}.` };
}

/**
 * After variables are substituted (pickers have run): refuse when a picker was cancelled or the
 * machine lacks QEMU or gdb, with a message that names the Debian packages.
 */
export function checkResolvedConfiguration(config: RewindDebugConfiguration, has?: (command: string) => boolean): { ok: true } | { ok: false; message?: string; missing?: Tool[] } {
  // A cancelled picker leaves the variable empty: VS Code expects undefined (no message).
  if (config.request === 'launch' && config.recording === '') return { ok: false };
  if (config.request === 'launch' && isObject(config.record) && config.record.kernel === '') return { ok: false };
  const missing = missingTools(toolsFor(config), has);
  if (missing.length > 0) return { ok: false, message: prerequisiteMessage(missing), missing };
  return { ok: true };
}
