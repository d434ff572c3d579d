/**
 * What each dispatch transition means (SPEC 6, 7, 8, 13, 14): the records it stands for, in causal
 * order, and the changes it makes to the dispatch outcome and its attempts. Pure: the gate stores
 * transitions (`contracts/transitions.ts`); readers expand them here into records, graph records,
 * attempts and the outcome object, exactly as they used to be written one row each.
 */
import type { AttemptOutcome, DispatchOutcome, DispatchStatus, HandlerResult } from "../contracts/dispatch";
import type { ApprovalRequest, Transition } from "../contracts/transitions";
import { iso } from "../lib/time";
import { TOPICS } from "../observability/topics";
import type { ErrorClass } from "./error-class";

export type { ApprovalRequest };

export interface DispatchIdentity {
  dispatch_id: string;
  binding_key: string;
  binding_id: string;
  binding_version: number;
  event_id: string;
  trace_id: string;
  tenant_id: string | null;
  replay_of_event_id: string | null;
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
function graphNodeKind(handlerKind: string): string {
  return handlerKind === "a2a" ? "a2a_hop" : handlerKind === "worker" ? "worker_enqueue" : "dispatch";
}

/**
 * The event part of a node id: the event id, plus the replay tag for a replay, whose nodes would
 * otherwise overwrite the original dispatch's (a replay keeps the event and trace id).
 */
function subject(d: DispatchIdentity): string {
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

const rec = (topic: string, kind: string, payload: unknown, at: string): LogItem => ({
  type: "record",
  topic,
  kind,
  payload,
  at,
});
const setStatus = (patch: DispatchPatch, at: string): LogItem => ({ type: "dispatch", at, patch });

function node(d: DispatchIdentity, value: Record<string, unknown>, at: string): LogItem {
  return rec(TOPICS.actionGraph, "node", { trace_id: d.trace_id, ...value }, at);
}

function edge(d: DispatchIdentity, value: Record<string, unknown>, at: string): LogItem {
  return rec(TOPICS.actionGraph, "edge", { trace_id: d.trace_id, ...value }, at);
}

/** The items one transition stands for, in causal order. */
export function describe(d: DispatchIdentity, t: Transition): LogItem[] {
  switch (t.op) {
    case "created":
      return created(d, t.at);
    case "skipped": {
      const at = iso(t.at);
      const outcome = outcomeOf(d, "skipped", 0, t.detail, null);
      return [
        setStatus({ status: "skipped", result: t.detail, attempt_count: 0, terminal_at: at }, at),
        rec(TOPICS.outbox, "dispatch_skipped", { ...outcome, skip_stage: t.stage, detail: t.detail }, at),
      ];
    }
    case "audit":
      return [rec(t.topic, t.kind, t.payload, iso(t.at))];
    case "status":
      return [setStatus({ status: t.status, ...("result" in t ? { result: t.result } : {}) }, iso(t.at))];
    case "started":
      return started(d, t.attempt, iso(t.at));
    case "attempt_ended":
      // Written only when a cancel request ended the attempt (aborted, or lost while cancelling).
      return attemptEnded(t.attempt, t.result, t.started_at, t.completed_at, "cancelled");
    case "finished":
      return finished(d, t);
    case "dead_lettered":
      return deadLettered(d, t.attempt_count, t.error, t.error_class, t.reason, iso(t.at), t.from_node);
    case "cancel_requested":
      return [
        rec(
          TOPICS.cancel,
          "cancel_requested",
          { requested_by: t.requested_by, reason: t.reason, status_at_request: t.status },
          iso(t.at),
        ),
      ];
    case "cancelled":
      return cancelled(d, t.attempt_count, t.error, iso(t.at));
    case "completed":
      return completed(d, t.status, t.attempt_count, t.result, t.error, iso(t.at), t.by);
    case "a2a_task":
      return a2aTaskSeen(d, t, iso(t.at));
    case "predicate_evaluated":
      return predicateEvaluated(d, t.verdict, t.predicate, iso(t.at));
    case "budget_exceeded": {
      const at = iso(t.at);
      return [
        rec(TOPICS.lifecycle, "predicate.budget_exceeded", t.detail, at),
        ...predicateNode(d, "budget_exceeded", { ...t.detail }, at),
      ];
    }
    case "deferred": {
      const at = iso(t.at);
      const outcome = outcomeOf(d, "waiting", 0, t.detail, null);
      return [
        setStatus({ status: "waiting", result: t.detail, attempt_count: 0 }, at),
        rec(
          TOPICS.outbox,
          "dispatch_skipped",
          { ...outcome, skip_stage: "predicate", deferred: true, detail: t.detail },
          at,
        ),
      ];
    }
    case "resumed":
      return [setStatus({ status: "pending", result: null }, iso(t.at))];
    case "approval_required":
      return approvalRequired(d, t.request, t.tier, iso(t.at));
    case "approval_decided":
      return approvalDecided(d, t, iso(t.at));
    case "legacy": {
      const at = iso(t.at);
      return [
        setStatus(
          {
            status: t.status,
            result: t.result,
            error: t.error,
            error_class: (t.error_class as ErrorClass | null) ?? null,
            attempt_count: t.attempt_count,
            next_attempt_at: t.next_attempt_at,
            terminal_at: t.terminal_at,
          },
          at,
        ),
        ...t.attempts.map(
          (a): LogItem => ({
            type: "attempt",
            attempt: a.attempt,
            patch: {
              started_at: a.started_at,
              ...(a.completed_at === null ? {} : { completed_at: a.completed_at }),
              outcome: a.outcome,
              error_msg: a.error_msg,
              status_code: a.status_code ?? null,
              ...(a.duration_ms === null ? {} : { duration_ms: a.duration_ms }),
            },
          }),
        ),
      ];
    }
    case "failed_before_attempt": {
      const at = iso(t.at);
      const outcome = outcomeOf(d, "failed", t.attempt_count, null, t.error);
      return [
        setStatus({ status: "failed", error: t.error, terminal_at: at }, at),
        rec(TOPICS.lifecycle, "DispatchFailed", outcome, at),
        rec(TOPICS.outbox, "dispatch_failed", outcome, at),
      ];
    }
  }
}

/** SPEC 6 step 1: the dispatch and its trigger node (a replay also links to its original). */
function created(d: DispatchIdentity, now: number): LogItem[] {
  const at = iso(now);
  const items: LogItem[] = [
    node(d, { id: graphIds.trigger(d.event_id), kind: "trigger", label: d.event_id, status: "accepted" }, at),
  ];
  if (d.replay_of_event_id) {
    const historical = `historical:${d.replay_of_event_id}`;
    items.push(
      node(d, { id: historical, kind: "historical", label: d.replay_of_event_id, status: "replayed" }, at),
      edge(d, { from: historical, to: graphIds.trigger(d.event_id), kind: "replay_chain" }, at),
    );
  }
  return items;
}

/** An attempt begins: DispatchStarted before anything the attempt produces. */
function started(d: DispatchIdentity, attempt: number, at: string): LogItem[] {
  const payload = {
    attempt,
    handler_kind: d.handler_kind,
    target_uri: d.target_uri,
    replay_of_event_id: d.replay_of_event_id,
  };
  const nodeId = graphIds.dispatch(d, attempt);
  const items: LogItem[] = [
    setStatus({ status: "running", attempt_count: attempt, next_attempt_at: null }, at),
    { type: "attempt", attempt, patch: { started_at: at, outcome: "running" } },
    rec(TOPICS.lifecycle, "DispatchStarted", payload, at),
    rec(TOPICS.outbox, "dispatch_started", payload, at),
    node(
      d,
      {
        id: nodeId,
        kind: graphNodeKind(d.handler_kind),
        label: `${d.binding_key} attempt ${attempt}`,
        status: "running",
        metadata: { attempt, target_uri: d.target_uri },
      },
      at,
    ),
    attempt === 1
      ? edge(
          d,
          {
            from: graphIds.trigger(d.event_id),
            to: nodeId,
            kind: d.handler_kind === "a2a" ? "a2a_dispatch" : "trigger_dispatch",
          },
          at,
        )
      : edge(d, { from: graphIds.retry(d, attempt), to: nodeId, kind: "retry" }, at),
  ];
  // The retry wait that led here is over.
  if (attempt > 1) items.push(node(d, { id: graphIds.retry(d, attempt), status: "fired" }, at));
  return items;
}

/**
 * What an operator reads as an attempt's outcome (SPEC 6, 19): `succeeded`, `waiting`, `denied` (the
 * handler's denied signal), `cancelled` (a cancel request aborted it) or `failed`.
 */
export function attemptOutcome(result: HandlerResult): AttemptOutcome {
  switch (result.kind) {
    case "success":
      return "succeeded";
    case "waiting":
      return "waiting";
    case "denied":
      return "denied";
    case "cancelled":
      return "cancelled";
    default:
      return "failed";
  }
}

/** The attempt's own row and its `attempt_recorded` record, whatever happens to the dispatch next. */
function attemptEnded(
  attempt: number,
  result: HandlerResult,
  startedAt: number,
  completedAt: number,
  ended?: "cancelled",
): LogItem[] {
  const at = iso(completedAt);
  const duration = Math.max(0, completedAt - startedAt);
  const error = "error" in result ? result.error : null;
  const statusCode = "status_code" in result ? (result.status_code ?? null) : null;
  const outcome = ended ?? attemptOutcome(result);
  return [
    {
      type: "attempt",
      attempt,
      patch: { completed_at: at, outcome, error_msg: error, status_code: statusCode, duration_ms: duration },
    },
    rec(
      TOPICS.attempts,
      "attempt_recorded",
      { attempt, outcome, error, status_code: statusCode, duration_ms: duration },
      at,
    ),
  ];
}

/** The end of one attempt and what the decision makes of it. */
function finished(d: DispatchIdentity, t: Extract<Transition, { op: "finished" }>): LogItem[] {
  const { attempt, decision } = t;
  const at = iso(t.completed_at);
  const items = attemptEnded(attempt, t.result, t.started_at, t.completed_at);
  const nodeId = graphIds.dispatch(d, attempt);
  const done = (status: string, outcome: string) =>
    node(d, { id: nodeId, kind: graphNodeKind(d.handler_kind), status, outcome }, at);
  switch (decision.kind) {
    case "succeeded": {
      const outcome = outcomeOf(d, "succeeded", attempt, decision.result, null);
      items.push(
        setStatus({ status: "succeeded", result: decision.result ?? null, error: null, terminal_at: at }, at),
        rec(TOPICS.lifecycle, "DispatchSucceeded", outcome, at),
        rec(TOPICS.outbox, "dispatch_succeeded", outcome, at),
        done("succeeded", "succeeded"),
        ...resolveReplayedDlq(d, at),
      );
      break;
    }
    case "waiting": {
      const outcome = outcomeOf(d, "waiting", attempt, decision.result, null);
      items.push(
        setStatus({ status: "waiting", result: decision.result, terminal_at: at }, at),
        rec(TOPICS.outbox, "dispatch_waiting", outcome, at),
        done("waiting", "waiting"),
      );
      break;
    }
    case "failed": {
      const outcome = outcomeOf(d, "failed", attempt, null, decision.error);
      items.push(
        setStatus({ status: "failed", error: decision.error, terminal_at: at }, at),
        rec(TOPICS.lifecycle, "DispatchFailed", outcome, at),
        rec(TOPICS.outbox, "dispatch_failed", outcome, at),
        done("failed", "failed"),
      );
      break;
    }
    case "cancelled":
      items.push(...cancelled(d, attempt, decision.error, at));
      break;
    case "retry": {
      const failed = outcomeOf(d, "retry_scheduled", attempt, null, decision.error);
      const retry = { attempt: decision.nextAttempt, delay_ms: decision.delayMs, error: decision.error };
      const retryNode = graphIds.retry(d, decision.nextAttempt);
      items.push(
        setStatus(
          {
            status: "retry_scheduled",
            error: decision.error,
            next_attempt_at: iso(t.completed_at + decision.delayMs),
          },
          at,
        ),
        rec(TOPICS.lifecycle, "DispatchFailed", failed, at),
        rec(TOPICS.outbox, "dispatch_failed", failed, at),
        rec(TOPICS.lifecycle, "RetryScheduled", retry, at),
        rec(TOPICS.attempts, "retry_scheduled", retry, at),
        done("failed", "retry"),
        node(
          d,
          {
            id: retryNode,
            kind: "retry",
            label: `retry in ${decision.delayMs}ms`,
            status: "scheduled",
            metadata: retry,
          },
          at,
        ),
        edge(d, { from: nodeId, to: retryNode, kind: "retry" }, at),
      );
      break;
    }
    case "dlq": {
      const failed = outcomeOf(d, "dlq", attempt, null, decision.error);
      items.push(
        rec(TOPICS.lifecycle, "DispatchFailed", failed, at),
        rec(TOPICS.outbox, "dispatch_failed", failed, at),
        done("failed", "dlq"),
        ...deadLettered(d, attempt, decision.error, decision.errorClass, decision.reason, at, nodeId),
      );
      break;
    }
  }
  return items;
}

/** Terminal `dlq`: DlqMoved and dlq_moved (also reached by circuit and budget paths). */
function deadLettered(
  d: DispatchIdentity,
  attemptCount: number,
  error: string,
  errorClass: ErrorClass,
  reason: string,
  at: string,
  fromNode: string | null,
): LogItem[] {
  const outcome = { ...outcomeOf(d, "dlq", attemptCount, null, error), error_class: errorClass, reason };
  const items: LogItem[] = [
    setStatus({ status: "dlq", error, error_class: errorClass, attempt_count: attemptCount, terminal_at: at }, at),
    rec(TOPICS.lifecycle, "DlqMoved", outcome, at),
    rec(TOPICS.dlq, "dlq_moved", outcome, at),
    node(
      d,
      { id: graphIds.dlq(d), kind: "dlq", label: reason, status: "dlq", metadata: { error, error_class: errorClass } },
      at,
    ),
  ];
  if (fromNode) items.push(edge(d, { from: fromNode, to: graphIds.dlq(d), kind: "dlq_move" }, at));
  return items;
}

/** A successful DLQ replay resolves the entry it replayed (SPEC 13.5). */
function resolveReplayedDlq(d: DispatchIdentity, at: string): LogItem[] {
  if (!d.dlq_id) return [];
  return [rec(TOPICS.dlq, "dlq_resolved", { dlq_id: d.dlq_id, by: "replay" }, at)];
}

/** Terminal `cancelled`; `dispatch_failed (cancelled)` on the outbox only where an attempt ran. */
function cancelled(d: DispatchIdentity, attemptCount: number, error: string, at: string): LogItem[] {
  const outcome = outcomeOf(d, "cancelled", attemptCount, null, error);
  const items: LogItem[] = [
    setStatus(
      { status: "cancelled", result: null, error, attempt_count: attemptCount, next_attempt_at: null, terminal_at: at },
      at,
    ),
    rec(TOPICS.cancel, "cancel_applied", outcome, at),
    rec(TOPICS.lifecycle, "DispatchCancelled", outcome, at),
  ];
  if (attemptCount > 0) {
    // The last attempt's node ends with the dispatch (an aborted call, or a waiting or followed one).
    items.push(
      rec(TOPICS.outbox, "dispatch_failed", outcome, at),
      hopNode(d, attemptCount, "cancelled", "cancelled", {}, at),
    );
  }
  return items;
}

/**
 * A waiting dispatch finished (SPEC 13.2 `POST …/complete`, or its followed A2A task ended), recorded
 * like any terminal outcome; a task's end also closes its `a2a_hop` node.
 */
function completed(
  d: DispatchIdentity,
  status: "succeeded" | "failed",
  attemptCount: number,
  result: unknown,
  error: string | null,
  at: string,
  by?: "a2a_task",
): LogItem[] {
  const outcome = { ...outcomeOf(d, status, attemptCount, result, error), ...(by ? { by } : { completed: true }) };
  const hop = by && attemptCount > 0 ? [hopNode(d, attemptCount, status, status, {}, at)] : [];
  if (status === "succeeded") {
    return [
      setStatus({ status, result: result ?? null, error: null, terminal_at: at }, at),
      rec(TOPICS.lifecycle, "DispatchSucceeded", outcome, at),
      rec(TOPICS.outbox, "dispatch_succeeded", outcome, at),
      ...hop,
      ...resolveReplayedDlq(d, at),
    ];
  }
  return [
    setStatus({ status, error, terminal_at: at }, at),
    rec(TOPICS.lifecycle, "DispatchFailed", outcome, at),
    rec(TOPICS.outbox, "dispatch_failed", outcome, at),
    ...hop,
  ];
}

/** The attempt node of a handler call, written again with a new status (and task state). */
function hopNode(
  d: DispatchIdentity,
  attempt: number,
  status: string,
  outcome: string | null,
  metadata: Record<string, unknown>,
  at: string,
): LogItem {
  const value: Record<string, unknown> = {
    id: graphIds.dispatch(d, attempt),
    kind: graphNodeKind(d.handler_kind),
    status,
  };
  if (outcome !== null) value.outcome = outcome;
  if (Object.keys(metadata).length > 0) value.metadata = metadata;
  return node(d, value, at);
}

/** SPEC 12.2: a followed task changed state; the `a2a_hop` node shows it, the record keeps it. */
function a2aTaskSeen(d: DispatchIdentity, t: Extract<Transition, { op: "a2a_task" }>, at: string): LogItem[] {
  const payload = { attempt: t.attempt, task_id: t.task_id, state: t.state };
  return [
    setStatus({ status: "waiting", result: t.result }, at),
    rec(TOPICS.lifecycle, "a2a.task_state", payload, at),
    hopNode(d, t.attempt, "waiting", null, { task_id: t.task_id, task_state: t.state }, at),
  ];
}

/**
 * One predicate evaluation: lifecycle `predicate.evaluated`, `predicate.invocation_budget_exceeded`
 * when a per-evaluation ceiling broke, and the `predicate` node gated from the trigger.
 */
function predicateEvaluated(
  d: DispatchIdentity,
  verdict: Extract<Transition, { op: "predicate_evaluated" }>["verdict"],
  predicate: string,
  at: string,
): LogItem[] {
  const payload = {
    predicate,
    result: verdict.result,
    reason: verdict.reason,
    cost_usd: verdict.cost_usd,
    tokens: verdict.tokens,
    latency_ms: verdict.latency_ms,
    cached: verdict.cached,
  };
  const items: LogItem[] = [rec(TOPICS.lifecycle, "predicate.evaluated", payload, at)];
  if (verdict.overrun) {
    items.push(
      rec(
        TOPICS.lifecycle,
        "predicate.invocation_budget_exceeded",
        { predicate, ...verdict.overrun, reason: verdict.reason, passed: verdict.result },
        at,
      ),
    );
  }
  items.push(...predicateNode(d, verdict.failed ? "error" : verdict.result ? "passed" : "rejected", payload, at));
  return items;
}

function predicateNode(d: DispatchIdentity, status: string, metadata: Record<string, unknown>, at: string): LogItem[] {
  const id = graphIds.predicate(d);
  return [
    node(d, { id, kind: "predicate", label: `${d.binding_key} predicate`, status, metadata }, at),
    edge(d, { from: graphIds.trigger(d.event_id), to: id, kind: "predicate_gate" }, at),
  ];
}

/**
 * An autonomy budget stops the dispatch (SPEC 8): `waiting` with the approval request, lifecycle
 * `autonomy.budget_exceeded`, `hitl.approvals` and the `approval` node.
 */
function approvalRequired(d: DispatchIdentity, request: ApprovalRequest, tier: string, at: string): LogItem[] {
  const outcome = outcomeOf(d, "waiting", 0, request, null);
  const id = graphIds.approval(d);
  return [
    setStatus({ status: "waiting", result: request, attempt_count: 0 }, at),
    rec(
      TOPICS.lifecycle,
      "autonomy.budget_exceeded",
      { reason: request.reason, tier, request_id: request.request_id },
      at,
    ),
    rec(TOPICS.outbox, "dispatch_waiting", outcome, at),
    rec(TOPICS.approvals, "approval_requested", request, at),
    node(d, { id, kind: "approval", label: request.reason, status: "pending", metadata: { ...request } }, at),
    edge(d, { from: graphIds.trigger(d.event_id), to: id, kind: "approval_gate" }, at),
  ];
}

function approvalDecided(
  d: DispatchIdentity,
  t: Extract<Transition, { op: "approval_decided" }>,
  at: string,
): LogItem[] {
  const state = t.approved ? "approved" : "denied";
  const items: LogItem[] = [
    rec(
      TOPICS.approvals,
      `approval_${state}`,
      { request_id: t.request_id, state, reviewer: t.reviewer, reason: t.reason },
      at,
    ),
    node(d, { id: graphIds.approval(d), status: state, outcome: state }, at),
  ];
  if (t.approved) items.push(setStatus({ status: "pending", result: null }, at));
  return items;
}
