/**
 * The extension's configuration provider logic (extension/novsc/launch-configs.ts), the
 * prerequisite messages, and the manifest (package.json contributes) against the code: every
 * command the menus name exists, every command the code registers is declared, and the initial
 * configurations are the ones the provider offers. Plain Node: no VS Code needed.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  checkResolvedConfiguration,
  INITIAL_CONFIGURATIONS,
  PICK_KERNEL,
  PICK_RECORDING,
  RECORD_NAME,
  recordConfiguration,
  REPLAY_NAME,
  replayConfiguration,
  resolveConfiguration,
  workspacePath,
} from '../extension/novsc/launch-configs';
import { qemuReport, rewindQemuEnv } from '../extension/novsc/qemu-choice';
import { GDB, hasCommand, installCommand, missingTools, prerequisiteMessage, QEMU, QEMU_IMG, toolsFor } from '../extension/novsc/prerequisites';
import { ROOT } from './helpers';

interface Manifest {
  main: string;
  engines: { vscode: string };
  activationEvents: string[];
  contributes: {
    debuggers: Array<{ type: string; initialConfigurations: unknown[]; variables: Record<string, string>; configurationSnippets: Array<{ body: Record<string, unknown> }>; configurationAttributes: { launch: { properties: Record<string, unknown> }; attach: { properties: Record<string, unknown> } } }>;
    breakpoints: Array<{ language: string }>;
    commands: Array<{ command: string; title: string; icon?: unknown }>;
    menus: Record<string, Array<{ command: string; when?: string }>>;
    keybindings: Array<{ command: string }>;
    views: Record<string, Array<{ id: string; type?: string }>>;
    walkthroughs: Array<{ steps: Array<{ media: { markdown?: string } }> }>;
  };
}
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('launch configurations (the provider\'s logic)', () => {
  it('asks what to do on F5 without a launch.json, and only then', () => {
    assert.deepEqual(resolveConfiguration({}), { kind: 'ask' });
    assert.equal(resolveConfiguration({ type: 'rewind', request: 'launch', name: 'x', recording: 'a.rewind' }).kind, 'ok');
  });

  it('fills in type, request and name', () => {
    const r = resolveConfiguration({ recording: '/r/demo.rewind', name: '' } as Record<string, unknown>);
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.equal(r.config.type, 'rewind');
    assert.equal(r.config.request, 'launch');
    assert.equal(r.config.name, REPLAY_NAME);
    assert.equal(r.config.recording, '/r/demo.rewind');
  });

  it('refuses configurations that cannot work, saying what to write', () => {
    const none = resolveConfiguration({ type: 'rewind', request: 'launch', name: 'Mine' });
    assert.equal(none.kind, 'error');
    assert.match((none as { message: string }).message, /"Mine" says nothing to debug: add "recording": .*pickRecording.* or "record": \{ "kernel"/);
    const both = resolveConfiguration({ type: 'rewind', request: 'launch', name: 'B', recording: 'a', record: { kernel: 'k' } });
    assert.match((both as { message: string }).message, /either "recording" .* or "record" .*, not both/);
    const noKernel = resolveConfiguration({ type: 'rewind', request: 'launch', name: 'K', record: { input: 'x.txt' } });
    assert.match((noKernel as { message: string }).message, /"record" needs "kernel"/);
    const attach = resolveConfiguration({ type: 'rewind', request: 'attach', name: 'A', recording: 'x.rewind' });
    assert.match((attach as { message: string }).message, /"bridge" is required: "unix:.*" or "tcp:HOST:PORT"/);
    const bad = resolveConfiguration({ type: 'rewind', request: 'replay', name: 'R' });
    assert.match((bad as { message: string }).message, /"request" must be "launch" or "attach", not "replay"/);
  });

  it('writes paths inside the workspace as ${workspaceFolder}/...', () => {
    assert.equal(workspacePath('/ws/recordings/demo.rewind', '/ws'), '${workspaceFolder}/recordings/demo.rewind');
    assert.equal(workspacePath('/ws', '/ws'), '${workspaceFolder}');
    assert.equal(workspacePath('/elsewhere/demo.rewind', '/ws'), '/elsewhere/demo.rewind');
    assert.equal(workspacePath('/ws/x', undefined), '/ws/x');
    assert.deepEqual(replayConfiguration('/ws/r/demo.rewind', '/ws'), { type: 'rewind', request: 'launch', name: REPLAY_NAME, recording: '${workspaceFolder}/r/demo.rewind' });
    const rec = recordConfiguration('/ws/build/kernel.elf', '/ws', { input: '/ws/inputs/overflow.txt' });
    assert.equal(rec.name, RECORD_NAME);
    assert.deepEqual(rec.record, { kernel: '${workspaceFolder}/build/kernel.elf', input: '${workspaceFolder}/inputs/overflow.txt', timeout: 120 });
  });

  it('after substitution: a cancelled picker stops quietly; missing QEMU or gdb stops with the Debian packages', () => {
    const all = () => true;
    assert.deepEqual(checkResolvedConfiguration({ type: 'rewind', request: 'launch', name: 'x', recording: '' }, all), { ok: false });
    assert.deepEqual(checkResolvedConfiguration({ type: 'rewind', request: 'launch', name: 'x', record: { kernel: '' } }, all), { ok: false });
    assert.deepEqual(checkResolvedConfiguration({ type: 'rewind', request: 'launch', name: 'x', recording: '/r' }, all), { ok: true });
    const noQemu = checkResolvedConfiguration({ type: 'rewind', request: 'launch', name: 'x', recording: '/r' }, (c) => c === 'gdb');
    assert.equal(noQemu.ok, false);
    assert.match((noQemu as { message: string }).message, /qemu-system-x86_64 .*Debian package qemu-system-x86.*qemu-img .*qemu-utils.*Install with: sudo apt-get install -y qemu-system-x86 qemu-utils/);
    // A remote bridge replays on its own host: only gdb is needed here.
    const attach = checkResolvedConfiguration({ type: 'rewind', request: 'attach', name: 'a', bridge: 'tcp:h:1', recording: 'x' }, (c) => c === 'gdb');
    assert.deepEqual(attach, { ok: true });
    const customGdb = checkResolvedConfiguration({ type: 'rewind', request: 'attach', name: 'a', bridge: 'tcp:h:1', recording: 'x', gdbPath: '/opt/gdb/bin/gdb' }, () => false);
    assert.match((customGdb as { message: string }).message, /\/opt\/gdb\/bin\/gdb .*or fix "gdbPath"/);
  });

  it('finds real tools on PATH and reports absent ones', () => {
    assert.equal(hasCommand('sh'), true);
    assert.equal(hasCommand('/bin/sh'), true);
    assert.equal(hasCommand('rewind-no-such-tool'), false);
    assert.deepEqual(missingTools([QEMU, GDB], (c) => c !== 'gdb'), [GDB]);
    assert.equal(installCommand([QEMU, QEMU_IMG, QEMU]), 'sudo apt-get install -y qemu-system-x86 qemu-utils');
    assert.match(prerequisiteMessage([GDB]), /^Rewind cannot start: gdb \(reads symbols.*\) is missing\. Install with: sudo apt-get install -y gdb\.$/);
    assert.deepEqual(toolsFor({ request: 'launch' }).map((t) => t.command), ['qemu-system-x86_64', 'qemu-img', 'gdb']);
  });

  it('turns rewind.qemuPath into REWIND_QEMU, and says how to get Rewind\'s QEMU when Debian\'s runs', () => {
    assert.equal(rewindQemuEnv('', undefined), undefined);
    assert.equal(rewindQemuEnv('  ', 'system'), 'system', 'an empty setting keeps what the editor was started with');
    assert.equal(rewindQemuEnv('/src/rewind/out/native/qemu', 'system'), '/src/rewind/out/native/qemu');
    assert.equal(rewindQemuEnv('~/rewind/out/native/qemu', undefined), join(homedir(), 'rewind/out/native/qemu'));
    assert.equal(rewindQemuEnv('system', undefined), 'system');
    assert.throws(() => rewindQemuEnv('out/native/qemu', undefined), /rewind\.qemuPath is "out\/native\/qemu": give the absolute path/);
    const built = qemuReport({ path: '/r/out/native/qemu/bin/qemu-system-x86_64', build: 'rewind' }, 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18, Rewind replay patches)');
    assert.deepEqual(built, { version: 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18, Rewind replay patches), /r/out/native/qemu/bin/qemu-system-x86_64' });
    const debian = qemuReport({ path: '/usr/bin/qemu-system-x86_64', build: 'debian' }, 'QEMU emulator version 7.2.22');
    assert.equal(debian.version, 'QEMU emulator version 7.2.22');
    assert.match(debian.advice ?? '', /npm run setup.*set rewind\.qemuPath to that checkout's out\/native\/qemu/);
  });
});

describe('the extension manifest (package.json) matches the code', () => {
  const declared = new Set(manifest.contributes.commands.map((c) => c.command));
  const extensionSources = sources(join(ROOT, 'extension'));
  const registered = new Set(extensionSources.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/registerCommand\(\s*'([^']+)'/g)].map((m) => m[1]!)));

  it('declares every command the code registers, and registers every declared command', () => {
    assert.ok(registered.size >= 15, `found ${registered.size} registered commands`);
    assert.deepEqual([...registered].filter((c) => !declared.has(c)), [], 'registered but not declared');
    assert.deepEqual([...declared].filter((c) => !registered.has(c)), [], 'declared but never registered');
  });

  it('names only existing commands in menus and key bindings', () => {
    const builtin = (c: string) => c.startsWith('workbench.');
    for (const [menu, items] of Object.entries(manifest.contributes.menus)) {
      for (const item of items) assert.ok(declared.has(item.command), `${menu} names ${item.command}`);
    }
    for (const k of manifest.contributes.keybindings) assert.ok(declared.has(k.command) || builtin(k.command), k.command);
  });

  it('puts Reverse Step Into / Out and Go to Time on the debug toolbar of Rewind sessions, and Find Last Write on Variables and Watch', () => {
    const toolbar = manifest.contributes.menus['debug/toolBar']!.map((m) => m.command);
    assert.deepEqual(toolbar, ['rewind.reverseStepInto', 'rewind.reverseStepOut', 'rewind.goToTime']);
    assert.ok(manifest.contributes.menus['debug/toolBar']!.every((m) => m.when === "debugType == 'rewind'"));
    assert.equal(manifest.contributes.menus['debug/variables/context']![0]!.command, 'rewind.findLastWrite');
    assert.equal(manifest.contributes.menus['debug/watch/context']![0]!.command, 'rewind.findLastWrite');
    assert.ok(manifest.contributes.menus['editor/lineNumber/context']!.some((m) => m.command === 'rewind.showLineHits'));
  });

  it('offers the same initial configurations as the provider, with pickers bound to commands', () => {
    const dbg = manifest.contributes.debuggers[0]!;
    assert.equal(dbg.type, 'rewind');
    assert.deepEqual(dbg.initialConfigurations, INITIAL_CONFIGURATIONS);
    assert.equal(`\${command:${Object.keys(dbg.variables)[0]}}`, PICK_RECORDING);
    assert.equal(`\${command:${Object.keys(dbg.variables)[1]}}`, PICK_KERNEL);
    for (const cmd of Object.values(dbg.variables)) assert.ok(declared.has(cmd), cmd);
    // Snippets resolve like hand-written configurations.
    for (const s of dbg.configurationSnippets) {
      const body = JSON.parse(JSON.stringify(s.body).replace(/\^\\"\\\\\$\{([^}]+)\}([^"\\]*)\\"/g, '${$1}$2')) as Record<string, unknown>;
      assert.equal(resolveConfiguration(body).kind, 'ok', JSON.stringify(body));
    }
  });

  it('documents every launch and attach attribute the adapter reads (RewindLaunchArguments, RewindAttachArguments)', () => {
    const protocol = readFileSync(join(ROOT, 'protocol', 'dap.ts'), 'utf8');
    const fields = (iface: string) => {
      const body = new RegExp(`export interface ${iface}[^{]*\\{([\\s\\S]*?)\\n\\}`).exec(protocol)![1]!;
      return [...body.matchAll(/^\s{2}(\w+)\??:/gm)].map((m) => m[1]!);
    };
    const attrs = manifest.contributes.debuggers[0]!.configurationAttributes;
    for (const f of [...fields('RewindCommonArguments'), ...fields('RewindLaunchArguments')]) assert.ok(f in attrs.launch.properties, `launch attribute ${f}`);
    for (const f of [...fields('RewindCommonArguments'), ...fields('RewindAttachArguments')]) assert.ok(f in attrs.attach.properties, `attach attribute ${f}`);
    const record = (attrs.launch.properties.record as { properties: Record<string, unknown> }).properties;
    for (const f of fields('RecordSpec')) assert.ok(f in record, `record.${f}`);
  });

  it('enables breakpoints in C, C++ and assembly; ships what it points at', () => {
    const langs = manifest.contributes.breakpoints.map((b) => b.language);
    for (const l of ['c', 'cpp', 'asm']) assert.ok(langs.includes(l), l);
    assert.equal(manifest.main, './dist/extension.js');
    assert.match(manifest.engines.vscode, /^\^1\.\d+\.0$/);
    for (const c of manifest.contributes.commands) {
      if (c.icon && typeof c.icon === 'object') for (const p of Object.values(c.icon as Record<string, string>)) assert.ok(statSync(join(ROOT, p)).isFile(), p);
    }
    for (const step of manifest.contributes.walkthroughs[0]!.steps) assert.ok(statSync(join(ROOT, step.media.markdown!)).isFile());
    assert.ok(manifest.contributes.views.debug!.some((v) => v.id === 'rewind.timeline' && v.type === 'webview'));
  });

  it('keeps vscode out of the modules that must not need it', () => {
    const offenders = [...sources(join(ROOT, 'extension', 'novsc')), ...sources(join(ROOT, 'debug-adapter')), ...sources(join(ROOT, 'language-server')), ...sources(join(ROOT, 'recorder-bridge'))].filter((f) => /from 'vscode'|require\('vscode'\)/.test(readFileSync(f, 'utf8')));
    assert.deepEqual(offenders, []);
  });
});
