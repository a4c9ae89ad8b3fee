/**
 * What VS Code passes to a command run from a context menu, turned into what the command needs.
 * Never imports `vscode`.
 *
 * Shapes (VS Code 1.90+): the Variables view passes {sessionId, container, variable}; the Watch
 * view passes the watch expression, serialized as {sessionId, variable: {name: EXPRESSION, ...}}
 * (a child of a watch: with `evaluateName`); the editor gutter passes {lineNumber, uri}.
 */

interface VariableLike {
  name?: unknown;
  evaluateName?: unknown;
}

/** The C expression of a variable or watch row, or undefined when the argument has none. */
export function expressionFromContext(arg: unknown): string | undefined {
  if (typeof arg !== 'object' || arg === null) return undefined;
  const a = arg as { variable?: VariableLike; expression?: unknown } & VariableLike;
  const v = a.variable ?? a;
  for (const candidate of [v.evaluateName, v.name, a.expression]) {
    if (typeof candidate === 'string' && candidate.trim() !== '') return candidate.trim();
  }
  return undefined;
}

/** The line (1-based) of a gutter context-menu argument ({lineNumber, uri}), if it has one. */
export function lineFromContext(arg: unknown): number | undefined {
  if (typeof arg !== 'object' || arg === null) return undefined;
  const n = (arg as { lineNumber?: unknown }).lineNumber;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
}
