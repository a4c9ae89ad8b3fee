import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { constants as fsConstants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import type { StopReason } from '../bundle/manifest';
import type { ReplayEvent } from '../replay-log';
import { CancelledError, UserError } from '../errors';
import { QmpClient, type QmpEvent } from '../qemu/qmp';
import { killGroup, spawnGuarded, waitForExit } from '../util/processes';
import { ConsoleTranscript } from './console';
import type { InputStep } from './input-script';
import { LINUX_PANIC_TEXT } from './linux-defaults';
import type { RecordOptions, RecordProgress } from './types';

/*
 * A running guest (QEMU with its QMP connection and serial console) and the loop that drives it
 * while it is recorded: input, snapshots, progress, and the stop conditions.
 */

export const DEFAULT_SNAPSHOT_EVERY = 200_000_000;

/**
 * The default --max-log. Indexing a log takes about 15 bytes of memory per log byte (a log is
 * mostly checkpoint events of about 6 bytes each), so 128 MiB needs about 2 GB: what Node.js allows
 * by default on most machines. A normally running Linux guest writes about 0.5 MB a second; one
 * spinning after a panic, about 12 MB a second (measured).
 */
export const DEFAULT_MAX_LOG_BYTES = 128 * 2 ** 20;

/** The default --max-log here: DEFAULT_MAX_LOG_BYTES, less where Node.js may use less memory (finalize.ts checks the same bound). */
export function defaultMaxLogBytes(): number {
  return Math.min(DEFAULT_MAX_LOG_BYTES, Math.floor((getHeapStatistics().heap_size_limit * 0.8) / INDEX_BYTES_PER_LOG_BYTE / 2 ** 20) * 2 ** 20);
}

/**
 * Memory that indexing a log takes, per log byte: a log is mostly checkpoint events of about 6
 * bytes, each of which becomes an object in the index (measured: 1.55 GB of heap for 100 MiB).
 */
export const INDEX_BYTES_PER_LOG_BYTE = 16;

// Snapshots are due by icount, which is only known by asking QEMU: ask often (guests run ~5e8/s).
const TICK_MS = 25;
const LOG_WATCH_MS = 50;
const PROGRESS_MS = 100;
const SNAPSHOT_ATTEMPTS = 50;
const SNAPSHOT_RETRY_MS = 5;
const ECHO_TIMEOUT_MS = 3000;
const PACED_BYTE_MS = 50;

/**
 * A started QEMU with its QMP connection and serial console. The console is a pair of FIFOs
 * (QEMU's `pipe` chardev), not a socket: QEMU records the result of every console write, and a
 * write that fails with EAGAIN (a Unix socket's send buffer fills after about 200 one-byte writes
 * the reader has not yet taken) is retried by a host timer that replay cannot reproduce, which
 * made recordings unreplayable ("Missing character write event"). A pipe holds 64 KiB of bytes.
 */
export class GuestSession {
  readonly console = new ConsoleTranscript();
  stderr = '';
  readonly events: QmpEvent[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly qmp: QmpClient,
    /** Bytes typed into the guest's serial port. */
    readonly input: Socket,
    private readonly output: Socket,
  ) {}

  /** `consoleBase`: the FIFOs BASE.in and BASE.out must exist (see consoleFifos). */
  static async start(binary: string, argv: string[], sockets: string, consoleBase: string): Promise<GuestSession> {
    // Opened read-write, so that neither open waits for QEMU, before QEMU starts, so that no
    // output is lost.
    const mode = fsConstants.O_RDWR | fsConstants.O_NONBLOCK;
    const output = new Socket({ fd: openSync(`${consoleBase}.out`, mode), readable: true, writable: false });
    const input = new Socket({ fd: openSync(`${consoleBase}.in`, mode), readable: false, writable: true });
    output.on('error', () => undefined);
    input.on('error', () => undefined);
    const child = spawnGuarded(binary, argv);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8192);
    });
    const exited = waitForExit(child);
    const failEarly = (what: string) =>
      exited.then(({ code }) => {
        throw new UserError(`QEMU exited (code ${code}) before ${what}: ${lastLine(stderr) || 'no message'}`, 'qemu-failed');
      });
    try {
      const qmp = await Promise.race([QmpClient.connect(join(sockets, 'qmp.sock')), failEarly('its QMP socket opened')]);
      const s = new GuestSession(child, qmp, input, output);
      s.stderr = stderr;
      child.stderr!.on('data', (d: Buffer) => {
        s.stderr = (s.stderr + d.toString()).slice(-8192);
      });
      qmp.on('event', (e: QmpEvent) => s.events.push(e));
      output.on('data', (chunk: Buffer) => s.onConsole(chunk));
      return s;
    } catch (e) {
      killGroup(child);
      input.destroy();
      output.destroy();
      throw e;
    }
  }

  /** Reads what is still in the console pipe, then closes both ends. */
  async closeConsole(): Promise<void> {
    await new Promise((r) => setTimeout(r, 20));
    this.input.destroy();
    this.output.destroy();
  }

  private onConsole(chunk: Buffer): void {
    const lines = this.console.append(chunk);
    if (lines.length === 0 || this.qmp.isClosed) return;
    this.qmp.icount().then(
      (icount) => {
        for (const l of lines) l.icount = icount;
      },
      () => undefined,
    );
  }
}

function lastLine(s: string): string {
  return s.trim().split('\n').pop()?.trim() ?? '';
}

export interface RunOutcome {
  stopReason: StopReason;
  stopDetail?: string;
  warnings: string[];
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
}

/** Drives one running guest: input, snapshots, progress, and the stop conditions. */
export class RecordingRun {
  private stopReason?: StopReason;
  private stopDetail?: string;
  private stopping = false;
  private readonly warnings: string[] = [];
  private icount = 0;
  private logBytes = 0;
  private snapshotCount = 1; // the initial snapshot
  private lastSnapshotIcount = 0;
  private snapshotBusy = false;
  private lastProgressMs = 0;
  private startMs = Date.now();
  private readonly inputAbort = new AbortController();

  constructor(
    private readonly session: GuestSession,
    private readonly opts: Omit<RecordOptions, 'out'>,
    private readonly steps: InputStep[],
    private readonly rawLog: string | undefined,
  ) {}

  progress(): RecordProgress {
    return {
      phase: this.stopping ? 'stopping' : 'recording',
      elapsedMs: Date.now() - this.startMs,
      icount: this.icount,
      logBytes: this.logBytes,
      snapshots: this.snapshotCount,
      consoleTail: this.session.console.tail(3),
    };
  }

  async run(): Promise<RunOutcome> {
    const { session, opts } = this;
    const exited = waitForExit(session.child);
    const startedAt = new Date().toISOString();
    this.startMs = Date.now();
    try {
      await session.qmp.execute('cont');
    } catch (e) {
      killGroup(session.child);
      await exited;
      throw new UserError(`QEMU did not start the guest (${(e as Error).message}): ${lastLine(session.stderr) || 'no message'}`, 'qemu-failed');
    }
    const onAbort = () => this.requestStop('cancelled', 'cancelled by the user');
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort);
    const onData = opts.stopOn ? () => this.checkStopOn() : undefined;
    if (onData) {
      session.console.on('data', onData);
      onData(); // output that arrived while the guest was being started
    }
    const timer = opts.timeoutSeconds ? setTimeout(() => this.requestStop('timeout', `after ${opts.timeoutSeconds} s`), opts.timeoutSeconds * 1000) : undefined;

    const ticker = this.tickLoop(exited);
    const logWatch = this.watchLog();
    const input = this.runInput().catch((e: unknown) => {
      if (e instanceof CancelledError || this.stopping) return;
      const msg = e instanceof UserError ? e.message : String(e);
      this.warnings.push(msg);
      this.requestStop('input-failed', msg);
    });

    const { code } = await exited;
    const finishedAt = new Date().toISOString();
    const wallSeconds = (Date.now() - this.startMs) / 1000;
    this.inputAbort.abort();
    session.console.close();
    if (timer) clearTimeout(timer);
    if (logWatch) clearInterval(logWatch);
    if (this.rawLog) this.logBytes = await fs.stat(this.rawLog).then((st) => st.size, () => this.logBytes);
    opts.signal?.removeEventListener('abort', onAbort);
    if (onData) session.console.removeListener('data', onData);
    await Promise.all([ticker, input]);
    // The SHUTDOWN event of a guest power-off can still be unread when the exit is noticed (seen on
    // a loaded machine: a power-off judged 'qemu-exited'); QEMU has exited, so its socket ends soon.
    await session.qmp.whenClosed(5000);
    session.qmp.close();
    await session.closeConsole();
    session.console.finish(this.icount);

    const panic = panicLine(session.console.raw);
    if (!this.stopReason) {
      const shutdown = session.events.find((e) => e.event === 'SHUTDOWN');
      const reboot = code === 0 ? rebootAfterPanic(panic) : undefined;
      if (shutdown && shutdown.data?.guest === true) {
        ({ stopReason: this.stopReason, stopDetail: this.stopDetail } = guestStop(String(shutdown.data.reason ?? 'guest-shutdown'), panic));
      } else if (reboot) {
        ({ stopReason: this.stopReason, stopDetail: this.stopDetail } = reboot);
      } else {
        this.stopReason = 'qemu-exited';
        this.stopDetail = `QEMU exited with code ${code}: ${lastLine(session.stderr) || 'no message'}`;
      }
    } else if (panic && (this.stopReason === 'timeout' || this.stopReason === 'log-limit')) {
      this.stopDetail = `${this.stopDetail ?? this.stopReason}; the guest had panicked (${panic}) and was spinning`;
    }
    return {
      stopReason: this.stopReason,
      ...(this.stopDetail ? { stopDetail: this.stopDetail } : {}),
      warnings: this.warnings,
      startedAt,
      finishedAt,
      wallSeconds,
    };
  }

  /** Stops the guest through QMP `quit`, which lets QEMU close the replay log properly. */
  requestStop(reason: StopReason, detail?: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.stopReason = reason;
    if (detail) this.stopDetail = detail;
    this.inputAbort.abort();
    const { child, qmp } = this.session;
    const kill = setTimeout(() => {
      this.warnings.push('QEMU did not quit within 20 s and was killed; the end of the log may be missing');
      killGroup(child);
    }, 20_000);
    void waitForExit(child).then(() => clearTimeout(kill));
    qmp.execute('quit').catch(() => undefined);
  }

  private checkStopOn(): void {
    const text = this.opts.stopOn!;
    const raw = this.session.console.raw;
    if (raw.indexOf(text, Math.max(0, raw.length - 4096 - text.length)) >= 0) this.requestStop('stop-on', `the console printed "${text}"`);
  }

  /**
   * Watches the log's size on a timer of its own, without QEMU's help, so that a guest flooding the
   * log is stopped even while a QMP command or a snapshot keeps the tick loop waiting.
   */
  private watchLog(): NodeJS.Timeout | undefined {
    const rawLog = this.rawLog;
    if (!rawLog) return undefined;
    const maxLog = this.opts.maxLogBytes ?? defaultMaxLogBytes();
    let busy = false;
    return setInterval(() => {
      if (busy) return;
      busy = true;
      fs.stat(rawLog).then(
        (st) => {
          busy = false;
          this.logBytes = st.size;
          if (maxLog > 0 && st.size >= maxLog && !this.stopping) {
            this.requestStop('log-limit', `the replay log reached ${mib(st.size)}, the limit (--max-log ${mib(maxLog)})`);
          }
        },
        () => (busy = false),
      );
    }, LOG_WATCH_MS);
  }

  private async tickLoop(exited: Promise<unknown>): Promise<void> {
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
      await this.tick();
      await Promise.race([sleep(TICK_MS), exited]);
    }
  }

  private async tick(): Promise<void> {
    const { qmp } = this.session;
    try {
      this.icount = await qmp.icount();
    } catch {
      return;
    }
    const every = this.opts.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
    if (every > 0 && !this.stopping && !this.snapshotBusy && this.icount - this.lastSnapshotIcount >= every) {
      this.snapshotBusy = true;
      await this.takeSnapshot().finally(() => (this.snapshotBusy = false));
    }
    if (Date.now() - this.lastProgressMs >= PROGRESS_MS) {
      this.lastProgressMs = Date.now();
      this.opts.onProgress?.(this.progress());
    }
  }

  /**
   * savevm is refused while record/replay has queued asynchronous events (they are flushed at the
   * next checkpoint, within milliseconds), so it is retried quickly for a while.
   */
  private async takeSnapshot(): Promise<void> {
    const { qmp } = this.session;
    const name = `s${this.snapshotCount}`;
    for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS && !this.stopping; attempt++) {
      let out: string;
      try {
        out = await qmp.hmp(`savevm ${name}`);
      } catch {
        return; // QEMU is going away
      }
      if (!/error/i.test(out)) {
        this.snapshotCount++;
        this.lastSnapshotIcount = await qmp.icount().catch(() => this.icount);
        return;
      }
      if (!/does not allow making snapshot right now/.test(out)) {
        this.warnings.push(`snapshot ${name} failed: ${out.trim()}`);
        return;
      }
      await sleep(SNAPSHOT_RETRY_MS);
    }
  }

  private async runInput(): Promise<void> {
    const signal = this.inputAbort.signal;
    const con = this.session.console;
    const file = this.opts.input ?? 'input';
    let cursor = 0;
    for (const step of this.steps) {
      if (signal.aborted) return;
      if (step.op === 'expect') {
        const timeoutS = this.opts.expectTimeoutSeconds ?? 120;
        cursor = await con.waitFor(step.text, cursor, {
          timeoutMs: timeoutS * 1000,
          signal,
          onTimeout: () => new UserError(`${file}:${step.line}: the console did not print "${step.text}" within ${timeoutS} s`, 'input-timeout'),
        });
      } else if (step.op === 'sleep') {
        await sleep(step.seconds * 1000, undefined, { signal }).catch(() => {
          throw new CancelledError('recording input');
        });
      } else {
        await this.send(step.text, step.line, signal);
      }
    }
  }

  /**
   * Types text one byte at a time, waiting for the guest to echo each byte before the next.
   * Sending faster can stall QEMU's record mode once the 16-byte UART FIFO is full. A byte with no
   * echo (a guest that does not echo, a password prompt) falls back to a fixed pace for the rest
   * of this `send`.
   */
  private async send(text: string, line: number, signal: AbortSignal): Promise<void> {
    const con = this.session.console;
    let paced = false;
    for (const ch of Buffer.from(text, 'latin1')) {
      if (signal.aborted) throw new CancelledError('recording input');
      const mark = con.length;
      this.session.input.write(Buffer.from([ch]));
      const echo = ch === 0x0a || ch === 0x0d ? '\n' : ch >= 0x20 && ch < 0x7f ? String.fromCharCode(ch) : undefined;
      if (paced || echo === undefined) {
        await sleep(PACED_BYTE_MS, undefined, { signal }).catch(() => {
          throw new CancelledError('recording input');
        });
        continue;
      }
      try {
        await con.waitFor(echo, mark, { timeoutMs: ECHO_TIMEOUT_MS, signal, onTimeout: () => new Error('no echo') });
      } catch (e) {
        if (e instanceof CancelledError || signal.aborted) throw new CancelledError('recording input');
        paced = true;
        this.warnings.push(`${this.opts.input ?? 'input'}:${line}: the guest did not echo input byte 0x${ch.toString(16)} within ${ECHO_TIMEOUT_MS / 1000} s; the rest of that line was sent ${PACED_BYTE_MS} ms a byte`);
      }
    }
  }
}

function mib(bytes: number): string {
  return `${Math.round((bytes / 2 ** 20) * 10) / 10} MiB`;
}

/** Shutdown causes of the guest's own making (qapi ShutdownCause), as the replay log names them. */
const GUEST_CAUSES = new Set(['guest-shutdown', 'guest-reset', 'guest-panic']);

/**
 * The guest's power-off, reset or panic as the replay log holds it, when QMP's SHUTDOWN event was
 * lost: QEMU can exit before its monitor writes the event out (seen on a loaded machine, a reboot
 * after a panic judged 'qemu-exited' even after waiting for the socket to end). The log's shutdown
 * event is written by the same request, so a recording that QEMU ended for one says so.
 */
export function guestStopFromLog(events: readonly ReplayEvent[], consoleRaw: string): { stopReason: 'guest-poweroff'; stopDetail: string } | undefined {
  const cause = events.find((e) => e.kind === 'shutdown' && GUEST_CAUSES.has(e.detail ?? ''))?.detail;
  return cause ? guestStop(cause, panicLine(consoleRaw)) : undefined;
}

/**
 * A clean exit (code 0) that Rewind did not ask for, after a kernel panic, without QMP's SHUTDOWN
 * event: the guest's reboot after the panic (`panic=N`; -no-reboot makes it the end). QEMU can
 * exit before its monitor writes the event out (CI run M: the module fixture's sysrq crash), and
 * the replay log cannot say it either: QEMU 7.2's qemu_system_reset_request() sets the shutdown
 * request without replay_shutdown_request(), so the log holds only replay_finish()'s host-signal.
 */
export function rebootAfterPanic(panic: string | undefined): { stopReason: 'guest-poweroff'; stopDetail: string } | undefined {
  return panic ? guestStop('guest-reset', panic) : undefined;
}

/** A recording the guest ended (QMP SHUTDOWN or the log's shutdown event): its cause, and the panic before it. */
function guestStop(cause: string, panic: string | undefined): { stopReason: 'guest-poweroff'; stopDetail: string } {
  return { stopReason: 'guest-poweroff', stopDetail: panic ? `${cause} after a kernel panic (${panic})` : cause };
}

/** The first `Kernel panic - not syncing: ...` line of a Linux console, if the guest panicked. */
export function panicLine(raw: string): string | undefined {
  const at = raw.indexOf(LINUX_PANIC_TEXT);
  if (at < 0) return undefined;
  const end = raw.indexOf('\n', at);
  return raw.slice(at, end < 0 ? undefined : end).replace(/[\x00-\x1f\x7f]/g, '').trim().slice(0, 200);
}
