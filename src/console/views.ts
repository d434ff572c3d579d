/** The `/v1` answer shapes the console reads, named after the modules that build them (SPEC 19). */
import type { BindingVersionView } from "../bindings/binding-service";
import type { CircuitItem } from "../circuit/contract";
import type { AttemptView, DispatchOutcome } from "../contracts/dispatch";
import type { TriggerEvent } from "../contracts/events";
import type { dlqDetail, dlqSummary } from "../db/dlq-repo";
import type { RecordView } from "../dispatch/dispatch-view";
import type { FlowGateSnapshot } from "../flow/flow-types";

export type { ApprovalView as ApprovalItem } from "../contracts/approvals";
export type { ActionGraph } from "../observability/action-graph";
export type { CircuitItem, TriggerEvent };

export interface ListPage<T> {
  items: T[];
  next_cursor: string | null;
}

export type Outcome = DispatchOutcome & { error_class?: string | null };

export interface DispatchDetail extends Outcome {
  attempts: AttemptView[];
  created_at: string;
  updated_at: string;
  trace_id: string;
}

export interface EventDetail {
  event: TriggerEvent;
  dispatches: Outcome[];
}

export type DlqItem = ReturnType<typeof dlqSummary>;
export type DlqEntry = Awaited<ReturnType<typeof dlqDetail>>;

export interface BulkReplay {
  dry_run: boolean;
  count: number;
  items: string[];
}

export interface BindingItem {
  id: string;
  paused: boolean;
  versions: Omit<BindingVersionView, "id">[];
}

export interface GateStats {
  binding_key: string;
  state: string;
  in_flight: number;
  scheduled_retries: number;
  held: number;
  paused: boolean;
  gates: FlowGateSnapshot[];
}

export interface Stats {
  in_flight: number;
  scheduled_retries: number;
  held?: number;
  dlq_depth: number;
  bindings: GateStats[];
}

/** A record as `GET /v1/records` answers it: its view, numbered. */
export type RecordItem = { seq: number } & Omit<RecordView, "order">;
