/**
 * The items a dispatch transition expands into (SPEC 14 records, outcome and attempt changes), the
 * identity every item is written for, and the shared builders: records, graph nodes and edges with
 * their SPEC 14 ids.
 */
import type { AttemptOutcome, DispatchOutcome, DispatchStatus } from "../contracts/dispatch";
import type { DispatchKey } from "../contracts/dispatch-doc";
import type { ErrorClass } from "../contracts/dlq";
import { TOPICS } from "../observability/topics";

export interface DispatchIdentity extends DispatchKey {
  handler_kind: string;
  target_uri: string;
  /** A DLQ replay: its success resolves this entry. */
  dlq_id?: string | null;
}

/** The fields of the outcome a transition may change (SPEC 6, 19). */
export interface DispatchPatch {
  status?: DispatchStatus;
  result?: unknown;
  error?: string | null;
  error_class?: ErrorClass | null;
  attempt_count?: number;
  terminal_at?: string | null;
  next_attempt_at?: string | null;
}

export interface AttemptPatch {
  started_at?: string;
  completed_at?: string;
  outcome?: AttemptOutcome;
  error_msg?: string | null;
  status_code?: number | null;
  duration_ms?: number;
}

export type LogItem =
  | { type: "record"; topic: string; kind: string; payload: unknown; at: string }
  | { type: "dispatch"; at: string; patch: DispatchPatch }
  | { type: "attempt"; attempt: number; patch: AttemptPatch };

export function outcomeOf(
  d: DispatchIdentity,
  status: DispatchStatus,
  attemptCount: number,
  result: unknown,
  error: string | null,
): DispatchOutcome {
  return {
    trigger_id: d.binding_id,
    binding_key: d.binding_key,
    event_id: d.event_id,
    attempt_count: attemptCount,
    status,
    handler_kind: d.handler_kind,
    target_uri: d.target_uri,
    replay_of_event_id: d.replay_of_event_id,
    result: result ?? null,
    error,
  };
}

/** SPEC 14 node kind of an attempt: agent hops and job enqueues are drawn as what they are. */
export function graphNodeKind(handlerKind: string): string {
  return handlerKind === "a2a" ? "a2a_hop" : handlerKind === "worker" ? "worker_enqueue" : "dispatch";
}

/**
 * The event part of a node id: the event id, plus the replay tag for a replay, whose nodes would
 * otherwise overwrite the original dispatch's (a replay keeps the event and trace id).
 */
export function subject(d: DispatchIdentity): string {
  const tag = d.dispatch_id.split("|")[2];
  return tag ? `${d.event_id}~${tag}` : d.event_id;
}

/** Graph node ids of SPEC 14 (replays: `<event_id>~<replay tag>`). */
export const graphIds = {
  trigger: (eventId: string) => `trigger:${eventId}`,
  dispatch: (d: DispatchIdentity, attempt: number) =>
    `${d.handler_kind === "a2a" ? "a2a:" : ""}dispatch:${d.binding_key}:${subject(d)}:${attempt}`,
  retry: (d: DispatchIdentity, attempt: number) => `retry:${d.binding_key}:${subject(d)}:${attempt}`,
  dlq: (d: DispatchIdentity) => `dlq:${d.binding_key}:${subject(d)}`,
  predicate: (d: DispatchIdentity) => `predicate:${d.binding_key}:${subject(d)}`,
  approval: (d: DispatchIdentity) => `approval:${d.binding_key}:${subject(d)}`,
};

export const LEASE_EXPIRED_ERROR = "attempt outcome unknown: lease expired";

export const rec = (topic: string, kind: string, payload: unknown, at: string): LogItem => ({
  type: "record",
  topic,
  kind,
  payload,
  at,
});
export const setStatus = (patch: DispatchPatch, at: string): LogItem => ({ type: "dispatch", at, patch });

export function node(d: DispatchIdentity, value: Record<string, unknown>, at: string): LogItem {
  return rec(TOPICS.actionGraph, "node", { trace_id: d.trace_id, ...value }, at);
}

export function edge(d: DispatchIdentity, value: Record<string, unknown>, at: string): LogItem {
  return rec(TOPICS.actionGraph, "edge", { trace_id: d.trace_id, ...value }, at);
}
