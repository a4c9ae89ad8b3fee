/**
 * Pickers for recordings, kernels and input scripts: what the workspace holds first, then
 * "Browse…". Used by launch configurations (${command:pickRecording}, ${command:pickKernel}) and
 * by the Record and Open commands.
 */
import { dirname, relative } from 'node:path';
import * as vscode from 'vscode';
import { isBundle, summarizeBundle } from './novsc/bundles';

const EXCLUDE = '**/{node_modules,.git,.rewind-cache}/**';

interface PathItem extends vscode.QuickPickItem {
  path?: string;
  browse?: boolean;
}

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function relativeDir(path: string): string {
  const root = workspaceRoot();
  const dir = dirname(path);
  return root && !relative(root, dir).startsWith('..') ? relative(root, dir) || '.' : dir;
}

/** Recording bundles (folders with a manifest.json, named *.rewind) in the workspace, newest first. */
export async function findRecordings(): Promise<string[]> {
  const manifests = await vscode.workspace.findFiles('**/*.rewind/manifest.json', EXCLUDE, 200);
  const dirs = manifests.map((u) => dirname(u.fsPath)).filter(isBundle);
  const summaries = dirs.map(summarizeBundle);
  summaries.sort((a, b) => (b.recordedAt ?? '').localeCompare(a.recordedAt ?? ''));
  return summaries.map((s) => s.path);
}

/** Asks for a recording; undefined when cancelled. */
export async function pickRecording(title = 'Replay a recording'): Promise<string | undefined> {
  const items: PathItem[] = (await findRecordings()).map((p) => {
    const s = summarizeBundle(p);
    return { label: `$(history) ${s.name}`, description: relativeDir(p), detail: s.detail, path: p };
  });
  items.push({ label: '$(folder-opened) Browse…', detail: 'Choose a .rewind folder made by Record Guest Kernel or `rewind record`', browse: true });
  const picked = items.length === 1 ? items[0] : await vscode.window.showQuickPick(items, { title, placeHolder: 'Pick a recording to debug', matchOnDescription: true, matchOnDetail: true });
  if (!picked) return undefined;
  if (!picked.browse) return picked.path;
  const uri = await vscode.window.showOpenDialog({ title, canSelectFolders: true, canSelectFiles: false, openLabel: 'Replay', ...(workspaceRoot() ? { defaultUri: vscode.Uri.file(workspaceRoot()!) } : {}) });
  if (!uri?.[0]) return undefined;
  const dir = uri[0].fsPath;
  if (!isBundle(dir)) {
    void vscode.window.showErrorMessage(`${dir} is not a Rewind recording: a recording is a folder with a manifest.json, made by Rewind: Record Guest Kernel… or \`rewind record\`.`);
    return undefined;
  }
  return dir;
}

/** Asks for a file among workspace matches of `glob`, or Browse…; undefined when cancelled. */
async function pickFile(opts: { title: string; placeHolder: string; glob: string; icon: string; browseDetail: string; none?: string }): Promise<string | null | undefined> {
  const found = await vscode.workspace.findFiles(opts.glob, `{${EXCLUDE},**/*.rewind/**}`, 50);
  const items: PathItem[] = [];
  if (opts.none) items.push({ label: `$(circle-slash) ${opts.none}` });
  items.push(...found.map((u) => ({ label: `${opts.icon} ${vscode.workspace.asRelativePath(u, false)}`, path: u.fsPath })));
  items.push({ label: '$(folder-opened) Browse…', detail: opts.browseDetail, browse: true });
  const picked = await vscode.window.showQuickPick(items, { title: opts.title, placeHolder: opts.placeHolder, matchOnDescription: true });
  if (!picked) return undefined;
  if (!picked.browse) return picked.path ?? null;
  const uri = await vscode.window.showOpenDialog({ title: opts.title, canSelectFiles: true, canSelectFolders: false, ...(workspaceRoot() ? { defaultUri: vscode.Uri.file(workspaceRoot()!) } : {}) });
  return uri?.[0]?.fsPath;
}

/** A kernel to boot: an ELF multiboot kernel or a Linux bzImage. */
export async function pickKernel(title = 'Record a guest kernel'): Promise<string | undefined> {
  const p = await pickFile({
    title,
    placeHolder: 'The kernel to boot and record: an ELF multiboot kernel or a Linux bzImage',
    glob: '**/{vmlinux,bzImage,*.elf}',
    icon: '$(file-binary)',
    browseDetail: 'Choose a kernel ELF or bzImage',
  });
  return p ?? undefined;
}

/** An input script for the serial console; null for none, undefined when cancelled. */
export async function pickInputScript(): Promise<string | null | undefined> {
  return pickFile({
    title: 'Console input (optional)',
    placeHolder: 'A script that types into the guest\'s serial console while it is recorded (expect / send / sleep lines)',
    glob: '**/inputs/*.txt',
    icon: '$(keyboard)',
    browseDetail: 'Choose an input script',
    none: 'No input: record without typing anything',
  });
}

/** An initrd for a bzImage; null for none, undefined when cancelled. */
export async function pickInitrd(): Promise<string | null | undefined> {
  return pickFile({
    title: 'Initial ramdisk (optional)',
    placeHolder: 'The initrd / initramfs to boot the bzImage with',
    glob: '**/{initrd*,initramfs*,*.cpio,*.cpio.gz}',
    icon: '$(package)',
    browseDetail: 'Choose an initrd',
    none: 'No initrd',
  });
}
