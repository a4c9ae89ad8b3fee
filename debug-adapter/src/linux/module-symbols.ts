/**
 * Linux module symbols at every time point (issue 14): after every move the adapter reads the
 * kernel's module list there (linux-modules-python.ts) and swaps gdb's symbol files to match, so a
 * module's code shows with its functions and source lines while it is loaded, at the addresses of
 * that load, and as `??` before it is loaded and after it is gone. Each load is a module of its own
 * (`name@0xTEXT`): the same .ko loaded again elsewhere gets its symbols at the new addresses.
 *
 * The .ko is searched for by the module's name (`-` and `_` alike, as the kernel does) in the
 * launch's `moduleFolders` (e.g. the user's build tree), then /usr/lib/debug/lib/modules/RELEASE
 * (Debian's linux-image-RELEASE-dbg) and /lib/modules/RELEASE, and used only when its GNU build-id
 * equals the one the loaded module's note holds in memory (without that note: when its vermagic
 * names the recorded kernel's release). gdb loads it with `add-symbol-file` at the addresses of
 * every section the kernel put it at (/sys/module/NAME/sections), as lx-symbols does live.
 */
import { promises as fs, type Dirent } from 'node:fs';
import { basename, join } from 'node:path';
import { elfBuildId } from '@rewind/core';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { Gdb } from '../mi/gdb';
import { runJson } from './linux-kernel';

/** A module in the kernel's list at a time point, as linux-modules-python.ts reads it. */
export interface LoadedModule {
  name: string;
  /** enum module_state: 0 live, 1 coming (its init runs), 2 going. */
  state: number;
  /** Where its code and data were put (core_layout), and how many bytes. */
  base: string;
  size: number;
  /** Section name -> address (hex), as /sys/module/NAME/sections shows them. */
  sections: Record<string, string>;
  /** The GNU build-id of its loaded .note.gnu.build-id (hex). */
  buildId?: string;
}

/** A loaded module and what gdb has of it. */
export interface ModuleState extends LoadedModule {
  /** `name@0xTEXT`: a load of its own. */
  id: string;
  /** The .ko whose symbols gdb has at this load's addresses. */
  file?: string;
  /** Why gdb has none (no .ko found, none matches). */
  why?: string;
}

interface ModuleListing {
  linux: boolean;
  release?: string;
  modules?: LoadedModule[];
  error?: string;
}

/** A search walks at most this many entries (a folder given by mistake, e.g. `/`, ends). */
const MAX_ENTRIES = 200_000;

export class ModuleSymbols {
  private readonly modules = new Map<string, ModuleState>();
  private release?: string;
  private files?: Promise<Map<string, string[]>>;
  private readonly buildIds = new Map<string, { buildId?: string; vermagic?: string }>();
  private readonly toldMissing = new Set<string>();

  constructor(
    private readonly gdb: Gdb,
    private readonly folders: readonly string[],
    private readonly log: (line: string) => void,
  ) {}

  /** The modules loaded at the time point of the last refresh, in the kernel's list order (newest first). */
  get current(): ModuleState[] {
    return [...this.modules.values()];
  }

  /** Where the loaded modules' code and data lie. */
  ranges(): Array<{ start: bigint; end: bigint }> {
    return this.current.map((m) => ({ start: BigInt(m.base), end: BigInt(m.base) + BigInt(m.size) }));
  }

  /**
   * Reads the module list at the current time point and swaps gdb's module symbol files to match;
   * returns the loads that came and went. Where the list cannot be read (early boot, user mode
   * under page-table isolation) nothing changes: the symbols of the last readable point stay.
   */
  async refresh(signal?: AbortSignal): Promise<{ added: ModuleState[]; removed: ModuleState[] }> {
    const listing = await runJson<ModuleListing>(this.gdb, 'rewind-linux-modules', signal);
    if (!listing.linux || !listing.modules) return { added: [], removed: [] };
    this.release ??= listing.release;
    const now = new Map<string, LoadedModule>();
    for (const m of listing.modules) if (m.sections['.text']) now.set(`${m.name}@${m.sections['.text']}`, m);
    const removed = [...this.modules.values()].filter((m) => !now.has(m.id));
    for (const m of removed) {
      this.modules.delete(m.id);
      if (m.file) await this.gdb.console(`remove-symbol-file -a ${m.sections['.text']}`).catch((e: Error) => this.log(`Rewind: gdb kept the symbols of ${m.id}: ${e.message}`));
    }
    const added: ModuleState[] = [];
    for (const [id, m] of now) {
      if (this.modules.has(id)) continue;
      let found = await this.symbolFileOf(m);
      // A .ko gdb refuses is told once, as one without symbols (not tried again at every stop).
      if (found.file) {
        try {
          await this.gdb.console(addSymbolFileCommand(found.file, m.sections));
        } catch (e) {
          found = { why: `gdb refused ${found.file}: ${(e as Error).message}` };
        }
      }
      const state: ModuleState = { ...m, id, ...found };
      if (!found.file && !this.toldMissing.has(m.name)) {
        this.toldMissing.add(m.name);
        this.log(`Rewind: no symbols for module ${m.name}: ${found.why}. Its code shows as ?? (add its build folder to "moduleFolders")`);
      }
      this.modules.set(id, state);
      added.push(state);
    }
    // The kernel's order, for the views: newest load first.
    const order = [...now.keys()];
    const sorted = [...this.modules.values()].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
    this.modules.clear();
    for (const m of sorted) this.modules.set(m.id, m);
    return { added, removed };
  }

  /** Where the .ko of a module is searched, in order. */
  searched(): string[] {
    const release = this.release ? [`/usr/lib/debug/lib/modules/${this.release}`, `/lib/modules/${this.release}`] : [];
    return [...new Set([...this.folders, ...release])];
  }

  private async symbolFileOf(m: LoadedModule): Promise<{ file?: string; why?: string }> {
    this.files ??= findKoFiles(this.searched());
    const candidates = (await this.files).get(moduleKey(m.name)) ?? [];
    if (candidates.length === 0) return { why: `no ${m.name}.ko in ${this.searched().join(', ') || 'any folder (none given)'}` };
    const rejected: string[] = [];
    for (const path of candidates) {
      const facts = await this.factsOf(path);
      if (m.buildId !== undefined ? facts.buildId === m.buildId : this.release !== undefined && facts.vermagic?.split(' ')[0] === this.release) return { file: path };
      rejected.push(m.buildId !== undefined ? `${path} has build-id ${facts.buildId ?? 'none'}` : `${path} has vermagic "${facts.vermagic ?? 'none'}"`);
    }
    const wanted = m.buildId !== undefined ? `build-id ${m.buildId}` : `vermagic of release ${this.release ?? '(unknown)'}`;
    return { why: `no ${m.name}.ko with the loaded module's ${wanted} (${rejected.join('; ')})` };
  }

  private async factsOf(path: string): Promise<{ buildId?: string; vermagic?: string }> {
    let facts = this.buildIds.get(path);
    if (!facts) {
      const data = await fs.readFile(path).catch(() => undefined);
      const buildId = data && elfBuildId(data);
      const vermagic = data && vermagicOf(data);
      facts = { ...(buildId ? { buildId } : {}), ...(vermagic ? { vermagic } : {}) };
      this.buildIds.set(path, facts);
    }
    return facts;
  }
}

/** A module load as DAP shows it: its name, the .ko (when gdb has its symbols), the range of its code and data. */
export function dapModule(m: ModuleState): DebugProtocol.Module {
  const base = BigInt(m.base);
  return {
    id: m.id,
    name: m.name,
    ...(m.file ? { path: m.file, symbolFilePath: m.file, symbolStatus: 'Symbols loaded.' } : { symbolStatus: `No symbols: ${m.why ?? 'no .ko found'}` }),
    addressRange: `0x${base.toString(16)}-0x${(base + BigInt(m.size)).toString(16)}`,
    ...(m.buildId ? { version: `build-id ${m.buildId}` } : {}),
  };
}

/** gdb's add-symbol-file for a .ko at a load's section addresses (.text first, as gdb wants it). */
export function addSymbolFileCommand(file: string, sections: Record<string, string>): string {
  // gdb splits the arguments as a shell would (gdb_buildargv): a path with spaces goes in quotes.
  const quoted = `"${file.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  const others = Object.entries(sections).filter(([name, address]) => name !== '.text' && /^0x[0-9a-f]+$/i.test(address) && BigInt(address) !== 0n && !/\s/.test(name));
  return [`add-symbol-file ${quoted} ${sections['.text']}`, ...others.map(([name, address]) => `-s ${name} ${address}`)].join(' ');
}

/** A module's name as the kernel compares them: `-` and `_` alike. */
export function moduleKey(name: string): string {
  return name.replace(/-/g, '_');
}

/** The vermagic in a .ko's .modinfo ("6.1.0-57-cloud-amd64 SMP preempt mod_unload modversions"). */
export function vermagicOf(data: Buffer): string | undefined {
  const at = data.indexOf('\0vermagic=');
  if (at < 0) return undefined;
  const end = data.indexOf(0, at + 10);
  return data.toString('latin1', at + 10, end < 0 ? undefined : end);
}

/** Every *.ko under the folders (symbolic links to folders not followed), by module key. */
async function findKoFiles(folders: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  let entries = 0;
  const walk = async (dir: string): Promise<void> => {
    let list: Dirent[];
    try {
      list = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of list) {
      if (++entries > MAX_ENTRIES) return;
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if ((e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.ko')) {
        const key = moduleKey(basename(e.name, '.ko'));
        out.set(key, [...(out.get(key) ?? []), path]);
      }
    }
  };
  for (const f of folders) await walk(f);
  return out;
}
