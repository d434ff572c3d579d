/**
 * The A2A JSON-RPC exchange of one dispatch (SPEC 12.2), pure: the `SendMessage` / `message/send`
 * request for a wire version, and the mapping of the agent's answer to a HandlerResult. 1.0 is the
 * SDK's proto-JSON (`role: "ROLE_USER"`, parts `{text}`, results `{task}` | `{message}`, states
 * `TASK_STATE_*`); 0.3 is the JSON-Schema dialect (`kind` discriminators, `role: "user"`, lower-case
 * states). Answers are read leniently across both, and a task's state keeps the agent's spelling.
 */
import type { Role } from "@a2a-js/sdk";
import { z } from "zod";
import type { A2aFollow, HandlerResult } from "../contracts/dispatch";
import type { TriggerEvent } from "../contracts/events";
import { parseRetryAfter } from "../dispatch/retry-policy";
import type { A2aWireVersion } from "./a2a-card";
import { type AttemptContext, dispatchEnvelope } from "./envelope";

/** JSON-RPC method per wire version; the SDK rejects a method paired with the other version's header. */
export const SEND_MESSAGE_METHOD: Record<A2aWireVersion, string> = { "1.0": "SendMessage", "0.3": "message/send" };

const USER_ROLE_V1: keyof typeof Role = "ROLE_USER";

export interface SendMessageRequest {
  method: string;
  /** Headers the A2A exchange adds to the transport ones (content type, user agent, traceparent). */
  headers: Record<string, string>;
  body: {
    jsonrpc: "2.0";
    id: string;
    method: string;
    params: { message: Record<string, unknown> };
  };
}

/** Stable across attempts (SPEC 12.2) so an agent can recognise a redelivered dispatch. */
export function a2aMessageId(ctx: Pick<AttemptContext, "trace_id" | "event_id">): string {
  return `${ctx.trace_id}.${ctx.event_id}`;
}

/**
 * The JSON-RPC request of one dispatch: a user message in context `trace_id` whose single text part is
 * the dispatch envelope as JSON.
 */
export function buildSendMessageRequest(
  version: A2aWireVersion,
  ctx: AttemptContext,
  event: TriggerEvent,
): SendMessageRequest {
  const messageId = a2aMessageId(ctx);
  const text = JSON.stringify(dispatchEnvelope(ctx, event));
  const message =
    version === "1.0"
      ? { messageId, contextId: ctx.trace_id, role: USER_ROLE_V1, parts: [{ text }] }
      : { kind: "message", messageId, contextId: ctx.trace_id, role: "user", parts: [{ kind: "text", text }] };
  const method = SEND_MESSAGE_METHOD[version];
  return {
    method,
    headers: { "A2A-Version": version, "A2A-Trace-Id": ctx.trace_id },
    body: { jsonrpc: "2.0", id: messageId, method, params: { message } },
  };
}

// ---- reading the answer -----------------------------------------------------------------------

const partSchema = z.object({
  kind: z.string().optional(),
  type: z.string().optional(),
  text: z.string().optional(),
  data: z.unknown().optional(),
});

const messageSchema = z.object({
  kind: z.string().optional(),
  messageId: z.string().optional(),
  role: z.string().optional(),
  parts: z.array(z.unknown()).optional(),
});
type WireMessage = z.infer<typeof messageSchema>;

const taskSchema = z.object({
  kind: z.string().optional(),
  id: z.string().optional(),
  status: z.object({ state: z.string().optional(), message: z.unknown().optional() }).optional(),
  history: z.array(z.unknown()).optional(),
  artifacts: z.array(z.object({ parts: z.array(z.unknown()).optional() })).optional(),
});
type WireTask = z.infer<typeof taskSchema>;

const rpcResponseSchema = z.object({
  result: z.unknown().optional(),
  error: z.object({ code: z.number().optional(), message: z.string().optional() }).nullish(),
});

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Text parts joined, parsed as JSON when that parses; else the last data part; else undefined. */
function partsContent(parts: unknown[] | undefined): { found: boolean; value: unknown } {
  const texts: string[] = [];
  let data: { found: boolean; value: unknown } = { found: false, value: undefined };
  for (const raw of parts ?? []) {
    const part = partSchema.safeParse(raw);
    if (!part.success) continue;
    const kind = part.data.kind ?? part.data.type;
    if (typeof part.data.text === "string" && (kind === undefined || kind === "text")) texts.push(part.data.text);
    else if (part.data.data !== undefined && (kind === undefined || kind === "data")) {
      data = { found: true, value: part.data.data };
    }
  }
  if (texts.length > 0) return { found: true, value: parseTextResult(texts.join("")) };
  return data;
}

/** SPEC 12.2: the agent's text, parsed as JSON when it parses, else the text itself. */
export function parseTextResult(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === "") return text;
  try {
    return JSON.parse(trimmed);
  } catch {
    return text;
  }
}

function isAgentMessage(message: WireMessage): boolean {
  const role = message.role?.toLowerCase();
  return role === "agent" || role === "role_agent";
}

function messageText(raw: unknown): string | null {
  const message = messageSchema.safeParse(raw);
  if (!message.success) return null;
  const texts = (message.data.parts ?? []).flatMap((p) => {
    const part = partSchema.safeParse(p);
    return part.success && typeof part.data.text === "string" ? [part.data.text] : [];
  });
  return texts.length > 0 ? texts.join("") : null;
}

/**
 * Inline result of a completed task (SPEC 12.2): the text of its artifacts when it has any (their
 * text parts joined, else the newest data part), else the last agent message's content (the status
 * message, then the history from newest), else null.
 */
export function completedTaskResult(task: WireTask): unknown {
  const artifactParts = (task.artifacts ?? []).flatMap((artifact) => artifact.parts ?? []);
  const fromArtifacts = partsContent(artifactParts);
  if (fromArtifacts.found) return fromArtifacts.value;
  const messages = [task.status?.message, ...[...(task.history ?? [])].reverse()];
  for (const raw of messages) {
    const message = messageSchema.safeParse(raw);
    if (!message.success || !isAgentMessage(message.data)) continue;
    const content = partsContent(message.data.parts);
    if (content.found) return content.value;
  }
  return null;
}

/** Task states in one spelling: 0.3's lower-case names (`TASK_STATE_INPUT_REQUIRED` → `input-required`). */
export type TaskPhase =
  | "submitted"
  | "working"
  | "completed"
  | "failed"
  | "rejected"
  | "canceled"
  | "input-required"
  | "auth-required"
  | "unknown";

const PHASES: readonly TaskPhase[] = [
  "submitted",
  "working",
  "completed",
  "failed",
  "rejected",
  "canceled",
  "input-required",
  "auth-required",
];

export function taskPhase(state: string): TaskPhase {
  const plain = state
    .toLowerCase()
    .replace(/^task_state_/, "")
    .replaceAll("_", "-");
  const spelled = plain === "cancelled" ? "canceled" : plain;
  return (PHASES as readonly string[]).includes(spelled) ? (spelled as TaskPhase) : "unknown";
}

/** `completed` (0.3) and `TASK_STATE_COMPLETED` (1.0) both end the dispatch with an inline result. */
export function isCompletedState(state: string): boolean {
  return taskPhase(state) === "completed";
}

export interface A2aTaskHandle {
  kind: "a2a_task_handle";
  task_id: string;
  /** As the agent spelled it: `working` (0.3), `TASK_STATE_WORKING` (1.0). */
  state: string;
  target_agent: string;
  rpc_url: string;
}

/** Where a task lives: enough to show its handle and to ask the agent about it again. */
export interface TaskHome {
  target_agent: string;
  rpc_url: string;
  version: A2aWireVersion;
}

export interface SendMessageAnswer extends TaskHome {
  status: number;
  headers: Headers;
  bodyText: string;
  now: number;
}

const protocolError = (error: string, status: number): HandlerResult => ({
  kind: "retryable",
  error,
  cause: { kind: "protocol" },
  status_code: status,
  retry_after_ms: null,
});

export type RpcAnswer =
  | { ok: true; result: Record<string, unknown> }
  | { ok: false; error: string; code?: number; rpcError: boolean };

/** A JSON-RPC answer body: its object `result`, or what is wrong with it (a JSON-RPC error's message). */
export function readRpcAnswer(bodyText: string): RpcAnswer {
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch {
    return { ok: false, error: "returned a response that is not JSON", rpcError: false };
  }
  const envelope = rpcResponseSchema.safeParse(json);
  if (!envelope.success || !isObject(json)) {
    return { ok: false, error: "returned a malformed JSON-RPC response", rpcError: false };
  }
  const rpcError = envelope.data.error;
  if (rpcError) {
    const message = rpcError.message || `JSON-RPC error ${rpcError.code ?? "without a message"}`;
    return {
      ok: false,
      error: message,
      rpcError: true,
      ...(rpcError.code === undefined ? {} : { code: rpcError.code }),
    };
  }
  const result = envelope.data.result;
  if (!isObject(result)) return { ok: false, error: "response has no result", rpcError: false };
  return { ok: true, result };
}

/**
 * SPEC 12.2 response mapping. Non-2xx and JSON-RPC errors are retryable with the pinned texts; a
 * completed task or a direct message is a success with the inline result; any other task state is
 * `waiting` with a pending-task handle as the dispatch result.
 */
export function mapSendMessageAnswer(answer: SendMessageAnswer): HandlerResult {
  const { status } = answer;
  if (status < 200 || status > 299) {
    return {
      kind: "retryable",
      error: `A2A task dispatch returned HTTP ${status}`,
      cause: { kind: "http_status", status },
      status_code: status,
      retry_after_ms:
        status === 429 || status === 503 ? parseRetryAfter(answer.headers.get("retry-after"), answer.now) : null,
    };
  }
  const rpc = readRpcAnswer(answer.bodyText);
  if (!rpc.ok) {
    return protocolError(
      rpc.rpcError ? `A2A task dispatch failed: ${rpc.error}` : `A2A task dispatch ${rpc.error}`,
      status,
    );
  }
  const result = rpc.result;

  // 1.0 wraps the payload ({task} | {message}); 0.3 returns it bare with a `kind`.
  const kind = isObject(result.task)
    ? "task"
    : isObject(result.message)
      ? "message"
      : (result.kind ?? ("status" in result ? "task" : "parts" in result ? "message" : undefined));
  const payload = kind === "task" ? (result.task ?? result) : kind === "message" ? (result.message ?? result) : null;
  if (kind === "message") {
    const message = messageSchema.safeParse(payload);
    if (!message.success) return protocolError("A2A task dispatch returned a malformed message", status);
    const content = partsContent(message.data.parts);
    return { kind: "success", result: content.found ? content.value : null, status_code: status };
  }
  if (kind !== "task") return protocolError("A2A task dispatch result is neither a task nor a message", status);
  return taskOutcome(payload, status, answer);
}

/**
 * What a task in its current state means for the dispatch (SPEC 12.2): `completed` → success with the
 * inline result; `failed`/`rejected` → a final failure with the agent's status message; `canceled` →
 * cancelled; `input-required`/`auth-required` → waiting for an operator; anything else (`submitted`,
 * `working`, states this version does not know) → waiting while Switchyard follows the task.
 */
export function taskOutcome(payload: unknown, status: number, home: TaskHome): HandlerResult {
  const task = taskSchema.safeParse(payload);
  if (!task.success) return protocolError("A2A task dispatch returned a malformed task", status);
  const taskId = task.data.id;
  const state = task.data.status?.state;
  if (!taskId) return protocolError("A2A task response has no task id", status);
  if (!state) return protocolError(`A2A task ${taskId} has no status.state`, status);
  const note = messageText(task.data.status?.message);
  const phase = taskPhase(state);
  switch (phase) {
    case "completed":
      return { kind: "success", result: completedTaskResult(task.data), status_code: status };
    case "failed":
    case "rejected":
      return {
        kind: "failed",
        error: note ?? `A2A task ${taskId} ended ${state} without a message`,
        status_code: status,
      };
    case "canceled":
      return {
        kind: "cancelled",
        error: `A2A task ${taskId} was canceled by the agent${note ? `: ${note.slice(0, 500)}` : ""}`,
        status_code: status,
      };
  }
  const handle: A2aTaskHandle = {
    kind: "a2a_task_handle",
    task_id: taskId,
    state,
    target_agent: home.target_agent,
    rpc_url: home.rpc_url,
  };
  const message = `A2A task ${taskId} is ${state}${note ? `: ${note.slice(0, 500)}` : ""}`;
  // Only an operator can move a task that waits for input or authorisation: it is not polled.
  const waitsForOperator = phase === "input-required" || phase === "auth-required";
  const follow: A2aFollow = {
    task_id: taskId,
    rpc_url: home.rpc_url,
    version: home.version,
    target_agent: home.target_agent,
  };
  return { kind: "waiting", message, result: handle, status_code: status, ...(waitsForOperator ? {} : { follow }) };
}
