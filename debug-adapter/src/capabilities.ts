/** What the adapter tells a DAP client it can do (the answer to `initialize`). */
import type { DebugProtocol } from '@vscode/debugprotocol';
import { EXCEPTION_FILTERS } from './breakpoints';

export const CAPABILITIES: DebugProtocol.Capabilities = {
  supportsConfigurationDoneRequest: true,
  supportsStepBack: true,
  supportsConditionalBreakpoints: true,
  supportsHitConditionalBreakpoints: true,
  supportsLogPoints: true,
  supportsFunctionBreakpoints: true,
  supportsInstructionBreakpoints: true,
  supportsDataBreakpoints: true,
  supportsDataBreakpointBytes: true,
  supportsDisassembleRequest: true,
  supportsReadMemoryRequest: true,
  // A recording is history: nothing writes the guest's state (handlers/refused.ts).
  supportsWriteMemoryRequest: false,
  supportsSetVariable: false,
  supportsSetExpression: false,
  supportsGotoTargetsRequest: false,
  supportsSteppingGranularity: true,
  supportsLoadedSourcesRequest: true,
  supportsModulesRequest: true,
  supportsEvaluateForHovers: true,
  supportsCancelRequest: true,
  supportsTerminateRequest: true,
  supportsValueFormattingOptions: true,
  supportsExceptionInfoRequest: true,
  exceptionBreakpointFilters: EXCEPTION_FILTERS,
};
