/**
 * A DAP test client: @vscode/debugadapter-testsupport's DebugClient running the real adapter
 * (`node dist/dap.js`, what `rewind dap` runs) with the real engine. Helpers wait for the stop
 * that follows an execution request, read stacks and variables as text, and check that no gdb or
 * QEMU process outlives a session.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { RewindPosition } from '@rewind/protocol';
import { ROOT } from './helpers';

export const DAP_ENTRY = join(ROOT, 'dist', 'dap.js');

export interface Stop {
  reason: string;
  description?: string;
  text?: string;
  position: RewindPosition;
  /** "function file:line" of every frame, innermost first. */
  frames: string[];
}

export class RewindTestClient {
  readonly dc: DebugClient;
  readonly output: string[] = [];
  readonly events: DebugProtocol.Event[] = [];
  /** Every message from the adapter, in arrival order (to check that responses precede their stops). */
  readonly received: DebugProtocol.ProtocolMessage[] = [];
  /** The messages of the last run(), by name ("response", "continued", "stopped", ...): its request's, and what followed until the stop was described. */
  lastTraffic: string[] = [];

  constructor() {
    this.dc = new DebugClient('node', DAP_ENTRY, 'rewind', { cwd: ROOT }, false);
    this.dc.defaultTimeout = 120_000;
    const client = this.dc as unknown as { dispatch(body: string): void };
    const dispatch = client.dispatch.bind(this.dc);
    client.dispatch = (body: string) => {
      this.received.push(JSON.parse(body) as DebugProtocol.ProtocolMessage);
      dispatch(body);
    };
  }

  async start(init: Partial<DebugProtocol.InitializeRequestArguments> = {}): Promise<DebugProtocol.Capabilities> {
    await this.dc.start();
    this.dc.on('output', (e: DebugProtocol.OutputEvent) => this.output.push(e.body.output));
    for (const name of ['stopped', 'continued', 'invalidated', 'rewind/positionChanged', 'progressStart', 'progressUpdate', 'progressEnd']) {
      this.dc.on(name, (e: DebugProtocol.Event) => this.events.push(e));
    }
    const r = await this.dc.initializeRequest({
      adapterID: 'rewind',
      pathFormat: 'path',
      linesStartAt1: true,
      columnsStartAt1: true,
      supportsProgressReporting: true,
      supportsInvalidatedEvent: true,
      ...init,
    });
    return r.body ?? {};
  }

  /** launch + configurationDone, then the first stop. */
  launch(args: Record<string, unknown>, before?: () => Promise<void>): Promise<Stop> {
    return this.launchOrAttach('launch', args, before);
  }

  /** launch or attach, configurationDone, then the first stop. */
  async launchOrAttach(request: 'launch' | 'attach', args: Record<string, unknown>, before?: () => Promise<void>): Promise<Stop> {
    const initialized = this.dc.waitForEvent('initialized');
    initialized.catch(() => undefined); // moot when the request fails
    if (request === 'launch') await this.dc.launchRequest(args as DebugProtocol.LaunchRequestArguments);
    else await this.dc.attachRequest(args as DebugProtocol.AttachRequestArguments);
    await initialized;
    if (before) await before();
    return this.run(() => this.dc.configurationDoneRequest());
  }

  /** Sends an execution request and waits for the stop after it; the response must come first. */
  async run(send: () => Promise<unknown>): Promise<Stop> {
    const from = this.received.length;
    const stopped = this.dc.waitForEvent('stopped');
    stopped.catch(() => undefined); // reported below, or moot when the request fails
    await send();
    const e = (await stopped) as DebugProtocol.StoppedEvent;
    const after = this.received.slice(from);
    const response = after.findIndex((m) => m.type === 'response');
    const stop = after.findIndex((m) => m.type === 'event' && (m as DebugProtocol.Event).event === 'stopped');
    assert.ok(response >= 0 && response < stop, `the response must precede the stopped event: ${after.map((m) => (m.type === 'event' ? (m as DebugProtocol.Event).event : m.type)).join(', ')}`);
    const described = await this.describe(e);
    // Up to the answers describe() asked for: whatever the adapter sent after the stop has arrived.
    this.lastTraffic = this.received.slice(from).map((m) => (m.type === 'event' ? (m as DebugProtocol.Event).event : m.type));
    return described;
  }

  async describe(e: DebugProtocol.StoppedEvent): Promise<Stop> {
    const position = await this.position();
    const frames = await this.frames();
    return { reason: e.body.reason, ...(e.body.description ? { description: e.body.description } : {}), ...(e.body.text ? { text: e.body.text } : {}), position, frames };
  }

  custom<T>(command: string, args: Record<string, unknown> = {}): Promise<T> {
    return this.dc.customRequest(command, args).then((r) => r.body as T);
  }

  position(): Promise<RewindPosition> {
    return this.custom<RewindPosition>('rewind/position');
  }

  async stack(): Promise<DebugProtocol.StackFrame[]> {
    return (await this.dc.stackTraceRequest({ threadId: 1, startFrame: 0, levels: 20 })).body.stackFrames;
  }

  async frames(): Promise<string[]> {
    return (await this.stack()).map((f) => `${f.name} ${f.source?.name ?? '?'}:${f.line}`);
  }

  /** name -> value of a scope of the top frame ("Locals", "Arguments", "Registers"). */
  async scope(name: string, frameIndex = 0): Promise<Map<string, DebugProtocol.Variable>> {
    const frame = (await this.stack())[frameIndex]!;
    const scopes = (await this.dc.scopesRequest({ frameId: frame.id })).body.scopes;
    const s = scopes.find((x) => x.name === name);
    assert.ok(s, `no scope ${name} in ${scopes.map((x) => x.name).join(', ')}`);
    const vars = (await this.dc.variablesRequest({ variablesReference: s.variablesReference })).body.variables;
    return new Map(vars.map((v) => [v.name, v]));
  }

  async evaluate(expression: string, frameIndex = 0): Promise<string> {
    const frame = (await this.stack())[frameIndex]!;
    return (await this.dc.evaluateRequest({ expression, frameId: frame.id, context: 'watch' })).body.result;
  }

  async stop(): Promise<void> {
    try {
      await this.dc.disconnectRequest({});
    } catch {
      // the adapter may be gone already
    }
    await this.dc.stop();
  }
}

/**
 * The adapter's processes for recordings under `needle` (a folder): QEMU replay processes whose
 * command line mentions it, and gdb processes whose environment names such a bundle (the adapter
 * sets REWIND_BUNDLE for its gdb).
 */
export async function processesOf(needle: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = (await fs.readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').join(' ');
      if (cmd.includes('qemu-system') && cmd.includes(needle)) out.push(`${name}: ${cmd.slice(0, 120)}`);
      else if (/(^|\/)gdb /.test(cmd)) {
        const env = (await fs.readFile(`/proc/${name}/environ`, 'utf8')).split('\0');
        if (env.some((e) => e.startsWith('REWIND_BUNDLE=') && e.includes(needle))) out.push(`${name}: ${cmd.slice(0, 120)}`);
      }
    } catch {
      // gone
    }
  }
  return out;
}

/** Waits until none of the adapter's processes is left (they exit shortly after disconnect), else fails. */
export async function assertNoLeftovers(needle: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let left = await processesOf(needle);
  while (left.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    left = await processesOf(needle);
  }
  assert.deepEqual(left, [], 'processes left behind');
}
