/**
 * One dispatch as it is stored: the BindingGate's live row while it runs, then its History entry
 * (docs/storage-schema.md). Everything the API shows about a dispatch derives from this document.
 */
import type { A2aFollow, DispatchStatus } from "./dispatch";
import type { Transition } from "./transitions";

export type GateTimerKind = "attempt" | "lease" | "flow" | "predicate" | "a2a";

/** A waiting dispatch whose A2A task is polled (SPEC 12.2): the task, and the backoff so far. */
export interface A2aFollowState extends A2aFollow {
  /** The task state last seen, as the agent spelled it. */
  state: string;
  /** Epoch ms past which Switchyard cancels the task and fails the dispatch (`a2a.follow_for`). */
  until: number;
  /** The wait before the next poll (1 s doubling to 60 s). */
  delay_ms: number;
  /** The attempt that started the task. */
  attempt: number;
}

export interface DispatchTimer {
  kind: GateTimerKind;
  at: number;
  attempt: number;
}

/** Which dispatch this is: its binding version, event and trace (every record of it carries these). */
export interface DispatchKey {
  dispatch_id: string;
  binding_key: string;
  binding_id: string;
  binding_version: number;
  event_id: string;
  trace_id: string;
  tenant_id: string | null;
  replay_of_event_id: string | null;
}

export interface DispatchDoc extends DispatchKey {
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
   * Why a dispatch rests: `paused`, `circuit`, `flow`, `ordering_blocked` (held); `classifying`
   * (pending); `deferred`, `approval` (waiting).
   */
  held_reason: string | null;
  /** A batch leader's member event ids, leader first. */
  batch_event_ids: string[] | null;
  /** Its place in an ordering line (SPEC 9.7), once it started there; the envelope carries it. */
  ordering?: { key: string; seq: number } | null;
  /** The effective autonomy tier when the dispatch was created. */
  tier: string;
  /** `act_auto` bookkeeping: `counted` once admitted past flow control, `approved` by a reviewer. */
  decision: string | null;
  approval_id: string | null;
  created_at: number;
  updated_at: number;
  terminal_at: number | null;
  /** The A2A task a `waiting` dispatch follows (absent on documents written before it existed). */
  a2a_follow?: A2aFollowState | null;
  /** The one timer this dispatch waits for, if any. */
  timer: DispatchTimer | null;
  log: Transition[];
}
