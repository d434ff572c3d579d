/**
 * D1 writes for each dispatch transition: the `dispatches` row, `attempts`, `dlq_entries` and the
 * records of SPEC 6, in causal order. Every statement is idempotent (unique keys, conflict-ignoring
 * inserts, updates to a fixed value) so a transition retried after a failure writes nothing twice.
 */

import { and, eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { DispatchOutcome, DispatchStatus, HandlerResult } from "../contracts/dispatch";
import type { Db } from "../db/client";
import { approvals, attempts, dispatches, dlqEntries, predicateVerdicts } from "../db/schema";
import { newDlqId } from "../lib/ids";
import { iso } from "../lib/time";
import { insertRecord, type RecordInput, TOPICS } from "../observability/records";
import type { PredicateVerdict } from "../predicates/verdict";
import type { AttemptDecision } from "./attempt-decision";
import type { ErrorClass } from "./error-class";

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

/** A drizzle statement the BindingGate can serialise into its D1 outbox. */
export type Item = BatchItem<"sqlite"> & { toSQL(): { sql: string; params: unknown[] } };

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

/** An approval request as the dispatch result and the approvals API show it (SPEC 8, 19). */
export interface ApprovalRequest {
  approval_required: true;
  request_id: string;
  reason: string;
  reviewers: string[];
}

export class DispatchLog {
  constructor(private readonly db: Db) {}

  private rec(d: DispatchIdentity, key: string, topic: string, kind: string, payload: unknown, at: string): Item {
    const input: RecordInput = {
      key: `${d.dispatch_id}:${key}`,
      topic,
      kind,
      tenant_id: d.tenant_id,
      event_id: d.event_id,
      trace_id: d.trace_id,
      binding_key: d.binding_key,
      headers: d.replay_of_event_id ? { "x-switchyard-replay": "1", replay_of_event_id: d.replay_of_event_id } : {},
      payload,
      at,
    };
    return insertRecord(this.db, input);
  }

  private node(d: DispatchIdentity, key: string, node: Record<string, unknown>, at: string): Item {
    return this.rec(d, `graph:${key}`, TOPICS.actionGraph, "node", { trace_id: d.trace_id, ...node }, at);
  }

  private edge(d: DispatchIdentity, key: string, edge: Record<string, unknown>, at: string): Item {
    return this.rec(d, `graph-edge:${key}`, TOPICS.actionGraph, "edge", { trace_id: d.trace_id, ...edge }, at);
  }

  private setStatus(d: DispatchIdentity, patch: Partial<typeof dispatches.$inferInsert>, at: string): Item {
    return this.db
      .update(dispatches)
      .set({ ...patch, updatedAt: at })
      .where(eq(dispatches.dispatchId, d.dispatch_id));
  }

  /**
   * SPEC 6 step 1: the dispatch row (`pending`) and its trigger node. `status` is `admitted` when the
   * gate admitted the dispatch in the same step, which saves writing the row twice.
   */
  created(d: DispatchIdentity, now: number, status: "pending" | "admitted" = "pending"): Item[] {
    const at = iso(now);
    const items: Item[] = [
      this.db
        .insert(dispatches)
        .values({
          dispatchId: d.dispatch_id,
          bindingKey: d.binding_key,
          bindingId: d.binding_id,
          bindingVersion: d.binding_version,
          eventId: d.event_id,
          traceId: d.trace_id,
          tenantId: d.tenant_id,
          status,
          attemptCount: 0,
          handlerKind: d.handler_kind,
          targetUri: d.target_uri,
          replayOfEventId: d.replay_of_event_id,
          createdAt: at,
          updatedAt: at,
        })
        .onConflictDoNothing(),
      this.node(
        d,
        "trigger",
        { id: graphIds.trigger(d.event_id), kind: "trigger", label: d.event_id, status: "accepted" },
        at,
      ),
    ];
    if (d.replay_of_event_id) {
      // SPEC 6 step 1: a replay also links to the original through a historical node.
      const historical = `historical:${d.replay_of_event_id}`;
      items.push(
        this.node(
          d,
          "historical",
          { id: historical, kind: "historical", label: d.replay_of_event_id, status: "replayed" },
          at,
        ),
        this.edge(d, "replay_chain", { from: historical, to: graphIds.trigger(d.event_id), kind: "replay_chain" }, at),
      );
    }
    return items;
  }

  /**
   * Terminal `skipped` before any attempt (SPEC 6): outbox `dispatch_skipped` with the stage that
   * skipped it and the detail (`{skipped:true, flow_control:<reason>}` or the predicate's result).
   */
  skipped(
    d: DispatchIdentity,
    stage: "predicate" | "flow_control",
    detail: Record<string, unknown>,
    now: number,
  ): Item[] {
    const at = iso(now);
    const outcome = outcomeOf(d, "skipped", 0, detail, null);
    return [
      this.setStatus(d, { status: "skipped", result: JSON.stringify(detail), attemptCount: 0, terminalAt: at }, at),
      this.rec(d, "dispatch_skipped", TOPICS.outbox, "dispatch_skipped", { ...outcome, skip_stage: stage, detail }, at),
    ];
  }

  /** An audit record of a stage decision on a topic of its own (e.g. `trigger.throttle.<gate>`). */
  audit(d: DispatchIdentity, key: string, topic: string, kind: string, payload: unknown, now: number): Item[] {
    return [this.rec(d, `audit:${key}`, topic, kind, payload, iso(now))];
  }

  /** A live status change with no record of its own (`admitted`, `held`). */
  status(d: DispatchIdentity, status: DispatchStatus, now: number, result?: unknown): Item[] {
    return [
      this.setStatus(d, { status, ...(result === undefined ? {} : { result: JSON.stringify(result) }) }, iso(now)),
    ];
  }

  /** An attempt begins: DispatchStarted before anything the attempt produces. */
  started(d: DispatchIdentity, attempt: number, now: number): Item[] {
    const at = iso(now);
    const payload = {
      attempt,
      handler_kind: d.handler_kind,
      target_uri: d.target_uri,
      replay_of_event_id: d.replay_of_event_id,
    };
    const nodeId = graphIds.dispatch(d, attempt);
    const items: Item[] = [
      this.setStatus(d, { status: "running", attemptCount: attempt, nextAttemptAt: null }, at),
      this.db
        .insert(attempts)
        .values({ dispatchId: d.dispatch_id, attempt, startedAt: at, outcome: "running" })
        .onConflictDoNothing(),
      this.rec(d, `${attempt}:DispatchStarted`, TOPICS.lifecycle, "DispatchStarted", payload, at),
      this.rec(d, `${attempt}:dispatch_started`, TOPICS.outbox, "dispatch_started", payload, at),
      this.node(
        d,
        `dispatch:${attempt}`,
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
        ? this.edge(
            d,
            "trigger_dispatch",
            {
              from: graphIds.trigger(d.event_id),
              to: nodeId,
              kind: d.handler_kind === "a2a" ? "a2a_dispatch" : "trigger_dispatch",
            },
            at,
          )
        : this.edge(d, `retry:${attempt}`, { from: graphIds.retry(d, attempt), to: nodeId, kind: "retry" }, at),
    ];
    // The retry wait that led here is over.
    if (attempt > 1)
      items.push(this.node(d, `retry:${attempt}:fired`, { id: graphIds.retry(d, attempt), status: "fired" }, at));
    return items;
  }

  /** The attempt row and its `attempt_recorded` record, whatever happens to the dispatch next. */
  attemptEnded(
    d: DispatchIdentity,
    attempt: number,
    result: HandlerResult,
    timing: { started_at: number; completed_at: number },
  ): Item[] {
    const at = iso(timing.completed_at);
    const duration = Math.max(0, timing.completed_at - timing.started_at);
    const attemptError = "error" in result ? result.error : null;
    const statusCode = "status_code" in result ? (result.status_code ?? null) : null;
    const attemptOutcome = result.kind === "success" ? "succeeded" : result.kind === "waiting" ? "waiting" : "failed";
    return [
      this.db
        .update(attempts)
        .set({ completedAt: at, outcome: attemptOutcome, errorMsg: attemptError, statusCode, durationMs: duration })
        .where(and(eq(attempts.dispatchId, d.dispatch_id), eq(attempts.attempt, attempt))),
      this.rec(
        d,
        `${attempt}:attempt_recorded`,
        TOPICS.attempts,
        "attempt_recorded",
        { attempt, outcome: attemptOutcome, error: attemptError, status_code: statusCode, duration_ms: duration },
        at,
      ),
    ];
  }

  /** The end of one attempt and what the decision makes of it. */
  finished(
    d: DispatchIdentity,
    attempt: number,
    result: HandlerResult,
    decision: AttemptDecision,
    timing: { started_at: number; completed_at: number },
  ): Item[] {
    const at = iso(timing.completed_at);
    const items: Item[] = this.attemptEnded(d, attempt, result, timing);
    const nodeId = graphIds.dispatch(d, attempt);
    switch (decision.kind) {
      case "succeeded": {
        const outcome = outcomeOf(d, "succeeded", attempt, decision.result, null);
        items.push(
          this.setStatus(
            d,
            { status: "succeeded", result: JSON.stringify(decision.result ?? null), error: null, terminalAt: at },
            at,
          ),
          this.rec(d, "DispatchSucceeded", TOPICS.lifecycle, "DispatchSucceeded", outcome, at),
          this.rec(d, "dispatch_succeeded", TOPICS.outbox, "dispatch_succeeded", outcome, at),
          this.node(
            d,
            `dispatch:${attempt}:done`,
            { id: nodeId, kind: graphNodeKind(d.handler_kind), status: "succeeded", outcome: "succeeded" },
            at,
          ),
          ...this.resolveReplayedDlq(d, at),
        );
        break;
      }
      case "waiting": {
        const outcome = outcomeOf(d, "waiting", attempt, decision.result, null);
        items.push(
          this.setStatus(d, { status: "waiting", result: JSON.stringify(decision.result), terminalAt: at }, at),
          this.rec(d, "dispatch_waiting", TOPICS.outbox, "dispatch_waiting", outcome, at),
          this.node(
            d,
            `dispatch:${attempt}:done`,
            { id: nodeId, kind: graphNodeKind(d.handler_kind), status: "waiting", outcome: "waiting" },
            at,
          ),
        );
        break;
      }
      case "failed": {
        const outcome = outcomeOf(d, "failed", attempt, null, decision.error);
        items.push(
          this.setStatus(d, { status: "failed", error: decision.error, terminalAt: at }, at),
          this.rec(d, `${attempt}:DispatchFailed`, TOPICS.lifecycle, "DispatchFailed", outcome, at),
          this.rec(d, `${attempt}:dispatch_failed`, TOPICS.outbox, "dispatch_failed", outcome, at),
          this.node(
            d,
            `dispatch:${attempt}:done`,
            { id: nodeId, kind: graphNodeKind(d.handler_kind), status: "failed", outcome: "failed" },
            at,
          ),
        );
        break;
      }
      case "retry": {
        const failed = outcomeOf(d, "retry_scheduled", attempt, null, decision.error);
        const retry = { attempt: decision.nextAttempt, delay_ms: decision.delayMs, error: decision.error };
        const retryNode = graphIds.retry(d, decision.nextAttempt);
        items.push(
          this.setStatus(
            d,
            {
              status: "retry_scheduled",
              error: decision.error,
              nextAttemptAt: iso(timing.completed_at + decision.delayMs),
            },
            at,
          ),
          this.rec(d, `${attempt}:DispatchFailed`, TOPICS.lifecycle, "DispatchFailed", failed, at),
          this.rec(d, `${attempt}:dispatch_failed`, TOPICS.outbox, "dispatch_failed", failed, at),
          this.rec(d, `${decision.nextAttempt}:RetryScheduled`, TOPICS.lifecycle, "RetryScheduled", retry, at),
          this.rec(d, `${decision.nextAttempt}:retry_scheduled`, TOPICS.attempts, "retry_scheduled", retry, at),
          this.node(
            d,
            `dispatch:${attempt}:done`,
            { id: nodeId, kind: graphNodeKind(d.handler_kind), status: "failed", outcome: "retry" },
            at,
          ),
          this.node(
            d,
            `retry:${decision.nextAttempt}`,
            {
              id: retryNode,
              kind: "retry",
              label: `retry in ${decision.delayMs}ms`,
              status: "scheduled",
              metadata: retry,
            },
            at,
          ),
          this.edge(d, `retry-from:${decision.nextAttempt}`, { from: nodeId, to: retryNode, kind: "retry" }, at),
        );
        break;
      }
      case "dlq": {
        const failed = outcomeOf(d, "dlq", attempt, null, decision.error);
        items.push(
          this.rec(d, `${attempt}:DispatchFailed`, TOPICS.lifecycle, "DispatchFailed", failed, at),
          this.rec(d, `${attempt}:dispatch_failed`, TOPICS.outbox, "dispatch_failed", failed, at),
          this.node(
            d,
            `dispatch:${attempt}:done`,
            { id: nodeId, kind: graphNodeKind(d.handler_kind), status: "failed", outcome: "dlq" },
            at,
          ),
          ...this.deadLettered(
            d,
            attempt,
            decision.error,
            decision.errorClass,
            decision.reason,
            timing.completed_at,
            nodeId,
          ),
        );
        break;
      }
    }
    return items;
  }

  /** Terminal `dlq`: the DLQ row, DlqMoved and dlq_moved (also used by circuit and budget paths). */
  deadLettered(
    d: DispatchIdentity,
    attemptCount: number,
    error: string,
    errorClass: ErrorClass,
    reason: string,
    now: number,
    fromNode: string | null,
  ): Item[] {
    const at = iso(now);
    const outcome = { ...outcomeOf(d, "dlq", attemptCount, null, error), error_class: errorClass, reason };
    const items: Item[] = [
      this.setStatus(d, { status: "dlq", error, errorClass, attemptCount, terminalAt: at }, at),
      this.db
        .insert(dlqEntries)
        .values({
          id: newDlqId(now),
          dispatchId: d.dispatch_id,
          bindingKey: d.binding_key,
          bindingId: d.binding_id,
          eventId: d.event_id,
          tenantId: d.tenant_id,
          attemptCount,
          finalError: error,
          errorClass,
          reason,
          state: "pending",
          createdAt: at,
        })
        .onConflictDoNothing(),
      this.rec(d, "DlqMoved", TOPICS.lifecycle, "DlqMoved", outcome, at),
      this.rec(d, "dlq_moved", TOPICS.dlq, "dlq_moved", outcome, at),
      this.node(
        d,
        "dlq",
        {
          id: graphIds.dlq(d),
          kind: "dlq",
          label: reason,
          status: "dlq",
          metadata: { error, error_class: errorClass },
        },
        at,
      ),
    ];
    if (fromNode) items.push(this.edge(d, "dlq_move", { from: fromNode, to: graphIds.dlq(d), kind: "dlq_move" }, at));
    return items;
  }

  /** A successful DLQ replay resolves the entry it replayed (SPEC 13.5). */
  private resolveReplayedDlq(d: DispatchIdentity, at: string): Item[] {
    if (!d.dlq_id) return [];
    return [
      this.db
        .update(dlqEntries)
        .set({ state: "resolved", resolvedAt: at })
        .where(and(eq(dlqEntries.id, d.dlq_id), eq(dlqEntries.state, "pending"))),
      this.rec(d, "dlq_resolved", TOPICS.dlq, "dlq_resolved", { dlq_id: d.dlq_id, by: "replay" }, at),
    ];
  }

  /** A cancel request as received (SPEC 13.1), with the dispatch status at that moment. */
  cancelRequested(
    d: DispatchIdentity,
    request: { requested_by: string | null; reason: string | null },
    status: string,
    now: number,
  ): Item[] {
    const payload = { ...request, status_at_request: status };
    return [this.rec(d, `cancel:${now}`, TOPICS.cancel, "cancel_requested", payload, iso(now))];
  }

  /** Terminal `cancelled`; `dispatch_failed (cancelled)` on the outbox only where an attempt ran. */
  cancelled(d: DispatchIdentity, attemptCount: number, error: string, now: number): Item[] {
    const at = iso(now);
    const outcome = outcomeOf(d, "cancelled", attemptCount, null, error);
    const items: Item[] = [
      this.setStatus(
        d,
        { status: "cancelled", result: null, error, attemptCount, nextAttemptAt: null, terminalAt: at },
        at,
      ),
      this.rec(d, "cancel_applied", TOPICS.cancel, "cancel_applied", outcome, at),
      this.rec(d, "DispatchCancelled", TOPICS.lifecycle, "DispatchCancelled", outcome, at),
    ];
    if (attemptCount > 0) {
      items.push(this.rec(d, "dispatch_failed:cancelled", TOPICS.outbox, "dispatch_failed", outcome, at));
    }
    return items;
  }

  /** `POST …/complete` on a waiting dispatch (SPEC 13.2), recorded like any terminal outcome. */
  completed(
    d: DispatchIdentity,
    status: "succeeded" | "failed",
    attemptCount: number,
    result: unknown,
    error: string | null,
    now: number,
  ): Item[] {
    const at = iso(now);
    const outcome = { ...outcomeOf(d, status, attemptCount, result, error), completed: true };
    if (status === "succeeded") {
      return [
        this.setStatus(d, { status, result: JSON.stringify(result ?? null), error: null, terminalAt: at }, at),
        this.rec(d, "complete:DispatchSucceeded", TOPICS.lifecycle, "DispatchSucceeded", outcome, at),
        this.rec(d, "complete:dispatch_succeeded", TOPICS.outbox, "dispatch_succeeded", outcome, at),
        ...this.resolveReplayedDlq(d, at),
      ];
    }
    return [
      this.setStatus(d, { status, error, terminalAt: at }, at),
      this.rec(d, "complete:DispatchFailed", TOPICS.lifecycle, "DispatchFailed", outcome, at),
      this.rec(d, "complete:dispatch_failed", TOPICS.outbox, "dispatch_failed", outcome, at),
    ];
  }

  // ---- predicates, budgets and approvals (SPEC 7, 8) ----

  /**
   * One predicate evaluation: lifecycle `predicate.evaluated`, `predicate.invocation_budget_exceeded`
   * when a per-evaluation ceiling broke, and the `predicate` node gated from the trigger.
   */
  predicateEvaluated(d: DispatchIdentity, verdict: PredicateVerdict, predicate: string, now: number): Item[] {
    const at = iso(now);
    const payload = {
      predicate,
      result: verdict.result,
      reason: verdict.reason,
      cost_usd: verdict.cost_usd,
      tokens: verdict.tokens,
      latency_ms: verdict.latency_ms,
      cached: verdict.cached,
    };
    const items: Item[] = [
      this.rec(d, `predicate.evaluated:${now}`, TOPICS.lifecycle, "predicate.evaluated", payload, at),
    ];
    if (verdict.overrun) {
      items.push(
        this.rec(
          d,
          `predicate.invocation_budget_exceeded:${now}`,
          TOPICS.lifecycle,
          "predicate.invocation_budget_exceeded",
          { predicate, ...verdict.overrun, reason: verdict.reason, passed: verdict.result },
          at,
        ),
      );
    }
    items.push(
      ...this.predicateNode(d, verdict.failed ? "error" : verdict.result ? "passed" : "rejected", payload, at),
    );
    return items;
  }

  private predicateNode(d: DispatchIdentity, status: string, metadata: Record<string, unknown>, at: string): Item[] {
    const id = graphIds.predicate(d);
    return [
      this.node(d, "predicate", { id, kind: "predicate", label: `${d.binding_key} predicate`, status, metadata }, at),
      this.edge(d, "predicate_gate", { from: graphIds.trigger(d.event_id), to: id, kind: "predicate_gate" }, at),
    ];
  }

  /** Remembers a classifier's verdict for this event, so replays reuse it at no cost. */
  verdictCached(eventId: string, classifier: string, verdict: PredicateVerdict, now: number): Item[] {
    return [
      this.db
        .insert(predicateVerdicts)
        .values({
          eventId,
          classifier,
          pass: verdict.result,
          reason: verdict.reason,
          costUsd: verdict.cost_usd,
          tokens: verdict.tokens,
          createdAt: iso(now),
        })
        .onConflictDoNothing(),
    ];
  }

  /** An aggregate classifier budget is exhausted: lifecycle `predicate.budget_exceeded`. */
  budgetExceeded(
    d: DispatchIdentity,
    detail: {
      reason: string;
      strategy: string;
      spent_hour_usd: number;
      spent_day_usd: number;
      expected_cost_usd: number;
    },
    now: number,
  ): Item[] {
    const at = iso(now);
    return [
      this.rec(d, `predicate.budget_exceeded:${now}`, TOPICS.lifecycle, "predicate.budget_exceeded", detail, at),
      ...this.predicateNode(d, "budget_exceeded", detail, at),
    ];
  }

  /** `retry_later`: `waiting` with `{deferred, reason, retry_at}`, outbox `dispatch_skipped` (deferred). */
  deferred(d: DispatchIdentity, detail: { deferred: true; reason: string; retry_at: string }, now: number): Item[] {
    const at = iso(now);
    const outcome = outcomeOf(d, "waiting", 0, detail, null);
    return [
      this.setStatus(d, { status: "waiting", result: JSON.stringify(detail), attemptCount: 0 }, at),
      this.rec(
        d,
        `dispatch_skipped:deferred:${now}`,
        TOPICS.outbox,
        "dispatch_skipped",
        { ...outcome, skip_stage: "predicate", deferred: true, detail },
        at,
      ),
    ];
  }

  /** A deferred dispatch runs its stages again. */
  resumed(d: DispatchIdentity, now: number): Item[] {
    return [this.setStatus(d, { status: "pending", result: null }, iso(now))];
  }

  /**
   * An autonomy budget stops the dispatch (SPEC 8): `waiting` with the approval request, the request
   * row, lifecycle `autonomy.budget_exceeded`, `hitl.approvals` and the `approval` node.
   */
  approvalRequired(d: DispatchIdentity, request: ApprovalRequest, tier: string, now: number): Item[] {
    const at = iso(now);
    const outcome = outcomeOf(d, "waiting", 0, request, null);
    const node = graphIds.approval(d);
    return [
      this.setStatus(d, { status: "waiting", result: JSON.stringify(request), attemptCount: 0 }, at),
      this.db
        .insert(approvals)
        .values({
          id: request.request_id,
          dispatchId: d.dispatch_id,
          bindingKey: d.binding_key,
          bindingId: d.binding_id,
          eventId: d.event_id,
          tenantId: d.tenant_id,
          reason: request.reason,
          reviewers: JSON.stringify(request.reviewers),
          state: "pending",
          createdAt: at,
        })
        .onConflictDoNothing(),
      this.rec(
        d,
        `autonomy.budget_exceeded:${request.request_id}`,
        TOPICS.lifecycle,
        "autonomy.budget_exceeded",
        { reason: request.reason, tier, request_id: request.request_id },
        at,
      ),
      this.rec(d, `dispatch_waiting:${request.request_id}`, TOPICS.outbox, "dispatch_waiting", outcome, at),
      this.rec(d, `approval_requested:${request.request_id}`, TOPICS.approvals, "approval_requested", request, at),
      this.node(
        d,
        "approval",
        { id: node, kind: "approval", label: request.reason, status: "pending", metadata: { ...request } },
        at,
      ),
      this.edge(d, "approval_gate", { from: graphIds.trigger(d.event_id), to: node, kind: "approval_gate" }, at),
    ];
  }

  /** A reviewer approved or denied the request; approval resumes the dispatch, which is recorded by its stages. */
  approvalDecided(
    d: DispatchIdentity,
    requestId: string,
    decision: { approved: boolean; reviewer: string | null; reason: string | null },
    now: number,
  ): Item[] {
    const at = iso(now);
    const state = decision.approved ? "approved" : "denied";
    const payload = { request_id: requestId, state, reviewer: decision.reviewer, reason: decision.reason };
    const items: Item[] = [
      this.db
        .update(approvals)
        .set({ state, reviewer: decision.reviewer, decisionReason: decision.reason, decidedAt: at })
        .where(and(eq(approvals.id, requestId), eq(approvals.state, "pending"))),
      this.rec(d, `approval_${state}:${requestId}`, TOPICS.approvals, `approval_${state}`, payload, at),
      this.node(d, `approval:${state}`, { id: graphIds.approval(d), status: state, outcome: state }, at),
    ];
    if (decision.approved) items.push(this.setStatus(d, { status: "pending", result: null }, at));
    return items;
  }

  /** Terminal `failed` without an attempt of its own (an approval denied). */
  failedBeforeAttempt(d: DispatchIdentity, attemptCount: number, error: string, now: number): Item[] {
    const at = iso(now);
    const outcome = outcomeOf(d, "failed", attemptCount, null, error);
    return [
      this.setStatus(d, { status: "failed", error, terminalAt: at }, at),
      this.rec(d, "denied:DispatchFailed", TOPICS.lifecycle, "DispatchFailed", outcome, at),
      this.rec(d, "denied:dispatch_failed", TOPICS.outbox, "dispatch_failed", outcome, at),
    ];
  }

  /** Marks in-flight attempt rows of a dispatch that never reported as failed (lease expiry). */
  static leaseExpiredError = "attempt outcome unknown: lease expired";
}

/** Count of live dispatches of one binding version (used to finish draining). */
export function liveDispatchCount(db: Db, bindingKey: string) {
  return db
    .select({ n: sql<number>`count(*)` })
    .from(dispatches)
    .where(
      and(
        eq(dispatches.bindingKey, bindingKey),
        sql`${dispatches.status} in ('pending','admitted','running','retry_scheduled','held')`,
      ),
    );
}
