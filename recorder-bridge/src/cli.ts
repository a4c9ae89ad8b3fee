import { defaultBundleName } from './record/bundle-name';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Bundle } from './bundle/reader';
import { CancelledError, isUserError, UserError } from './errors';
import { type BridgeListeningJson, type CheckJson, type EventsJson, BRIDGE_PROTOCOL_VERSION } from '@rewind/protocol';
import { parseRecordOptions } from './record/options';
import { record } from './record/recorder';
import { formatIcount, parseIcount } from './timepoint';
import { REWIND_VERSION } from './version';
import { EVENT_KINDS, type ReplayEvent } from './replay-log';
import { formatBytes, formatInfo, formatEvent, infoJson } from './cli-format';
import { replayCheck } from './replay/check';
import { verifyBundleSnapshots } from './replay/snapshot-verify';
import { closeOnSignals, startBridge } from './bridge';
import { ReplayEngine, replayEnd } from './replay/engine';
import { kaslrOffsetOfBundle } from './replay/kaslr-offset';
import { kaslrOn } from './record/linux-defaults';
import { EngineRelayTarget, GdbRelay } from './gdb/relay';
import { isLoopback } from './util/loopback';
import { COMMAND_NAMES, commandHelp, overview, wantsHelp } from './cli-help';
import { handleBrokenPipes, pipeBroken } from './cli-pipes';
import { salvage } from './record/salvage';
import { progressPrinter, salvageProgressPrinter } from './cli-progress';
import { formatIndexRun, runIndexPass } from './cli-index';
import { indexStatus, replayEndOf } from './index/index-store';
import type { IndexInfoJson } from '@rewind/protocol';

type Handler = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, Handler> = {
  record: cmdRecord,
  info: cmdInfo,
  events: cmdEvents,
  check: cmdCheck,
  index: cmdIndex,
  salvage: cmdSalvage,
  replay: cmdReplay,
  bridge: cmdBridge,
  dap: cmdDap,
  lsp: cmdLsp,
};

/** The command being run, for messages that point to its help. */
let currentCommand = '';

/** Entry point of the `rewind` command: returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  handleBrokenPipes();
  const [cmd, ...rest] = argv;
  if (!cmd) {
    process.stderr.write(overview() + '\n');
    return 2;
  }
  if (cmd === 'help' || cmd === '--help' || cmd === '-h') {
    const topic = cmd === 'help' ? rest[0] : undefined;
    if (topic === undefined) {
      process.stdout.write(overview() + '\n');
      return 0;
    }
    const help = commandHelp(topic);
    if (help === undefined) {
      process.stderr.write(`rewind: there is no command "${topic}"; the commands are ${COMMAND_NAMES.join(', ')}\n`);
      return 2;
    }
    process.stdout.write(help + '\n');
    return 0;
  }
  if (cmd === '--version' || cmd === 'version') {
    process.stdout.write(REWIND_VERSION + '\n');
    return 0;
  }
  const handler = COMMANDS[cmd];
  if (!handler) {
    process.stderr.write(`rewind: unknown command "${cmd}"; the commands are ${COMMAND_NAMES.join(', ')} (rewind help)\n`);
    return 2;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(commandHelp(cmd)! + '\n');
    return 0;
  }
  currentCommand = cmd;
  try {
    const code = await handler(rest);
    return pipeBroken() ? 0 : code;
  } catch (e) {
    // The reader went away and the command stopped (cli-pipes.ts): nothing more to say.
    if (pipeBroken()) return 0;
    if (isUserError(e)) {
      process.stderr.write(`rewind: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof CancelledError) {
      process.stderr.write(`rewind: ${e.message}\n`);
      return 130;
    }
    throw e;
  }
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals: boolean) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UserError(`${(e as Error).message.split('\n')[0]}; run \`rewind ${currentCommand} --help\``, 'bad-option');
  }
}

function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UserError(`--${name} needs a non-negative number, got "${value}"`, 'bad-option');
  return n;
}

async function cmdRecord(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      kernel: { type: 'string' },
      linux: { type: 'boolean' },
      initrd: { type: 'string' },
      append: { type: 'string' },
      'no-linux-defaults': { type: 'boolean' },
      kaslr: { type: 'boolean' },
      disk: { type: 'string' },
      'max-log': { type: 'string' },
      memory: { type: 'string' },
      input: { type: 'string' },
      out: { type: 'string' },
      timeout: { type: 'string' },
      'stop-on': { type: 'string' },
      'snapshot-every': { type: 'string' },
      'expect-timeout': { type: 'string' },
      quiet: { type: 'boolean' },
      json: { type: 'boolean' },
      'no-index': { type: 'boolean' },
    },
    true,
  );
  const kernel = values.kernel ?? positionals[0];
  if (!kernel) throw new UserError('record needs a kernel: rewind record --kernel FILE', 'bad-option');
  if (positionals.length > (values.kernel ? 0 : 1)) throw new UserError(`unexpected argument "${positionals[values.kernel ? 0 : 1]}"; run \`rewind record --help\``, 'bad-option');
  const options = parseRecordOptions(
    {
      kernel,
      initrd: values.initrd,
      append: values.append,
      input: values.input,
      stopOn: values['stop-on'],
      timeout: values.timeout,
      memory: values.memory,
      snapshotEvery: values['snapshot-every'],
      out: values.out ?? defaultBundleName(kernel),
      ...(values.linux ? { linux: true } : {}),
      // --no-linux-defaults: given, the defaults are off.
      ...(values['no-linux-defaults'] ? { linuxDefaults: false } : {}),
      ...(values.kaslr ? { kaslr: true } : {}),
      disk: values.disk,
      maxLog: values['max-log'],
      expectTimeout: values['expect-timeout'],
    },
    'cli',
  );
  const controller = new AbortController();
  let interrupts = 0;
  // A second Ctrl-C skips the rest of the snapshot verification (checked on first open instead).
  const finish = new AbortController();
  // Once the bundle is made: Ctrl-C stops the index pass.
  let indexing: AbortController | undefined;
  const onSigint = () => {
    if (indexing) {
      if (!indexing.signal.aborted) process.stderr.write('\nrewind: stopping the index pass (finished slices are kept)...\n');
      indexing.abort();
      return;
    }
    interrupts++;
    if (interrupts === 1) process.stderr.write('\nrewind: stopping the recording (the bundle will be complete)...\n');
    else {
      process.stderr.write('rewind: skipping the rest of the snapshot verification (done on first open instead); finishing the bundle\n');
      finish.abort();
    }
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const progress = values.quiet ? undefined : progressPrinter();
  try {
    const result = await record({
      ...options,
      out: options.out!,
      signal: controller.signal,
      finishSignal: finish.signal,
      ...(progress ? { onProgress: progress.update } : {}),
    });
    progress?.done();
    const bundle = await Bundle.open(result.bundle);
    const warnings = [...result.warnings];
    let index: IndexInfoJson | undefined;
    let cancelled: CancelledError | undefined;
    if (!values['no-index'] && result.stopReason !== 'cancelled') {
      indexing = new AbortController();
      try {
        index = (await runIndexPass(bundle, { signal: indexing.signal, quiet: values.quiet === true })).status;
      } catch (e) {
        // The recording is complete without its index: say why there is none, and go on.
        if (e instanceof CancelledError) cancelled = e;
        else warnings.push(`the index was not built: ${(e as Error).message}; the recording is complete without it (\`rewind index ${bundle.dir}\` tries again)`);
      }
    }
    index ??= await indexStatus(bundle);
    if (values.json) {
      process.stdout.write(JSON.stringify(infoJson(bundle.dir, bundle.manifest, index), null, 2) + '\n');
    } else {
      process.stdout.write(formatInfo(bundle.dir, bundle.manifest, index) + '\n');
    }
    for (const w of warnings) process.stderr.write(`rewind: warning: ${w}\n`);
    if (cancelled) {
      process.stderr.write(`rewind: the recording ${bundle.dir} is complete; ${cancelled.message}\n`);
      return 130;
    }
    if (result.stopReason === 'input-failed') {
      process.stderr.write(`rewind: the input script did not complete (${result.stopDetail}); the recording up to that point is in ${result.bundle}\n`);
      return 1;
    }
    if (result.stopReason === 'log-limit') {
      process.stderr.write(`rewind: stopped early: ${result.stopDetail}; the recording up to that point is in ${result.bundle}. Raise --max-log for a longer recording\n`);
      return 1;
    }
    return 0;
  } finally {
    progress?.done();
    process.removeListener('SIGINT', onSigint);
  }
}

async function cmdInfo(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, verify: { type: 'boolean' }, vmlinux: { type: 'string' } }, true);
  if (positionals.length !== 1) throw new UserError('info needs one bundle: rewind info BUNDLE [--json] [--verify] [--vmlinux FILE]', 'bad-option');
  const bundle = await Bundle.open(positionals[0]!);
  await bundle.verify(values.verify === true);
  // The log is small and the most important file: always check it fully.
  await bundle.readReplayLog();
  const index = await indexStatus(bundle);
  const on = kaslrOn(bundle.manifest.guest);
  if (values.vmlinux !== undefined && on === undefined) throw new UserError('--vmlinux finds the KASLR offset of a Linux recording; this one is not of a bzImage', 'bad-option');
  const kaslr = on === undefined ? undefined : { on, ...(on && values.vmlinux !== undefined ? { offset: await kaslrOffsetOfBundle(bundle.dir, bundle.manifest.guest.kernel.linuxVersion, values.vmlinux) } : {}) };
  if (values.json) process.stdout.write(JSON.stringify(infoJson(bundle.dir, bundle.manifest, index, kaslr), null, 2) + '\n');
  else process.stdout.write(formatInfo(bundle.dir, bundle.manifest, index, kaslr) + '\n');
  return 0;
}

async function cmdIndex(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { bucket: { type: 'string' }, jobs: { type: 'string' }, force: { type: 'boolean' }, quiet: { type: 'boolean' }, 'no-extra-snapshots': { type: 'boolean' } }, true);
  if (positionals.length !== 1) throw new UserError('index needs one bundle: rewind index BUNDLE [--bucket N] [--jobs N] [--force] [--no-extra-snapshots]', 'bad-option');
  let bucket: number | undefined;
  if (values.bucket !== undefined) {
    bucket = parseIcount(values.bucket);
    if (!bucket) throw new UserError(`--bucket needs a positive instruction count such as 1000000 or 4M, got "${values.bucket}"`, 'bad-option');
  }
  const jobs = numberOption(values.jobs, 'jobs');
  if (jobs !== undefined && !(Number.isInteger(jobs) && jobs >= 1)) throw new UserError(`--jobs needs a whole number of replays at a time, 1 or more, got "${values.jobs}"`, 'bad-option');
  const bundle = await Bundle.open(positionals[0]!);
  await bundle.verify();
  const controller = new AbortController();
  const onSigint = () => {
    if (!controller.signal.aborted) process.stderr.write('\nrewind: stopping the index pass (finished slices are kept)...\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const run = await runIndexPass(bundle, {
      signal: controller.signal,
      quiet: values.quiet === true,
      force: values.force === true,
      extraSnapshots: values['no-extra-snapshots'] !== true,
      ...(bucket !== undefined ? { bucket } : {}),
      ...(jobs !== undefined ? { parallelism: jobs } : {}),
    });
    process.stdout.write(formatIndexRun(run, await replayEndOf(bundle)) + '\n');
    return 0;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

async function cmdEvents(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { json: { type: 'boolean' }, kind: { type: 'string', multiple: true }, from: { type: 'string' }, to: { type: 'string' }, limit: { type: 'string' } },
    true,
  );
  if (positionals.length !== 1) throw new UserError('events needs one bundle: rewind events BUNDLE [--json] [--kind K] [--from N --to N]', 'bad-option');
  const icountOption = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const n = parseIcount(v);
    if (n === undefined) throw new UserError(`--${name} needs an instruction count such as 1500000 or 1.5M, got "${v}"`, 'bad-option');
    return n;
  };
  const from = icountOption(values.from, 'from');
  const to = icountOption(values.to, 'to');
  const limit = numberOption(values.limit, 'limit');
  const kinds = values.kind?.flatMap((k) => k.split(',')).filter(Boolean);
  const bundle = await Bundle.open(positionals[0]!);
  const index = await bundle.readIndex();
  if (kinds) {
    const unknown = kinds.filter((k) => !(k in index.counts) && !KNOWN_KINDS.has(k));
    if (unknown.length) throw new UserError(`unknown event kind "${unknown[0]}"; kinds are: ${[...KNOWN_KINDS].join(', ')}`, 'bad-option');
  }
  const kindSet = kinds ? new Set(kinds) : undefined;
  let events: ReplayEvent[] = index.events.filter(
    (e) => (!kindSet || kindSet.has(e.kind)) && (from === undefined || e.icount >= from) && (to === undefined || e.icount <= to),
  );
  if (limit !== undefined) events = events.slice(0, limit);
  if (values.json) {
    const out: EventsJson = {
      schema: 'rewind.events/1',
      bundle: bundle.dir,
      totalIcount: index.totalIcount,
      counts: index.counts,
      filter: { ...(kinds ? { kinds } : {}), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) },
      events,
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  } else {
    const lines = events.map(formatEvent);
    lines.push(`${events.length} of ${index.events.length} events; recording ends at icount ${index.totalIcount}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return 0;
}

const KNOWN_KINDS = new Set<string>(Object.keys(EVENT_KINDS));

async function cmdCheck(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, timeout: { type: 'string' } }, true);
  if (positionals.length !== 1) throw new UserError('check needs one bundle: rewind check BUNDLE', 'bad-option');
  const bundle = await Bundle.open(positionals[0]!);
  await bundle.verify(true);
  const index = await bundle.readIndex();
  if (index.totalIcount !== bundle.manifest.recording.totalIcount) {
    throw new UserError(`${bundle.dir}: the log ends at icount ${index.totalIcount} but the manifest says ${bundle.manifest.recording.totalIcount}; the bundle is damaged`, 'bundle-damaged');
  }
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on('SIGINT', onSigint);
  try {
    const tty = process.stderr.isTTY === true;
    const endIcount = replayEnd(index);
    const r = await replayCheck(bundle, endIcount, {
      ...(values.timeout !== undefined ? { timeoutSeconds: numberOption(values.timeout, 'timeout')! } : {}),
      signal: controller.signal,
      onProgress: (i, total) => {
        if (tty) process.stderr.write(`\r\x1b[Kreplaying ${formatIcount(i)} of ${formatIcount(total)} (${total ? Math.floor((100 * i) / total) : 100}%)`);
      },
    });
    if (tty) process.stderr.write('\r\x1b[K');
    // Every snapshot, started as QEMU's own replay starts one, must reach the next with the same registers.
    const snapshots = await verifyBundleSnapshots(bundle, index, {
      mode: 'qemu',
      signal: controller.signal,
      onProgress: (i, total) => {
        if (tty) process.stderr.write(`\r\x1b[Kchecking snapshots: replayed ${formatIcount(i)} of ${formatIcount(total)}`);
      },
    });
    if (tty) process.stderr.write('\r\x1b[K');
    // QEMU may run a few instructions past the shutdown request before it stops, as it did when recording.
    const reachedEnd = r.icount >= r.endIcount && r.icount <= r.totalIcount;
    const snapshotsOk = snapshots.every((v) => v.verdict === 'ok');
    const ok = reachedEnd && r.consoleMatches && snapshotsOk;
    if (values.json) process.stdout.write(JSON.stringify({ schema: 'rewind.check/1', bundle: bundle.dir, ok, ...r, snapshots } satisfies CheckJson) + '\n');
    else {
      process.stdout.write(
        `files       ok (${Object.keys(bundle.manifest.files).length} files, sha256 verified)\n` +
          `log         ok (${index.events.length} events, ${formatBytes(bundle.manifest.stats.logBytesRaw)})\n` +
          `replay      ${reachedEnd ? 'ok' : 'MISMATCH'}: reached icount ${r.icount}, the recording ends at ${r.endIcount}..${r.totalIcount}, in ${r.wallSeconds.toFixed(1)} s\n` +
          `console     ${r.consoleMatches ? 'ok' : 'MISMATCH'}: the replay printed ${r.consoleBytes} bytes, the recording ${bundle.manifest.files[bundle.manifest.console.raw]?.size ?? '?'}\n` +
          `snapshots   ${snapshotsOk ? 'ok' : 'BAD'}: ${snapshots.filter((v) => v.verdict === 'ok').length} of ${snapshots.length} resume and replay the same machine as the snapshot before them\n` +
          snapshots.map((v) => `  ${v.name.padEnd(8)} @${String(v.icount).padEnd(12)} ${v.verdict === 'ok' ? 'ok' : v.verdict.toUpperCase()}${v.why ? `: ${v.why}` : ''}\n`).join(''),
      );
    }
    return ok ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

async function cmdReplay(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { gdb: { type: 'string' }, host: { type: 'string' }, 'allow-remote': { type: 'boolean' } }, true);
  if (positionals.length !== 1 || values.gdb === undefined) throw new UserError('replay needs a bundle and a port: rewind replay BUNDLE --gdb PORT', 'bad-option');
  const port = Number(values.gdb);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--gdb needs a TCP port number, got "${values.gdb}"`, 'bad-option');
  const host = values.host ?? '127.0.0.1';
  if (!isLoopback(host) && !values['allow-remote']) {
    throw new UserError(`${host} is not a loopback address; the gdb port has no authentication, so add --allow-remote only on a network you trust`, 'bad-option');
  }
  const engine = await ReplayEngine.open(positionals[0]!);
  const relay = new GdbRelay(new EngineRelayTarget(engine), { log: (l) => process.stderr.write(l + '\n') });
  try {
    const addr = await relay.listen(port, host);
    process.stderr.write(
      `rewind: serving ${engine.bundle.dir} (${formatIcount(engine.end)} instructions, ${engine.snapshots().length} snapshots)\n` +
        `rewind: in gdb: file ${engine.bundle.path(engine.bundle.manifest.guest.kernel.file)}\n` +
        `rewind:         target remote ${addr.address}:${addr.port}\n` +
        'rewind: continue, stepi, reverse-stepi, reverse-continue, breakpoints and watchpoints work; Ctrl-C here stops\n',
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    return 0;
  } finally {
    await relay.close();
    await engine.close();
  }
}

async function cmdBridge(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      root: { type: 'string' },
      socket: { type: 'string' },
      listen: { type: 'string' },
      'token-file': { type: 'string' },
      log: { type: 'string' },
      'allow-remote': { type: 'boolean' },
    },
    false,
  );
  void positionals;
  if (!values.root) throw new UserError('bridge needs --root DIR: the directory whose bundles it may open', 'bad-option');
  const bridge = await startBridge({
    root: values.root,
    ...(values.socket !== undefined ? { socket: values.socket } : {}),
    ...(values.listen !== undefined ? { listen: values.listen } : {}),
    ...(values['token-file'] !== undefined ? { tokenFile: values['token-file'] } : {}),
    ...(values.log !== undefined ? { log: values.log } : {}),
    allowRemote: values['allow-remote'] === true,
  });
  const closed = closeOnSignals(bridge);
  const a = bridge.address;
  const listening: BridgeListeningJson = {
    schema: 'rewind.bridge/1',
    ...('socket' in a ? { socket: a.socket } : { host: a.host, port: a.port }),
    protocolVersion: BRIDGE_PROTOCOL_VERSION,
    ...(values['token-file'] !== undefined && bridge.token ? { tokenFile: values['token-file'] } : {}),
  };
  process.stdout.write(JSON.stringify(listening) + '\n');
  if (bridge.token && values['token-file'] === undefined) process.stderr.write(`rewind bridge: token ${bridge.token}\n`);
  await closed;
  return 0;
}

async function cmdSalvage(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { out: { type: 'string' }, json: { type: 'boolean' }, timeout: { type: 'string' }, quiet: { type: 'boolean' } }, true);
  if (positionals.length !== 1) throw new UserError('salvage needs one interrupted recording: rewind salvage OUT.partial [--out DIR]', 'bad-option');
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on('SIGINT', onSigint);
  const progress = values.quiet ? undefined : salvageProgressPrinter();
  try {
    const r = await salvage({
      partial: positionals[0]!,
      ...(values.out !== undefined ? { out: values.out } : {}),
      ...(values.timeout !== undefined ? { timeoutSeconds: numberOption(values.timeout, 'timeout')! } : {}),
      signal: controller.signal,
      ...(progress ? { onProgress: progress.update } : {}),
    });
    progress?.done();
    if (values.json) process.stdout.write(JSON.stringify(infoJson(r.bundle, r.manifest), null, 2) + '\n');
    else process.stdout.write(formatInfo(r.bundle, r.manifest) + '\n');
    const notes = [
      r.logWasComplete ? 'QEMU had finished the log' : `the log ends at icount ${r.totalIcount}, its last complete event (${r.droppedLogBytes} bytes after it dropped)`,
      r.droppedSnapshots.length ? `snapshots dropped: ${r.droppedSnapshots.join(', ')}` : 'no snapshot dropped',
      ...(r.repairedLeaks ? [`${r.repairedLeaks} leaked clusters of the snapshot store repaired (clusters QEMU had allocated but not yet recorded when it died, as in a snapshot save)`] : []),
    ];
    process.stderr.write(`rewind: salvaged ${r.partial} into ${r.bundle}: ${notes.join('; ')}\n`);
    process.stderr.write(`rewind: ${r.partial} was left as it was; remove it once you no longer need it (rewind check ${r.bundle} replays the new bundle)\n`);
    return 0;
  } finally {
    progress?.done();
    process.removeListener('SIGINT', onSigint);
  }
}

/** `rewind dap` runs from bin/rewind.js (the adapter is bundled on its own): only its help is here. */
async function cmdDap(args: string[]): Promise<number> {
  throw new UserError(`rewind dap takes no arguments (got "${args.join(' ')}"); clients start it as \`rewind dap\`: see \`rewind dap --help\``, 'bad-option');
}

/** `rewind lsp` runs from bin/rewind.js too (the language server is bundled on its own). */
async function cmdLsp(args: string[]): Promise<number> {
  throw new UserError(`rewind lsp takes no arguments but --stdio (got "${args.join(' ')}"); editors start it as \`rewind lsp\`: see \`rewind lsp --help\``, 'bad-option');
}
