/**
 * One dispatch as it is stored: the BindingGate's live row while it runs, then its History entry
 * (docs/storage-schema.md). Everything the API shows about a dispatch derives from this document.
 */
import type { DispatchStatus } from "./dispatch";
import type { Transition } from "./transitions";

export type GateTimerKind = "attempt" | "lease" | "flow" | "predicate";

export interface DispatchTimer {
  kind: GateTimerKind;
  at: number;
  attempt: number;
}

export interface DispatchDoc {
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
  dlq_id: string | null;
  status: DispatchStatus;
  /** The attempt claimed last (0 before the first). */
  attempt: number;
  attempt_running: boolean;
  attempt_started_at: number | null;
  max_attempts: number;
  cancel_requested: boolean;
  /**
   * Why a dispatch rests: `paused`, `circuit`, `flow` (held); `classifying` (pending); `deferred`,
   * `approval` (waiting).
   */
  held_reason: string | null;
  /** A batch leader's member event ids, leader first. */
  batch_event_ids: string[] | null;
  /** The effective autonomy tier when the dispatch was created. */
  tier: string;
  /** `act_auto` bookkeeping: `counted` once admitted past flow control, `approved` by a reviewer. */
  decision: string | null;
  approval_id: string | null;
  created_at: number;
  updated_at: number;
  terminal_at: number | null;
  /** The one timer this dispatch waits for, if any. */
  timer: DispatchTimer | null;
  log: Transition[];
}
