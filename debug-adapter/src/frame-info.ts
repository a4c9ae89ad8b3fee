/**
 * What the reverse-stepping logic needs to know about a frame, as gdb's Python helper
 * (`rewind-frame-json`, gdb-python.ts) reports it. Addresses stay bigint here.
 */
export interface LineRange {
  line: number;
  /** First address of the line-table range that holds the pc. */
  start: bigint;
  /** One past its last address. */
  end: bigint;
  file: string;
}

export interface FunctionInfo {
  name: string;
  start: bigint;
  end: bigint;
}

export interface FrameInfo {
  pc: bigint;
  sp: bigint;
  /** Canonical frame address: the stack pointer of the caller before its call. Undefined for the outermost frame. */
  cfa?: bigint;
  callerPc?: bigint;
  /** The frame is an inlined function's (its stack is its containing function's). */
  inline: boolean;
  line?: LineRange;
  /**
   * The innermost function at the pc (an inlined one counts), with its line starts: its own lines'
   * first addresses, and (`inline`, line 0) the first addresses of functions inlined into it.
   */
  function?: FunctionInfo & { lineStarts: Array<{ address: bigint; line: number; inline?: boolean }> };
  /** In an inlined function: the line of its call site in the function it was inlined into. */
  callSiteLine?: number;
  /** The real (not inlined) function that holds the pc; `recursive`: it calls itself directly. */
  realFunction?: FunctionInfo & { recursive: boolean };
}

interface FrameJson {
  pc: string;
  sp: string;
  cfa?: string;
  callerPc?: string;
  inline: boolean;
  line?: { line: number; start: string; end: string; file: string };
  function?: { name: string; start: string; end: string; lineStarts: Array<[string, number, string?]> };
  callSiteLine?: number;
  realFunction?: { name: string; start: string; end: string; recursive?: boolean };
}

/** Parses the JSON line `rewind-frame-json` prints. */
export function parseFrameJson(text: string): FrameInfo {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`gdb's frame helper printed no JSON: ${text.trim().slice(0, 200)}`);
  const j = JSON.parse(line) as FrameJson;
  const big = (s: string) => BigInt(s);
  // A caller's stack pointer at or below this frame's is no CFA (gdb unwound garbage, e.g. 0 at the
  // bottom of an interrupt stack): treated as unknown, which sends steps out to gdb's own commands.
  const cfa = j.cfa !== undefined && big(j.cfa) > big(j.sp) ? big(j.cfa) : undefined;
  return {
    pc: big(j.pc),
    sp: big(j.sp),
    ...(cfa !== undefined ? { cfa } : {}),
    ...(j.callerPc !== undefined ? { callerPc: big(j.callerPc) } : {}),
    inline: j.inline,
    ...(j.callSiteLine !== undefined ? { callSiteLine: j.callSiteLine } : {}),
    ...(j.line ? { line: { line: j.line.line, start: big(j.line.start), end: big(j.line.end), file: j.line.file } } : {}),
    ...(j.function
      ? {
          function: {
            name: j.function.name,
            start: big(j.function.start),
            end: big(j.function.end),
            lineStarts: j.function.lineStarts.map(([a, l, kind]) => ({ address: big(a), line: l, ...(kind === 'inline' ? { inline: true } : {}) })),
          },
        }
      : {}),
    ...(j.realFunction ? { realFunction: { name: j.realFunction.name, start: big(j.realFunction.start), end: big(j.realFunction.end), recursive: j.realFunction.recursive !== false } } : {}),
  };
}

/** Two frame descriptions are the same activation: same CFA and the same real function. */
export function sameActivation(a: FrameInfo, b: FrameInfo): boolean {
  return a.cfa !== undefined && a.cfa === b.cfa && a.realFunction?.start === b.realFunction?.start;
}
