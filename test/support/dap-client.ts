/**
 * The DAP client of the tests, the benchmarks and the demo story: @vscode/debugadapter-testsupport's
 * DebugClient running the real adapter (`node dist/dap.js`, what `rewind dap` runs) with the real
 * engine. It waits for the stop that follows an execution request (timed, and checked to come after
 * the request's response), reads stacks and variables as text, sends Rewind's custom requests typed
 * from RewindDapRequests, and makes sure the adapter process is gone when it stops.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { RewindDapCommand, RewindDapRequests, RewindEventsChangedEvent, RewindPosition } from '@rewind/protocol';
import { ROOT } from '../helpers';
import { waitGoneOrKill, waitUntil } from './procs';

export const DAP_ENTRY = join(ROOT, 'dist', 'dap.js');

/** A stop, described as a test reads it. */
export interface Stop {
  reason: string;
  description?: string;
  text?: string;
  position: RewindPosition;
  /** "function file:line" of every frame, innermost first. */
  frames: string[];
  /** The frames themselves, innermost first. */
  stack: DebugProtocol.StackFrame[];
}

/** The stop that ended an execution request, and the seconds from sending the request to it. */
export interface Stopped {
  event: DebugProtocol.StoppedEvent;
  seconds: number;
}

export interface DapClientOptions {
  /** How long a request or an awaited event may take (default 120 s). */
  timeoutMs?: number;
}

const trafficName = (m: DebugProtocol.ProtocolMessage) => (m.type === 'event' ? (m as DebugProtocol.Event).event : m.type);

export class RewindDapClient {
  readonly dc: DebugClient;
  /** The text of every output event. */
  readonly output: string[] = [];
  readonly events: DebugProtocol.Event[] = [];
  /** Every message from the adapter, in arrival order (to check that responses precede their stops). */
  readonly received: DebugProtocol.ProtocolMessage[] = [];
  /** The messages of the last run(), by name ("response", "continued", "stopped", ...): its request's, and what followed until the stop was described. */
  lastTraffic: string[] = [];
  private stopped?: Promise<void>;
  /** The end of what the adapter wrote to stderr (a crash's message), for a failure to show. */
  private stderr = '';

  constructor(opts: DapClientOptions = {}) {
    this.dc = new DebugClient('node', DAP_ENTRY, 'rewind', { cwd: ROOT }, false);
    this.dc.defaultTimeout = opts.timeoutMs ?? 120_000;
    // DebugClient keeps no record of what it received: wrap its (private) dispatch.
    const client = this.dc as unknown as { dispatch(body: string): void };
    const dispatch = client.dispatch.bind(this.dc);
    client.dispatch = (body: string) => {
      this.received.push(JSON.parse(body) as DebugProtocol.ProtocolMessage);
      dispatch(body);
    };
  }

  /** The adapter's process id (while it runs). */
  get pid(): number | undefined {
    return (this.dc as unknown as { _adapterProcess?: { pid?: number } | null })._adapterProcess?.pid;
  }

  /** Starts the adapter and initializes the session; returns its capabilities. */
  async start(init: Partial<DebugProtocol.InitializeRequestArguments> = {}): Promise<DebugProtocol.Capabilities> {
    await this.dc.start();
    (this.dc as unknown as { _adapterProcess?: ChildProcess | null })._adapterProcess?.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.dc.on('output', (e: DebugProtocol.OutputEvent) => this.output.push(e.body.output));
    for (const name of ['stopped', 'continued', 'invalidated', 'rewind/positionChanged', 'rewind/eventsChanged', 'progressStart', 'progressUpdate', 'progressEnd']) {
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

  /** Every rewind/eventsChanged body received so far, in order. */
  eventsChanges(): RewindEventsChangedEvent[] {
    return this.events.filter((e) => e.event === 'rewind/eventsChanged').map((e) => e.body as RewindEventsChangedEvent);
  }

  /**
   * Waits until a rewind/eventsChanged after the first `since` says the kernel-event scan is `state`
   * (a 'failed' one ends the wait too); returns those after the first `since`, in order.
   */
  async kernelScanReaches(state: 'partial' | 'done' | 'failed', timeoutMs: number, since = 0): Promise<RewindEventsChangedEvent[]> {
    const bodies = () => this.eventsChanges().slice(since);
    const ended = await waitUntil(() => bodies().some((b) => b.kernelScan === state || b.kernelScan === 'failed'), timeoutMs, 100);
    assert.ok(ended, `no rewind/eventsChanged with kernelScan '${state}' within ${timeoutMs / 1000} s (got: ${JSON.stringify(bodies().map((b) => b.kernelScan))})`);
    return bodies();
  }

  /** launch + configurationDone, then the first stop. */
  launch(args: Record<string, unknown>, before?: () => Promise<void>): Promise<Stop> {
    return this.launchOrAttach('launch', args, before);
  }

  /** launch or attach, `before` (breakpoints, ...), configurationDone, then the first stop. */
  async launchOrAttach(request: 'launch' | 'attach', args: Record<string, unknown>, before?: () => Promise<void>): Promise<Stop> {
    const initialized = this.dc.waitForEvent('initialized');
    initialized.catch(() => undefined); // moot when the request fails
    if (request === 'launch') await this.dc.launchRequest(args as DebugProtocol.LaunchRequestArguments);
    else await this.dc.attachRequest(args as DebugProtocol.AttachRequestArguments);
    await initialized;
    if (before) await before();
    return this.run(() => this.dc.configurationDoneRequest());
  }

  /** Sends an execution request and waits for the stop after it, described; the response must come first. */
  async run(send: () => Promise<unknown>): Promise<Stop> {
    const { event, from } = await this.stopAfter(send);
    const described = await this.describe(event);
    // Up to the answers describe() asked for: whatever the adapter sent after the stop has arrived.
    this.lastTraffic = this.received.slice(from).map(trafficName);
    return described;
  }

  /**
   * Sends an execution request and waits for the stop after it (timed), then for the
   * rewind/positionChanged the adapter sends once it is done with the move.
   */
  async move(send: () => Promise<unknown>): Promise<Stopped> {
    const settled = this.dc.waitForEvent('rewind/positionChanged');
    settled.catch(() => undefined); // reported below, or moot when the request fails
    const { event, seconds } = await this.stopAfter(send);
    await settled;
    return { event, seconds };
  }

  private async stopAfter(send: () => Promise<unknown>): Promise<Stopped & { from: number }> {
    const from = this.received.length;
    const stopped = this.dc.waitForEvent('stopped');
    stopped.catch(() => undefined); // reported below, or moot when the request fails
    const t0 = process.hrtime.bigint();
    await send();
    const event = (await stopped) as DebugProtocol.StoppedEvent;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const after = this.received.slice(from);
    const response = after.findIndex((m) => m.type === 'response');
    const stop = after.findIndex((m) => trafficName(m) === 'stopped');
    assert.ok(response >= 0 && response < stop, `the response must precede the stopped event: ${after.map(trafficName).join(', ')}`);
    return { event, seconds, from };
  }

  async describe(e: DebugProtocol.StoppedEvent): Promise<Stop> {
    const position = await this.position();
    const stack = await this.stack();
    return { reason: e.body.reason, ...(e.body.description ? { description: e.body.description } : {}), ...(e.body.text ? { text: e.body.text } : {}), position, frames: stack.map(frameText), stack };
  }

  /** One of Rewind's custom requests (docs/debug-adapter.md), typed by its command. */
  custom<C extends RewindDapCommand>(command: C, args: RewindDapRequests[C]['args']): Promise<RewindDapRequests[C]['body']> {
    return this.dc.customRequest(command, args).then((r) => r.body as RewindDapRequests[C]['body']);
  }

  position(): Promise<RewindPosition> {
    return this.custom('rewind/position', {});
  }

  async stack(): Promise<DebugProtocol.StackFrame[]> {
    return (await this.dc.stackTraceRequest({ threadId: 1, startFrame: 0, levels: 20 })).body.stackFrames;
  }

  /** "function file:line" of every frame, innermost first. */
  async frames(): Promise<string[]> {
    return (await this.stack()).map(frameText);
  }

  /** name -> value of a scope of a frame ("Locals", "Arguments", "Registers"). */
  async scope(name: string, frameIndex = 0): Promise<Map<string, DebugProtocol.Variable>> {
    const frame = (await this.stack())[frameIndex]!;
    const scopes = (await this.dc.scopesRequest({ frameId: frame.id })).body.scopes;
    const s = scopes.find((x) => x.name === name);
    assert.ok(s, `no scope ${name} in ${scopes.map((x) => x.name).join(', ')}`);
    const vars = (await this.dc.variablesRequest({ variablesReference: s.variablesReference })).body.variables;
    return new Map(vars.map((v) => [v.name, v]));
  }

  /** A C expression in a frame's scope (the global scope when there is no such frame). */
  async evaluate(expression: string, frameIndex = 0): Promise<string> {
    const frame = (await this.stack())[frameIndex];
    return (await this.dc.evaluateRequest({ expression, context: 'watch', ...(frame ? { frameId: frame.id } : {}) })).body.result;
  }

  /** Disconnects (the adapter then stops gdb and its replay processes) and makes sure the adapter exited; once. */
  stop(): Promise<void> {
    this.stopped ??= this.disconnect();
    return this.stopped;
  }

  private async disconnect(): Promise<void> {
    const pid = this.pid;
    const proc = (this.dc as unknown as { _adapterProcess?: ChildProcess | null })._adapterProcess;
    const running = !!proc && proc.exitCode === null && proc.signalCode === null;
    // An adapter that exits without answering would leave the request pending with nothing to wait
    // on (DebugClient's requests have no timeout): the test run would end with "Promise resolution
    // is still pending" and cancel every later test. Say what happened instead.
    const exited = new Promise<string>((resolve) => {
      if (running) proc.once('exit', (code, signal) => resolve(`the adapter exited (code ${code}, signal ${signal}) without answering disconnect`));
    });
    const answered = this.dc.disconnectRequest({}).then(
      () => undefined,
      () => undefined, // the adapter may be gone already
    );
    const why = await Promise.race([answered, exited]);
    if (why !== undefined) throw new Error(`${why}${this.stderrTail()}`);
    // Not DebugClient.stop(): it sends a second disconnect, which the adapter, exiting 100 ms after
    // it answered the first, may never answer; on a loaded machine that left the test awaiting a
    // promise with nothing to wait on, and cancelled every later test (CI run R).
    if (pid !== undefined) await waitGoneOrKill(pid, 10_000);
    (this.dc as unknown as { stopAdapter(): void }).stopAdapter();
  }

  private stderrTail(): string {
    return this.stderr ? `; its stderr ends with:\n${this.stderr}` : '';
  }
}

function frameText(f: DebugProtocol.StackFrame): string {
  return `${f.name} ${f.source?.name ?? '?'}:${f.line}`;
}
