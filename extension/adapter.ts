/**
 * Where the debug adapter runs. Inline by default: the DAP session lives in the extension host
 * (no process of its own; gdb and QEMU are its children). With "rewind.adapter.mode":
 * "executable" it runs as `node dist/dap.js` (the same program as `rewind dap`), a process of its
 * own, which isolates it from the extension host and lets its traffic be logged or debugged on
 * its own. The extension starts that process itself and relays its messages, so that its stderr
 * goes to the Rewind log and its death ends the session with a message that says why.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as vscode from 'vscode';
import { RewindDebugSession } from '@rewind/adapter';
import { DapMessageReader, encodeDapMessage } from './novsc/dap-stream';

export class RewindAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  constructor(private readonly extensionUri: vscode.Uri, private readonly log: vscode.LogOutputChannel) {}

  createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    const cwd = session.workspaceFolder?.uri.fsPath ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const settings = vscode.workspace.getConfiguration('rewind.adapter');
    let adapter: vscode.DebugAdapter;
    if (settings.get<string>('mode') === 'executable') {
      const program = vscode.Uri.joinPath(this.extensionUri, 'dist', 'dap.js').fsPath;
      const node = settings.get<string>('nodePath') || process.execPath;
      adapter = new ExecutableAdapter(node, program, cwd, this.log);
    } else {
      // RewindDebugSession is a @vscode/debugadapter DebugSession: it has handleMessage and
      // onDidSendMessage, the shape of vscode.DebugAdapter.
      adapter = new RewindDebugSession(cwd ? { cwd } : {}) as unknown as vscode.DebugAdapter;
    }
    return new vscode.DebugAdapterInlineImplementation(adapter);
  }
}

/**
 * `node dist/dap.js` as a process of its own, spoken to over its stdin and stdout. Its stderr
 * goes to the Rewind log. If it dies, the session ends with a message saying so. Disposing
 * closes its stdin (it then ends the session and exits), and kills it if it lingers.
 */
class ExecutableAdapter implements vscode.DebugAdapter {
  private readonly emitter = new vscode.EventEmitter<vscode.DebugProtocolMessage>();
  readonly onDidSendMessage = this.emitter.event;
  private readonly child: ChildProcess;
  private disposed = false;
  private stderrTail = '';

  constructor(node: string, program: string, cwd: string | undefined, private readonly log: vscode.LogOutputChannel) {
    // In VS Code the extension host's executable is Electron: ELECTRON_RUN_AS_NODE makes it plain Node.
    this.child = spawn(node, [program], { ...(cwd ? { cwd } : {}), env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.log.info(`debug adapter: started ${node} ${program} (pid ${this.child.pid ?? '?'})`);
    const reader = new DapMessageReader((m) => {
      if (!this.disposed) this.emitter.fire(m as vscode.DebugProtocolMessage);
    });
    this.child.stdout!.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (e) {
        this.fail(`the debug adapter wrote something that is not DAP: ${(e as Error).message}`);
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.stderrTail = (this.stderrTail + text).slice(-2000);
      for (const line of text.split('\n')) if (line.trim() !== '') this.log.error(`debug adapter: ${line}`);
    });
    this.child.stdin!.on('error', () => undefined);
    this.child.on('error', (e) => this.fail(`cannot run the debug adapter with ${node}: ${e.message}. Check the setting rewind.adapter.nodePath (Node.js 20 or newer), or set rewind.adapter.mode to "inline".`));
    this.child.on('exit', (code, signal) => {
      if (!this.disposed) this.fail(`the debug adapter (${program}) exited with ${signal ?? `code ${code}`}${this.stderrTail ? `: ${this.stderrTail.trim().split('\n').slice(-5).join('\n')}` : ''}`);
    });
  }

  handleMessage(message: vscode.DebugProtocolMessage): void {
    if (this.disposed || !this.child.stdin?.writable) return;
    this.child.stdin.write(encodeDapMessage(message));
  }

  /** Tells VS Code why the session is over, and ends it. */
  private fail(why: string): void {
    if (this.disposed) return;
    this.log.error(why);
    this.emitter.fire({ seq: 0, type: 'event', event: 'output', body: { category: 'stderr', output: `Rewind: ${why}\n` } } as vscode.DebugProtocolMessage);
    this.emitter.fire({ seq: 0, type: 'event', event: 'terminated', body: {} } as vscode.DebugProtocolMessage);
    this.disposed = true;
  }

  dispose(): void {
    this.disposed = true;
    this.emitter.dispose();
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin?.end();
    const term = setTimeout(() => child.kill('SIGTERM'), 3000);
    const kill = setTimeout(() => child.kill('SIGKILL'), 8000);
    term.unref();
    kill.unref();
    child.once('exit', () => {
      clearTimeout(term);
      clearTimeout(kill);
    });
  }
}
