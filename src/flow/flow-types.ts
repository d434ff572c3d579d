/**
 * The shapes of flow control's answers (SPEC 9): what a call decides for its dispatch (`FlowOutcome`),
 * what it did to others (`FlowTransition`), the audit records it produced, and the `/v1/stats`
 * snapshot of its gates. The engine (`flow-control.ts`) and the gate that applies its decisions share
 * them.
 */
import { FLOW_PRIMITIVE_NAMES, type FlowControlSpec } from "../contracts/binding-spec";
import type { FlowBatch, FlowLease, FlowPrimitive, FlowStore, WaitPrimitive } from "./flow-store";

export type { FlowBatch };

/** The chain, in the order a dispatch passes it (SPEC 9). */
export const FLOW_PRIMITIVES: readonly FlowPrimitive[] = FLOW_PRIMITIVE_NAMES;

export const primitiveIndex = (p: FlowPrimitive) => FLOW_PRIMITIVES.indexOf(p);

export type FlowSkipReason = "batch_merged" | "debounced" | "rate_limited" | "singleton_active" | "key_error";

/** A dispatch's place in its ordering line (SPEC 9.7): the envelope's `ordering`. */
export interface OrderingStart {
  key: string;
  seq: number;
}

export type FlowOutcome =
  | {
      kind: "admit";
      leases: FlowLease[];
      batch: FlowBatch | null;
      /** Its place in an ordering line, when the binding orders. */
      ordering?: OrderingStart | null;
    }
  | {
      kind: "skip";
      reason: FlowSkipReason;
      primitive: FlowPrimitive;
      gate: string | null;
      error: string | null;
      /** The stacked limit that was full (SPEC 9.3); absent for a single limit. */
      limit_index?: number;
    }
  | {
      kind: "wait";
      primitive: WaitPrimitive;
      gate: string;
      until: number | null;
      eta: number | null;
      /** Its ordering line is held behind a failure (`on_failure: "block"`). */
      blocked?: boolean;
    }
  | { kind: "none" };

export type FlowTransitionCause =
  | "superseded" // debounce: a later arrival replaced it → skip debounced
  | "batch_flushed" // batch: its group flushed → leader admit, followers skip batch_merged
  | "leader_promoted" // batch: the leader left, this member now leads → wait until the deadline
  | "woken" // throttle / ordering / concurrency slot taken → continues (admit, or skip/wait further on)
  | "head_changed" // throttle: it became the head → wait until its slot; ordering: until its deadline
  | "released" // sweep: its dispatch was no longer live → nothing to apply
  | "line_blocked" // ordering: a failure holds its line → wait, blocked
  | "line_unblocked"; // ordering: the failure was resolved, it waits on for its turn

export interface FlowTransition {
  dispatch_id: string;
  cause: FlowTransitionCause;
  outcome: FlowOutcome;
}

export interface FlowAudit {
  /** `trigger.<primitive>.<gate with [^A-Za-z0-9._-] → _>` */
  topic: string;
  kind: string;
  dispatch_id: string;
  payload: Record<string, unknown>;
}

export interface FlowEffects {
  others: FlowTransition[];
  audit: FlowAudit[];
}

export type FlowDecision = FlowOutcome & FlowEffects;

export interface FlowAdmitInput {
  dispatchId: string;
  eventId: string;
  /** The event JSON; CEL keys see it as `event`. */
  event: unknown;
  now: number;
  /** An operator's replay: it does not wait in an ordering line (SPEC 9.7). */
  replay?: boolean;
}

export interface FlowGateSnapshot {
  primitive: FlowPrimitive;
  gate: string;
  /** max (rate_limit, throttle, concurrency), size (batch), 1 (singleton), null (debounce). */
  limit: number | null;
  /** Admissions inside the current window (rate_limit, throttle). */
  window: number | null;
  /** Leases held (singleton, concurrency). */
  active: number | null;
  holders: string[];
  /** Dispatches waiting (throttle/concurrency queue, batch members, debounce latest). */
  waiting: number;
  /** Head waiter (batch leader, debounce latest). */
  head: string | null;
  /** Head's timer (batch deadline, debounce until, throttle slot, ordering deadline or watermark check). */
  due: number | null;
  /** Ordering: the failed dispatch holding the line (`on_failure: "block"`), else null. */
  blocked_by: string | null;
}

export interface FlowSnapshot {
  gates: FlowGateSnapshot[];
  total: number;
  truncated: boolean;
}

export interface FlowControlOptions {
  bindingKey: string;
  flow: FlowControlSpec | null | undefined;
  store: FlowStore;
  /**
   * Ordering (SPEC 9.7): the time up to which every accepted event that could match the binding has
   * been routed (ms), or null when unknown. Without it, a line waits `reorder_window` for stragglers.
   */
  routedThrough?: () => number | null;
  /** With a watermark: a waiting head re-checks it this often until its `reorder_window` ends. */
  watermarkPollMs?: number;
}
