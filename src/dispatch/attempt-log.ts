/**
 * What attempt transitions and endings mean (SPEC 6 steps 6–7, 11, 12.2, 13): `started`, `finished`
 * with its decision (retry, DLQ, done), dead-lettering, a replay resolving its DLQ entry, followed A2A
 * task states, cancellation and completion of a waiting dispatch, as records, graph items and
 * attempt changes. Pure.
 */
import type { AttemptOutcome, HandlerResult } from "../contracts/dispatch";
import type { ErrorClass } from "../contracts/dlq";
import type { Transition } from "../contracts/transitions";
import { iso } from "../lib/time";
import { TOPICS } from "../observability/topics";
import {
  type DispatchIdentity,
  edge,
  graphIds,
  graphNodeKind,
  type LogItem,
  node,
  outcomeOf,
  rec,
  setStatus,
} from "./log-items";

/** An attempt begins: DispatchStarted before anything the attempt produces. */
export function started(d: DispatchIdentity, attempt: number, at: string): LogItem[] {
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
export function attemptEnded(
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
export function finished(d: DispatchIdentity, t: Extract<Transition, { op: "finished" }>): LogItem[] {
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
export function deadLettered(
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
export function resolveReplayedDlq(d: DispatchIdentity, at: string): LogItem[] {
  if (!d.dlq_id) return [];
  return [rec(TOPICS.dlq, "dlq_resolved", { dlq_id: d.dlq_id, by: "replay" }, at)];
}

/** The attempt node of a handler call, written again with a new status (and task state). */
export function hopNode(
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
export function a2aTaskSeen(d: DispatchIdentity, t: Extract<Transition, { op: "a2a_task" }>, at: string): LogItem[] {
  const payload = { attempt: t.attempt, task_id: t.task_id, state: t.state };
  return [
    setStatus({ status: "waiting", result: t.result }, at),
    rec(TOPICS.lifecycle, "a2a.task_state", payload, at),
    hopNode(d, t.attempt, "waiting", null, { task_id: t.task_id, task_state: t.state }, at),
  ];
}

/** Terminal `cancelled`; `dispatch_failed (cancelled)` on the outbox only where an attempt ran. */
export function cancelled(d: DispatchIdentity, attemptCount: number, error: string, at: string): LogItem[] {
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
export function completed(
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
