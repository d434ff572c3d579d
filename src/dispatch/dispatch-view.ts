/**
 * The API's view of a stored dispatch (SPEC 6, 14, 19): its outcome object with attempts, and its
 * records in causal order, folded from the transition log. Pure.
 */
import type { AttemptView, DispatchOutcome, DispatchStatus } from "../contracts/dispatch";
import type { DispatchDoc } from "../contracts/dispatch-doc";
import { iso } from "../lib/time";
import { scopedTopic } from "../observability/topics";
import { describe } from "./dispatch-log";
import { type AttemptPatch, type DispatchIdentity, outcomeOf } from "./log-items";

export interface DispatchView extends DispatchOutcome {
  error_class: string | null;
  attempts: AttemptView[];
  created_at: string;
  updated_at: string;
  trace_id: string;
  next_attempt_at: string | null;
  terminal_at: string | null;
}

/** One record as `GET /v1/records` shows it, before its `seq` is assigned within a scope. */
export interface RecordView {
  topic: string;
  kind: string;
  tenant_id: string | null;
  event_id: string | null;
  trace_id: string | null;
  binding_key: string | null;
  headers: Record<string, string>;
  payload: unknown;
  at: string;
  /** Order within the record's millisecond, when its writer gave one (`Transition.s`). */
  order?: number;
}

export function identityOf(doc: DispatchDoc): DispatchIdentity {
  return {
    dispatch_id: doc.dispatch_id,
    binding_key: doc.binding_key,
    binding_id: doc.binding_id,
    binding_version: doc.binding_version,
    event_id: doc.event_id,
    trace_id: doc.trace_id,
    tenant_id: doc.tenant_id,
    replay_of_event_id: doc.replay_of_event_id,
    handler_kind: doc.handler_kind,
    target_uri: doc.target_uri,
    dlq_id: doc.dlq_id,
  };
}

/** Folds the transitions of `doc` into the outcome object with attempts. */
export function viewOf(doc: DispatchDoc): DispatchView {
  const d = identityOf(doc);
  const created = iso(doc.created_at);
  let status: DispatchStatus = "pending";
  let result: unknown = null;
  let error: string | null = null;
  let errorClass: string | null = null;
  let attemptCount = 0;
  let updatedAt = created;
  let nextAttemptAt: string | null = null;
  let terminalAt: string | null = null;
  const attempts = new Map<number, AttemptPatch>();
  for (const t of doc.log) {
    if (t.op === "created") status = t.status;
    for (const item of describe(d, t)) {
      if (item.type === "dispatch") {
        const p = item.patch;
        if (p.status !== undefined) status = p.status;
        if ("result" in p) result = p.result ?? null;
        if (p.error !== undefined) error = p.error;
        if (p.error_class !== undefined) errorClass = p.error_class;
        if (p.attempt_count !== undefined) attemptCount = p.attempt_count;
        if (p.next_attempt_at !== undefined) nextAttemptAt = p.next_attempt_at;
        if (p.terminal_at !== undefined) terminalAt = p.terminal_at;
        updatedAt = item.at;
      } else if (item.type === "attempt") {
        attempts.set(item.attempt, { ...attempts.get(item.attempt), ...item.patch });
      }
    }
  }
  return {
    ...outcomeOf(d, status, attemptCount, result, error),
    error_class: errorClass,
    attempts: [...attempts.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([attempt, a]) => ({
        attempt,
        started_at: a.started_at ?? created,
        completed_at: a.completed_at ?? null,
        outcome: a.outcome ?? "running",
        error_msg: a.error_msg ?? null,
        ...(a.status_code === null || a.status_code === undefined ? {} : { status_code: a.status_code }),
        duration_ms: a.duration_ms ?? null,
      })),
    created_at: created,
    updated_at: updatedAt,
    trace_id: d.trace_id,
    next_attempt_at: nextAttemptAt,
    terminal_at: terminalAt,
  };
}

/** The outcome object alone (SPEC 6), as lists and event details show it. */
export function outcomeView(view: DispatchView): DispatchOutcome & { error_class: string | null } {
  return {
    trigger_id: view.trigger_id,
    binding_key: view.binding_key,
    event_id: view.event_id,
    attempt_count: view.attempt_count,
    status: view.status,
    handler_kind: view.handler_kind,
    target_uri: view.target_uri,
    replay_of_event_id: view.replay_of_event_id,
    result: view.result,
    error: view.error,
    error_class: view.error_class,
  };
}

/** Every record the dispatch's transitions stand for, in causal order. */
export function recordsOf(doc: DispatchDoc): RecordView[] {
  const d = identityOf(doc);
  const headers: Record<string, string> = d.replay_of_event_id
    ? { "x-switchyard-replay": "1", replay_of_event_id: d.replay_of_event_id }
    : {};
  const out: RecordView[] = [];
  for (const t of doc.log) {
    for (const item of describe(d, t)) {
      if (item.type !== "record") continue;
      out.push({
        ...(t.s === undefined ? {} : { order: t.s }),
        topic: scopedTopic(item.topic, d.tenant_id),
        kind: item.kind,
        tenant_id: d.tenant_id,
        event_id: d.event_id,
        trace_id: d.trace_id,
        binding_key: d.binding_key,
        headers,
        payload: item.payload,
        at: item.at,
      });
    }
  }
  return out;
}
