/**
 * Recording and opening recordings: Record Guest Kernel…, Open Recording…, the pickers behind
 * ${command:pickRecording} / ${command:pickKernel}, Check Prerequisites, and the walkthrough's
 * demo (copy the demo guest, build it, record it).
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import * as vscode from 'vscode';
import { chooseQemu, defaultBundleName, record, type RecordProgress, isUserError, parseRecordOptions, type ParsedRecordOptions } from '@rewind/core';
import { shortIcount } from '../novsc/format';
import { INITIAL_CONFIGURATIONS, replayConfiguration } from '../novsc/launch-configs';
import { GDB, installCommand, missingTools, prerequisiteMessage, QEMU, QEMU_IMG, type Tool } from '../novsc/prerequisites';
import { isBundle, summarizeBundle } from '../novsc/bundles';
import { qemuReport } from '../novsc/qemu-choice';
import { pickInitrd, pickInputScript, pickKernel, pickRecording } from '../pickers';
import { UserFacingError } from '../sessions';
import { command } from './util';

const run = promisify(execFile);

/** What building the demo guest needs, on top of QEMU and gdb. */
const BUILD_TOOLS: Tool[] = [
  { command: 'gcc', debianPackage: 'gcc', role: 'builds the demo guest' },
  { command: 'make', debianPackage: 'make', role: 'builds the demo guest' },
  { command: 'ld', debianPackage: 'binutils', role: 'links the demo guest' },
];

export function registerRecordingCommands(extensionUri: vscode.Uri): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('rewind.recordGuest', command(() => recordGuest())),
    vscode.commands.registerCommand('rewind.openRecording', command((arg?: unknown) => openRecording(arg))),
    vscode.commands.registerCommand('rewind.pickRecording', () => pickRecording()),
    vscode.commands.registerCommand('rewind.pickKernel', () => pickKernel()),
    vscode.commands.registerCommand('rewind.checkPrerequisites', command(() => checkPrerequisites())),
    vscode.commands.registerCommand('rewind.setupDemo', command(() => setupDemo(extensionUri))),
  ];
}

function workspaceFolder(): vscode.WorkspaceFolder | undefined {
  return vscode.workspace.workspaceFolders?.[0];
}

/** Throws a message naming the Debian packages when tools are missing (and offers to copy the command). */
async function requireTools(tools: Tool[]): Promise<void> {
  const missing = missingTools(tools);
  if (missing.length === 0) return;
  const copy = 'Copy Install Command';
  void vscode.window.showErrorMessage(prerequisiteMessage(missing), copy).then((c) => {
    if (c === copy) void vscode.env.clipboard.writeText(installCommand(missing));
  });
  throw new Error('cancelled');
}

export async function startReplay(recording: string): Promise<void> {
  const folder = workspaceFolder();
  const ok = await vscode.debug.startDebugging(folder, replayConfiguration(recording, folder?.uri.fsPath, `Replay ${basename(recording)}`));
  if (!ok) throw new Error('cancelled'); // VS Code has shown why
}

async function openRecording(arg: unknown): Promise<void> {
  const fromExplorer = arg instanceof vscode.Uri && isBundle(arg.fsPath) ? arg.fsPath : undefined;
  const recording = fromExplorer ?? (await pickRecording('Open Recording'));
  if (recording) await startReplay(recording);
}

async function isElf(path: string): Promise<boolean> {
  const fh = await fs.open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    return b.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    await fh.close();
  }
}

async function recordGuest(): Promise<void> {
  await requireTools([QEMU, QEMU_IMG]);
  const kernel = await pickKernel();
  if (!kernel) return;
  let initrd: string | null | undefined = null;
  if (!(await isElf(kernel))) {
    initrd = await pickInitrd();
    if (initrd === undefined) return;
  }
  const input = await pickInputScript();
  if (input === undefined) return;
  const stopOn = await vscode.window.showInputBox({
    title: 'Stop recording when the console prints… (optional)',
    prompt: 'Recording also stops when the guest powers off, after the timeout (setting rewind.record.timeoutSeconds), or when you cancel it',
    placeHolder: 'Kernel panic',
  });
  if (stopOn === undefined) return;
  const base = workspaceFolder()?.uri.fsPath ?? join(homedir(), 'rewind');
  const out = join(base, 'recordings', defaultBundleName(kernel));
  const bundle = await recordWithProgress({ kernel, out, ...(initrd ? { initrd } : {}), ...(input ? { input } : {}), ...(stopOn ? { stopOn } : {}) });
  await offerToDebug(bundle);
}

/** Records with a cancellable notification; Cancel stops the guest and keeps what was recorded. */
async function recordWithProgress(opts: { kernel: string; out: string; initrd?: string; input?: string; stopOn?: string }): Promise<string> {
  const settings = vscode.workspace.getConfiguration('rewind.record');
  let options: ParsedRecordOptions;
  try {
    // The settings are checked like the command line's options (record/options.ts).
    options = parseRecordOptions({ ...opts, snapshotEvery: settings.get<string>('snapshotEvery') || undefined, timeout: settings.get<number>('timeoutSeconds') ?? 120 }, 'extension');
  } catch (e) {
    if (isUserError(e)) throw new UserFacingError(`${e.message[0]!.toUpperCase()}${e.message.slice(1)}.`);
    throw e;
  }
  await fs.mkdir(join(opts.out, '..'), { recursive: true });
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Recording ${basename(opts.kernel)}`, cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      let last = 0;
      progress.report({ message: 'starting QEMU — Cancel stops recording and keeps what was recorded' });
      const result = await record({
        ...options,
        out: opts.out,
        signal: abort.signal,
        onProgress: (p: RecordProgress) => {
          if (Date.now() - last < 250) return;
          last = Date.now();
          progress.report({ message: progressText(p) });
        },
      });
      if (result.warnings.length > 0) void vscode.window.showWarningMessage(`Rewind recorded with warnings: ${result.warnings.join('; ')}`);
      return result.bundle;
    },
  );
}

function progressText(p: RecordProgress): string {
  const tail = p.consoleTail[p.consoleTail.length - 1];
  const parts = [`${p.phase}`, `${shortIcount(p.icount)} instructions`, `${Math.round(p.elapsedMs / 1000)} s`, `${Math.round(p.logBytes / 1024)} KiB log`, `${p.snapshots} snapshot${p.snapshots === 1 ? '' : 's'}`];
  return `${parts.join(' · ')}${tail ? ` — console: ${tail.slice(0, 60)}` : ''}`;
}

async function offerToDebug(bundle: string): Promise<void> {
  const s = summarizeBundle(bundle);
  const debug = 'Debug It';
  const reveal = 'Reveal in Explorer';
  const choice = await vscode.window.showInformationMessage(`Recorded ${s.name}: ${s.detail}.`, debug, reveal);
  if (choice === debug) await startReplay(bundle);
  else if (choice === reveal) await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(bundle));
}

async function toolVersion(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(cmd, args);
    return stdout.split('\n')[0]!.trim();
  } catch {
    return 'version unknown';
  }
}

async function checkPrerequisites(): Promise<void> {
  const needed = [QEMU, QEMU_IMG, GDB];
  const missing = missingTools([...needed, ...BUILD_TOOLS]);
  const core = missing.filter((t) => needed.includes(t));
  if (core.length > 0) {
    await requireTools(needed);
    return;
  }
  let qemu;
  try {
    qemu = chooseQemu(QEMU.command);
  } catch (e) {
    throw new UserFacingError((e as Error).message); // rewind.qemuPath names no build
  }
  const report = qemuReport(qemu, await toolVersion(qemu.path, ['--version']));
  const build = missing.length > 0 ? ` To build the demo guest, also install: ${installCommand(missing)}.` : '';
  void vscode.window.showInformationMessage(`Rewind is ready to record and replay (${report.version}; ${await toolVersion('gdb', ['--version'])}).${build}${report.advice ? ` ${report.advice}` : ''}`);
}

/** Copies the demo guest's sources to a folder, builds it, records bug (a), and offers to open it. */
async function setupDemo(extensionUri: vscode.Uri): Promise<void> {
  await requireTools([QEMU, QEMU_IMG, GDB, ...BUILD_TOOLS]);
  const src = vscode.Uri.joinPath(extensionUri, 'guests', 'demo').fsPath;
  const picked = await vscode.window.showInputBox({
    title: 'Record the demo guest',
    prompt: 'A new folder for the demo guest\'s sources, its build and its recording',
    value: join(homedir(), 'rewind-demo'),
  });
  if (!picked) return;
  const dir = picked.replace(/^~(?=\/|$)/, homedir());
  if (await fs.stat(dir).then(() => true, () => false)) {
    const entries = await fs.readdir(dir);
    if (entries.length > 0) throw new UserFacingError(`${dir} already exists and is not empty: pick a new folder for the demo.`);
  }
  const bundle = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Rewind demo', cancellable: true }, async (progress, token) => {
    progress.report({ message: 'copying the demo guest\'s sources' });
    await fs.cp(src, dir, { recursive: true, filter: (p) => !p.includes(`${join(src, 'build')}`) });
    await fs.mkdir(join(dir, '.vscode'), { recursive: true });
    await fs.writeFile(join(dir, '.vscode', 'launch.json'), `${JSON.stringify({ version: '0.2.0', configurations: INITIAL_CONFIGURATIONS }, null, 2)}\n`);
    progress.report({ message: 'building it (make)' });
    try {
      await run('make', ['-s', '-C', dir]);
    } catch (e) {
      throw new UserFacingError(`Building the demo guest failed: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
    }
    if (token.isCancellationRequested) throw new Error('cancelled');
    progress.report({ message: 'recording it while a script types a too-long machine name' });
    const abort = new AbortController();
    token.onCancellationRequested(() => abort.abort());
    await fs.mkdir(join(dir, 'recordings'), { recursive: true });
    const r = await record({
      kernel: join(dir, 'build', 'kernel.elf'),
      input: join(dir, 'inputs', 'overflow.txt'),
      out: join(dir, 'recordings', 'demo-overflow.rewind'),
      snapshotEvery: 2_000_000,
      timeoutSeconds: 120,
      signal: abort.signal,
    });
    return r.bundle;
  });
  const s = summarizeBundle(bundle);
  const open = 'Open the Demo Folder';
  const choice = await vscode.window.showInformationMessage(
    `The demo guest is in ${dir} and its recording in recordings/${s.name} (${s.detail}). Open the folder, then Run and Debug → "Replay a recording".`,
    open,
  );
  if (choice === open) await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(dir), { forceNewWindow: false });
}
