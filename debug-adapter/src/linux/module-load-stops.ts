/**
 * Breakpoints that follow a module through the recording (issue 14). gdb knows a module's code
 * only while its symbols are loaded, and the adapter loads them for the time point it stops at
 * (module-symbols.ts). A continue that crosses a load would run past a breakpoint in the module,
 * still pending (or still at the addresses of another load), so, as the kernel's lx-symbols does
 * live, the adapter stops gdb where the module list changes, swaps the symbols there, and goes on
 * in the same direction:
 * - `do_init_module` (forward: the module is in the list with its sections placed, its init not run);
 * - `free_module` (reverse: the module is still in the list, its exit has run before that point).
 * Armed only while a breakpoint needs it (pending, or in a loaded module's code), so that moves
 * elsewhere pay nothing; never during steps.
 */
import { breakDelete, breakInsert } from '../mi/commands';
import type { Gdb } from '../mi/gdb';

/** Where the kernel's module list changes, in the order tried (the first found of each pair is used). */
const LOAD_FUNCTIONS = ['do_init_module'];
const UNLOAD_FUNCTIONS = ['free_module'];

export class ModuleLoadStops {
  private numbers: number[] = [];
  private missing = false;

  constructor(
    private readonly gdb: Gdb,
    private readonly log: (line: string) => void,
  ) {}

  /** Whether gdb's breakpoint `n` is one of these stops (the adapter then refreshes the modules and resumes). */
  owns(n: number): boolean {
    return this.numbers.includes(n);
  }

  /** Before a move: armed when `needed` (a breakpoint waits for a module's code or follows it), removed otherwise. */
  async prepare(needed: boolean): Promise<void> {
    if (needed === (this.numbers.length > 0) || (needed && this.missing)) return;
    if (!needed) {
      const numbers = this.numbers;
      this.numbers = [];
      await breakDelete(this.gdb, numbers);
      return;
    }
    for (const names of [LOAD_FUNCTIONS, UNLOAD_FUNCTIONS]) {
      const n = await this.insertFirst(names);
      if (n !== undefined) this.numbers.push(n);
    }
    if (this.numbers.length < 2) {
      this.missing = true;
      this.log(`Rewind: this kernel has no ${[...LOAD_FUNCTIONS, ...UNLOAD_FUNCTIONS].join(' or ')}: a continue may pass a breakpoint in a module loaded or unloaded on the way (it applies from the next stop on)`);
    }
  }

  private async insertFirst(names: string[]): Promise<number | undefined> {
    for (const name of names) {
      const b = await breakInsert(this.gdb, name).catch(() => undefined);
      if (b) return b.number;
    }
    return undefined;
  }
}
