/**
 * The recorded guest under debug: a bridge session (time travel, events, snapshots), a gdb relay
 * over that session on a private Unix socket, and gdb (symbols, stacks, expressions) connected to
 * the relay. gdb always sees the session's current time point: moves made through gdb (continue,
 * forward steps, reverse-continue, reverse-stepi) reach the bridge through the relay; moves the
 * adapter makes on the bridge directly (seek, the fast reverse steps) are followed by resync(),
 * which drops gdb's caches of registers, frames and memory.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import {
  BridgeClient,
  BridgeRequestError,
  startBridge,
  type RunningBridge,
  Bundle,
  type Manifest,
  vmlinuxMismatch,
  BridgeRelayTarget,
  GdbRelay,
  type RelayExecutionEvent,
  elfBuildId,
  formatAddress,
  type TimePoint,
} from '@rewind/core';
import type { BridgeStop, OpenResult, PositionResult, RewindRecordingReach } from '@rewind/protocol';
import { AdapterError, ErrorId } from './errors';
import { parseFrameJson, type FrameInfo } from './frame-info';
import { GDB_PYTHON_HELPERS } from './gdb-python';
import { runGdbSetup } from './gdb-setup';
import { kaslrOffsetAtLaunch, kaslrSymbolCommands } from './kaslr';
import { Gdb, miQuote } from './mi/gdb';
import type { MiTuple } from './mi/parser';
import type { FilteredBreakpoint } from './reverse-stepping';
import type { CommonConfig } from './launch-config';

export interface DebuggeeOptions extends CommonConfig {
  /** Trace lines (gdb traffic, relay diagnostics) when tracing. */
  log: (line: string) => void;
  onRelayExecution?: (e: RelayExecutionEvent) => void;
}

export type BridgeTarget =
  | { kind: 'local'; bundle: string }
  | { kind: 'remote'; client: BridgeClient; recording: string; address: string; token?: string };

export class Debuggee {
  private disposed?: Promise<void>;

  /** With KASLR on: the kernel's offset from the vmlinux's link addresses (the symbols are loaded there). */
  kaslrOffset?: bigint;

  private constructor(
    readonly client: BridgeClient,
    readonly sessionId: string,
    readonly opened: OpenResult,
    readonly gdb: Gdb,
    private readonly relay: GdbRelay,
    private readonly dir: string,
    private readonly bridge: RunningBridge | undefined,
    /** The bundle's manifest, when the bundle is on this machine. */
    readonly manifest: Manifest | undefined,
    /** The main symbol file. */
    readonly symbolFile: string,
    /** How another client (the language server) reaches this recording: the bridge, its token, the bundle there. */
    readonly reach: RewindRecordingReach,
  ) {}

  /** Opens a recording (through a private in-process bridge, or a bridge already running) and starts gdb on it. */
  static async open(target: BridgeTarget, opts: DebuggeeOptions): Promise<Debuggee> {
    const dir = await fs.mkdtemp(join(tmpdir(), 'rewind-dap-'));
    await fs.chmod(dir, 0o700);
    const cleanup: Array<() => Promise<unknown> | void> = [() => fs.rm(dir, { recursive: true, force: true })];
    const undo = async () => {
      for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => undefined);
    };
    try {
      let bridge: RunningBridge | undefined;
      let client: BridgeClient;
      let bundlePath: string;
      let manifest: Manifest | undefined;
      let address: string;
      let token: string | undefined;
      if (target.kind === 'local') {
        const bundle = await Bundle.open(target.bundle);
        manifest = bundle.manifest;
        bridge = await startBridge({ root: dirname(bundle.dir), socket: join(dir, 'bridge.sock'), log: quietLog(opts) });
        cleanup.push(() => bridge!.close());
        client = await BridgeClient.connect(bridge.address, undefined, { client: 'rewind-dap' });
        cleanup.push(() => client.dispose());
        bundlePath = basename(bundle.dir);
        address = formatAddress(bridge.address);
      } else {
        client = target.client;
        cleanup.push(() => client.dispose());
        bundlePath = target.recording;
        address = target.address;
        token = target.token;
      }
      const opened = await client.open(bundlePath);
      // A bridge on this machine: the bundle (and its kernel, for symbols) is readable here too.
      if (!manifest) {
        const local = await Bundle.open(opened.path).then((b) => b.manifest, () => undefined);
        if (local?.guest.kernel.sha256 === opened.kernel.sha256) manifest = local;
      }
      const symbolFile = await chooseSymbols(opts.symbols, manifest, opened, target.kind === 'local' ? target.bundle : opened.path);
      // KASLR on: where the kernel runs, before gdb reads the symbols (breakpoints resolve with them).
      const kaslrOffset = await kaslrOffsetAtLaunch(client, opened.sessionId, opened.end, manifest, symbolFile);

      const relay = new GdbRelay(new BridgeRelayTarget(client, opened.sessionId), {
        log: opts.log,
        ...(opts.onRelayExecution ? { onExecution: opts.onRelayExecution } : {}),
      });
      const relaySocket = await relay.listenUnix(join(dir, 'gdb.sock'));
      cleanup.push(() => relay.close());

      // REWIND_BUNDLE in gdb's environment tells whose gdb it is (diagnostics, leak checks in tests).
      const gdb = await Gdb.start({
        ...(opts.gdbPath ? { gdbPath: opts.gdbPath } : {}),
        env: { ...process.env, REWIND_BUNDLE: opened.path },
        ...(opts.trace ? { log: opts.log } : {}),
      });
      cleanup.push(() => gdb.dispose());
      await gdb.send(`-file-exec-and-symbols ${miQuote(symbolFile)}`);
      if (kaslrOffset) for (const command of kaslrSymbolCommands(symbolFile, kaslrOffset)) await gdb.console(command);
      for (const extra of (opts.symbols ?? []).slice(1)) await gdb.console(`add-symbol-file ${extra}`);
      for (const [from, to] of opts.sourceMap) await gdb.console(`set substitute-path ${from} ${to}`);
      // A reverse continue answers after as long as it takes; reads may wait for a replay process to be rebuilt.
      await gdb.console('set remotetimeout 60');
      const helpers = join(dir, 'rewind.py');
      await fs.writeFile(helpers, GDB_PYTHON_HELPERS, { mode: 0o600 });
      await gdb.console(`source ${helpers}`);
      await gdb.send(`-target-select remote ${relaySocket}`); // a private path without spaces; gdb takes quotes literally here
      await runGdbSetup(gdb, opts, (text) => opts.log(text.trimEnd()));
      const reach: RewindRecordingReach = { bridge: address, ...(token !== undefined ? { token } : {}), recording: opened.path, symbols: [symbolFile, ...(opts.symbols ?? []).slice(1)], sourceMap: opts.sourceMap };
      const d = new Debuggee(client, opened.sessionId, opened, gdb, relay, dir, bridge, manifest, symbolFile, reach);
      if (kaslrOffset !== undefined) d.kaslrOffset = kaslrOffset;
      return d;
    } catch (e) {
      await undo();
      throw e;
    }
  }

  get end(): TimePoint {
    return this.opened.end;
  }

  position(): Promise<PositionResult> {
    return this.client.position(this.sessionId);
  }

  /** Drops gdb's idea of the present after a move it did not make itself. */
  async resync(): Promise<void> {
    await this.gdb.console('maintenance flush register-cache');
    await this.gdb.console('maintenance flush dcache');
  }

  async seek(icount: TimePoint): Promise<TimePoint> {
    const r = await this.client.seek(this.sessionId, icount);
    await this.resync();
    return r.icount;
  }

  /** One instruction back on the bridge; false at the start of the recording. */
  async reverseStepi(): Promise<boolean> {
    const before = (await this.position()).icount;
    if (before === 0) return false;
    await this.client.reverseStepi(this.sessionId);
    await this.resync();
    return true;
  }

  /** Forward on the bridge to the first of some frame-filtered breakpoints, at most to `until`. */
  async continueTo(bps: FilteredBreakpoint[], until: TimePoint, signal?: AbortSignal): Promise<BridgeStop> {
    try {
      return await this.client.continue(this.sessionId, {
        breakpoints: bps.map((b) => ({ address: b.address, ...(b.stack ? { stack: b.stack } : {}) })),
        until,
        ...(signal ? { signal } : {}),
      });
    } finally {
      await this.resync();
    }
  }

  /** The innermost frame (or `level`) as gdb's Python helper sees it. */
  async frame(level = 0, thread?: number): Promise<FrameInfo> {
    if (thread !== undefined) await this.gdb.send(`-thread-select ${thread}`);
    return parseFrameJson(await this.gdb.console(`rewind-frame-json ${level}`));
  }

  /**
   * Runs a gdb execution command (e.g. `-exec-continue --reverse`) and resolves with its
   * `*stopped` record. `signal` interrupts it (gdb's -exec-interrupt, which the relay turns into
   * an interrupt or a cancelled reverse continue).
   */
  async exec(command: string, signal?: AbortSignal, onRunning?: () => void): Promise<MiTuple> {
    const stopped = this.gdb.nextStop();
    const onAbort = () => void this.gdb.interrupt().catch(() => undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.gdb.send(command);
      onRunning?.();
      if (signal?.aborted) onAbort();
      return await stopped;
    } catch (e) {
      stopped.catch(() => undefined);
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Kills gdb, closes the relay and the bridge session (its replay processes), and removes the private folder. */
  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      await this.gdb.dispose().catch(() => undefined);
      await this.relay.close().catch(() => undefined);
      await this.client.close(this.sessionId).catch(() => undefined);
      this.client.dispose();
      await this.bridge?.close().catch(() => undefined);
      await fs.rm(this.dir, { recursive: true, force: true });
    })();
    return this.disposed;
  }

  /** Process ids of gdb and the replay processes: for tests and diagnostics. */
  get gdbPid(): number | undefined {
    return this.gdb.pid;
  }
}

/** The bridge's own request log goes nowhere unless tracing: the adapter's stdout is the DAP stream. */
function quietLog(opts: DebuggeeOptions): NodeJS.WritableStream {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (opts.trace) opts.log(`bridge: ${chunk.toString().trimEnd()}`);
      cb();
    },
  });
}

/**
 * The main symbol file: the user's first `symbols` entry, or the kernel recorded in the bundle when
 * it is an ELF. A user's ELF must match the recorded kernel's build-id when both have one.
 */
async function chooseSymbols(symbols: string[] | undefined, manifest: Manifest | undefined, opened: OpenResult, bundle: string): Promise<string> {
  if (symbols && symbols.length > 0) {
    const elf = symbols[0]!;
    const recorded = opened.kernel?.buildId ?? manifest?.guest.kernel.buildId;
    const format = opened.kernel?.format ?? manifest?.guest.kernel.format;
    const linuxVersion = opened.kernel?.linuxVersion ?? manifest?.guest.kernel.linuxVersion;
    if (format === 'linux-bzimage' && linuxVersion) {
      // A bzImage has no build-id: its version string must match the vmlinux's linux_banner.
      const why = await vmlinuxMismatch(elf, linuxVersion).catch((e: Error) => `${elf} cannot be read: ${e.message}`);
      if (why) throw new AdapterError(why, ErrorId.badConfig, true);
    }
    if (recorded && format !== 'linux-bzimage') {
      const id = elfBuildId(await fs.readFile(elf));
      if (id && id !== recorded) {
        throw new AdapterError(
          `the symbol file ${elf} (build-id ${id}) is not the kernel that was recorded (build-id ${recorded}); ` +
            'source lines and variables would be wrong. Remove "symbols" to use the recorded kernel, or point it at the matching ELF.',
          ErrorId.badConfig,
          true,
        );
      }
    }
    return elf;
  }
  if (!manifest) {
    throw new AdapterError(`the recording ${bundle} is not on this machine, so its kernel cannot be used for symbols: set "symbols" to the guest kernel's ELF file`, ErrorId.badConfig, true);
  }
  if (manifest.guest.kernel.format === 'linux-bzimage') {
    throw new AdapterError(
      'this recording is of a Linux bzImage, which has no debug information: set "symbols" to the matching vmlinux (for a Debian kernel, from the linux-image-...-dbg package)',
      ErrorId.badConfig,
      true,
    );
  }
  return join(bundle, manifest.guest.kernel.file);
}

/** True for bridge errors the user can act on (their message says what to do). */
export function isBridgeUserError(e: unknown): e is BridgeRequestError {
  return e instanceof BridgeRequestError && e.rpcCode !== -32603;
}
