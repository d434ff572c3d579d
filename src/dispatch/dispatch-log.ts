/**
 * What each dispatch transition means (SPEC 6, 7, 8, 13, 14): the records it stands for, in causal
 * order, and the changes it makes to the dispatch outcome and its attempts. Pure: the gate stores
 * transitions (`contracts/transitions.ts`); readers expand them here into records, graph records,
 * attempts and the outcome object, exactly as they used to be written one row each. Attempts and
 * endings are `attempt-log.ts`; the item shapes and builders `log-items.ts`.
 */
import type { ErrorClass } from "../contracts/dlq";
import type { ApprovalRequest, Transition } from "../contracts/transitions";
import { iso } from "../lib/time";
import { TOPICS } from "../observability/topics";
import { a2aTaskSeen, attemptEnded, cancelled, completed, deadLettered, finished, started } from "./attempt-log";
import { type DispatchIdentity, edge, graphIds, type LogItem, node, outcomeOf, rec, setStatus } from "./log-items";

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
