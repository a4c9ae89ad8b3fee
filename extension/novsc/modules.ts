/**
 * The Modules view's model: DAP `modules` as rows, each load with the address of its code and
 * what gdb has of it. Never imports `vscode` (unit tests load it).
 */
import type { DebugProtocol } from '@vscode/debugprotocol';

export interface ModuleRow {
  id: string;
  label: string;
  description: string;
  tooltip: string;
  /** Whether gdb has its symbols (its code shows with functions and lines). */
  symbols: boolean;
}

export function moduleRows(modules: DebugProtocol.Module[]): ModuleRow[] {
  return modules.map((m) => {
    const symbols = m.symbolStatus === 'Symbols loaded.';
    const start = m.addressRange?.split('-')[0];
    return {
      id: `module-${m.id}`,
      label: m.name,
      description: `${start ?? ''}${symbols ? '' : ' · no symbols'}`.trim(),
      tooltip: [`${m.name}${m.addressRange ? ` at ${m.addressRange}` : ''}`, m.symbolStatus, m.path, m.version].filter((x): x is string => !!x).join('\n'),
      symbols,
    };
  });
}

/** The view's message: how many, at which time point, or why there are none. */
export function modulesSummary(modules: DebugProtocol.Module[], icount: number | undefined): string {
  const at = icount !== undefined ? ` at icount ${icount}` : '';
  if (modules.length === 0) return `No loadable modules${at} (a Linux guest's show here while they are loaded)`;
  const without = modules.filter((m) => m.symbolStatus !== 'Symbols loaded.').length;
  return `${modules.length} module${modules.length === 1 ? '' : 's'}${at}${without ? `; ${without} without symbols: add their build folders to "moduleFolders"` : ''}`;
}
