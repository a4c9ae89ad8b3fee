/**
 * Every request the adapter answers, as one map: command -> its arguments and its response body.
 * DAP's own requests come from @vscode/debugprotocol, Rewind's custom ones from RewindDapRequests
 * (protocol.ts). The handler table is typed from this map, so a handler that takes the wrong
 * arguments or answers the wrong body does not compile.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { RewindAttachArguments, RewindDapRequests, RewindLaunchArguments } from '@rewind/protocol';

/**
 * A response's body; `void` for responses without one (their type inherits Response's
 * `body?: any`, which `0 extends 1 & B` detects: only `any` accepts both).
 */
type BodyOf<R extends DebugProtocol.Response> = 0 extends 1 & R['body'] ? void : R['body'];

/** A DAP request: its arguments and the body of its response. */
interface Standard<A, R extends DebugProtocol.Response> {
  args: A;
  body: BodyOf<R>;
}

/** Requests without arguments. */
type NoArguments = Record<string, never>;

/** The DAP requests the adapter answers. */
export interface DapRequests {
  initialize: Standard<DebugProtocol.InitializeRequestArguments, DebugProtocol.InitializeResponse>;
  launch: Standard<DebugProtocol.LaunchRequestArguments & RewindLaunchArguments, DebugProtocol.LaunchResponse>;
  attach: Standard<DebugProtocol.AttachRequestArguments & RewindAttachArguments, DebugProtocol.AttachResponse>;
  configurationDone: Standard<DebugProtocol.ConfigurationDoneArguments, DebugProtocol.ConfigurationDoneResponse>;
  disconnect: Standard<DebugProtocol.DisconnectArguments, DebugProtocol.DisconnectResponse>;
  terminate: Standard<DebugProtocol.TerminateArguments, DebugProtocol.TerminateResponse>;
  threads: Standard<NoArguments, DebugProtocol.ThreadsResponse>;
  stackTrace: Standard<DebugProtocol.StackTraceArguments, DebugProtocol.StackTraceResponse>;
  scopes: Standard<DebugProtocol.ScopesArguments, DebugProtocol.ScopesResponse>;
  variables: Standard<DebugProtocol.VariablesArguments, DebugProtocol.VariablesResponse>;
  evaluate: Standard<DebugProtocol.EvaluateArguments, DebugProtocol.EvaluateResponse>;
  source: Standard<DebugProtocol.SourceArguments, DebugProtocol.SourceResponse>;
  loadedSources: Standard<DebugProtocol.LoadedSourcesArguments, DebugProtocol.LoadedSourcesResponse>;
  modules: Standard<DebugProtocol.ModulesArguments, DebugProtocol.ModulesResponse>;
  setBreakpoints: Standard<DebugProtocol.SetBreakpointsArguments, DebugProtocol.SetBreakpointsResponse>;
  setFunctionBreakpoints: Standard<DebugProtocol.SetFunctionBreakpointsArguments, DebugProtocol.SetFunctionBreakpointsResponse>;
  setInstructionBreakpoints: Standard<DebugProtocol.SetInstructionBreakpointsArguments, DebugProtocol.SetInstructionBreakpointsResponse>;
  setExceptionBreakpoints: Standard<DebugProtocol.SetExceptionBreakpointsArguments, DebugProtocol.SetExceptionBreakpointsResponse>;
  dataBreakpointInfo: Standard<DebugProtocol.DataBreakpointInfoArguments, DebugProtocol.DataBreakpointInfoResponse>;
  setDataBreakpoints: Standard<DebugProtocol.SetDataBreakpointsArguments, DebugProtocol.SetDataBreakpointsResponse>;
  continue: Standard<DebugProtocol.ContinueArguments, DebugProtocol.ContinueResponse>;
  next: Standard<DebugProtocol.NextArguments, DebugProtocol.NextResponse>;
  stepIn: Standard<DebugProtocol.StepInArguments, DebugProtocol.StepInResponse>;
  stepOut: Standard<DebugProtocol.StepOutArguments, DebugProtocol.StepOutResponse>;
  stepBack: Standard<DebugProtocol.StepBackArguments, DebugProtocol.StepBackResponse>;
  reverseContinue: Standard<DebugProtocol.ReverseContinueArguments, DebugProtocol.ReverseContinueResponse>;
  pause: Standard<DebugProtocol.PauseArguments, DebugProtocol.PauseResponse>;
  cancel: Standard<DebugProtocol.CancelArguments, DebugProtocol.CancelResponse>;
  disassemble: Standard<DebugProtocol.DisassembleArguments, DebugProtocol.DisassembleResponse>;
  exceptionInfo: Standard<DebugProtocol.ExceptionInfoArguments, DebugProtocol.ExceptionInfoResponse>;
  readMemory: Standard<DebugProtocol.ReadMemoryArguments, DebugProtocol.ReadMemoryResponse>;
  setVariable: Standard<DebugProtocol.SetVariableArguments, DebugProtocol.SetVariableResponse>;
  setExpression: Standard<DebugProtocol.SetExpressionArguments, DebugProtocol.SetExpressionResponse>;
  writeMemory: Standard<DebugProtocol.WriteMemoryArguments, DebugProtocol.WriteMemoryResponse>;
  goto: Standard<DebugProtocol.GotoArguments, DebugProtocol.GotoResponse>;
  gotoTargets: Standard<DebugProtocol.GotoTargetsArguments, DebugProtocol.GotoTargetsResponse>;
  restartFrame: Standard<DebugProtocol.RestartFrameArguments, DebugProtocol.RestartFrameResponse>;
}

export type AdapterRequests = DapRequests & RewindDapRequests;
export type Command = keyof AdapterRequests;
export type ArgumentsOf<C extends Command> = AdapterRequests[C]['args'];
export type BodyOfRequest<C extends Command> = AdapterRequests[C]['body'];

/** One request being handled: its response is sent once, when the handler says (moves answer before their stop). */
export interface RequestContext<B = unknown> {
  readonly request: DebugProtocol.Request;
  /** Sends the response now (handlers of execution requests answer before the stop). */
  respond(body?: B): void;
  /** Called once, just before the response goes out (a custom request that moves time sends `continued` there). */
  beforeRespond?: () => void;
  readonly responded: boolean;
}

/** Answers one request: with the body it returns, or by calling ctx.respond earlier (and then returning nothing). */
export type Handler<C extends Command> = (args: ArgumentsOf<C>, ctx: RequestContext<BodyOfRequest<C>>) => Promise<BodyOfRequest<C> | void>;

/** A handler for every request. */
export type HandlerTable = { [C in Command]: Handler<C> };
