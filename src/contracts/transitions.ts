/**
 * The compact transition log of one dispatch (docs/scale.md): what the BindingGate appends at each
 * step of SPEC 6, stored with the dispatch (live row, then its History entry). Records, the action
 * graph, attempts and the outcome object are derived from it on read (`dispatch/dispatch-log.ts`).
 * Times are epoch ms.
 */
import type { AttemptDecision } from "../dispatch/attempt-decision";
import type { PredicateVerdict } from "../predicates/verdict";
import type { AttemptView, DispatchStatus, HandlerResult } from "./dispatch";
import type { ErrorClass } from "./dlq";

/** An approval request as the dispatch result and the approvals API show it (SPEC 8, 19). */
export interface ApprovalRequest {
  approval_required: true;
  request_id: string;
  reason: string;
  reviewers: string[];
}

export interface BudgetExceededDetail {
  reason: string;
  strategy: string;
  spent_hour_usd: number;
  spent_day_usd: number;
  expected_cost_usd: number;
}

/**
 * `s` orders the transitions one gate logged within the same millisecond (across its dispatches),
 * so records derived later keep the gate's causal order.
 */
export type Transition = TransitionBody & { s?: number };

type TransitionBody =
  /** SPEC 6 step 1; `admitted` when the gate admitted it in the same step. */
  | { op: "created"; at: number; status: "pending" | "admitted" }
  | { op: "skipped"; at: number; stage: "predicate" | "flow_control"; detail: Record<string, unknown> }
  /** A stage decision recorded on its own topic (e.g. `trigger.throttle.<gate>`). */
  | { op: "audit"; at: number; topic: string; kind: string; payload: unknown }
  /** A live status change with no record of its own; `result` absent keeps the shown result. */
  | { op: "status"; at: number; status: DispatchStatus; result?: unknown }
  | { op: "started"; at: number; attempt: number }
  /** An attempt that ended without a decision of its own (a cancel request aborted it). */
  | { op: "attempt_ended"; attempt: number; result: HandlerResult; started_at: number; completed_at: number }
  | {
      op: "finished";
      attempt: number;
      result: HandlerResult;
      decision: AttemptDecision;
      started_at: number;
      completed_at: number;
    }
  | {
      op: "dead_lettered";
      at: number;
      attempt_count: number;
      error: string;
      error_class: ErrorClass;
      reason: string;
      from_node: string | null;
    }
  | {
      op: "cancel_requested";
      at: number;
      requested_by: string | null;
      reason: string | null;
      status: string;
    }
  | { op: "cancelled"; at: number; attempt_count: number; error: string }
  | {
      op: "completed";
      at: number;
      status: "succeeded" | "failed";
      attempt_count: number;
      result: unknown;
      error: string | null;
      /** Ended by a followed A2A task rather than `POST …/complete`. */
      by?: "a2a_task";
    }
  /** A followed A2A task was seen in a new state (SPEC 12.2); `result` is the handle shown meanwhile. */
  | { op: "a2a_task"; at: number; attempt: number; task_id: string; state: string; result: unknown }
  | { op: "predicate_evaluated"; at: number; verdict: PredicateVerdict; predicate: string }
  | { op: "budget_exceeded"; at: number; detail: BudgetExceededDetail }
  | { op: "deferred"; at: number; detail: { deferred: true; reason: string; retry_at: string } }
  | { op: "resumed"; at: number }
  | { op: "approval_required"; at: number; request: ApprovalRequest; tier: string }
  | {
      op: "approval_decided";
      at: number;
      request_id: string;
      approved: boolean;
      reviewer: string | null;
      reason: string | null;
    }
  | { op: "failed_before_attempt"; at: number; attempt_count: number; error: string }
  /**
   * Where a dispatch of the earlier storage layout (mirrored into D1) stood when it was read or
   * moved over: its outcome and attempts as D1 had them. Its records stay in D1's records table.
   */
  | {
      op: "legacy";
      at: number;
      status: DispatchStatus;
      attempt_count: number;
      result: unknown;
      error: string | null;
      error_class: string | null;
      next_attempt_at: string | null;
      terminal_at: string | null;
      attempts: AttemptView[];
    };

export type TransitionOp = Transition["op"];

/** Time of a transition (attempt ends carry their completion time). */
export function transitionTime(t: Transition): number {
  return "at" in t ? t.at : t.completed_at;
}
