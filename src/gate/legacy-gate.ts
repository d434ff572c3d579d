/**
 * A BindingGate written by the earlier storage layout (dispatch rows in `gate_dispatches`, waits in
 * a `timers` table, dispatches mirrored into D1) moves over on its first activation: every dispatch
 * that is not final becomes a live document whose `legacy` transition says where it stood, its timer
 * comes along, and the old tables go. Trust records it had not sent yet are handed on afterwards.
 * Synchronous SQL, run once.
 */
import type { DispatchStatus } from "../contracts/dispatch";
import type { DispatchDoc, DispatchTimer, GateTimerKind } from "../contracts/dispatch-doc";
import type { TrustInput } from "../history/history-store";
import { iso } from "../lib/time";
import type { TrustFields } from "../trust/trust-view";

type OldRow = {
  dispatch_id: string;
  event_id: string;
  trace_id: string;
  tenant_id: string | null;
  replay_of_event_id: string | null;
  status: DispatchStatus;
  attempt: number;
  attempt_running: number;
  attempt_started_at: number | null;
  max_attempts: number;
  created_at: number;
  updated_at: number;
  terminal_at: number | null;
  cancel_requested: number | null;
  dlq_id: string | null;
  held_reason: string | null;
  batch_event_ids: string | null;
  tier: string | null;
  decision: string | null;
  approval_id: string | null;
};

const FINAL = new Set(["succeeded", "skipped", "dlq", "failed", "cancelled"]);
const TIMER_KINDS = new Set<GateTimerKind>(["attempt", "lease", "flow", "predicate"]);

function hasTable(sql: SqlStorage, name: string): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", name).toArray().length > 0;
}

export interface LegacyIdentity {
  binding_key: string;
  binding_id: string;
  binding_version: number;
  handler_kind: string;
  target_uri: string;
}

/** Converts the old tables into live documents (returned, not yet written) and drops them. */
export function convertLegacyGate(sql: SqlStorage, identity: LegacyIdentity | null): DispatchDoc[] {
  if (!hasTable(sql, "gate_dispatches")) return [];
  const docs: DispatchDoc[] = [];
  if (identity) {
    const timers = new Map<string, DispatchTimer>();
    if (hasTable(sql, "timers")) {
      for (const t of sql.exec<{ due_at: number; kind: string; dispatch_id: string; attempt: number }>(
        "SELECT due_at, kind, dispatch_id, attempt FROM timers ORDER BY due_at",
      )) {
        const kind = t.kind as GateTimerKind;
        if (TIMER_KINDS.has(kind) && !timers.has(t.dispatch_id)) {
          timers.set(t.dispatch_id, { kind, at: t.due_at, attempt: t.attempt });
        }
      }
    }
    for (const row of sql.exec<OldRow>("SELECT * FROM gate_dispatches")) {
      if (FINAL.has(row.status)) continue;
      docs.push({
        ...identity,
        dispatch_id: row.dispatch_id,
        event_id: row.event_id,
        trace_id: row.trace_id,
        tenant_id: row.tenant_id,
        replay_of_event_id: row.replay_of_event_id,
        dlq_id: row.dlq_id,
        status: row.status,
        attempt: row.attempt,
        attempt_running: row.attempt_running === 1,
        attempt_started_at: row.attempt_started_at,
        max_attempts: row.max_attempts,
        cancel_requested: row.cancel_requested === 1,
        held_reason: row.held_reason,
        batch_event_ids: row.batch_event_ids ? (JSON.parse(row.batch_event_ids) as string[]) : null,
        tier: row.tier ?? "act_auto",
        decision: row.decision,
        approval_id: row.approval_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
        terminal_at: row.terminal_at,
        timer: timers.get(row.dispatch_id) ?? null,
        log: [
          {
            op: "legacy",
            at: row.updated_at,
            status: row.status,
            attempt_count: row.attempt,
            result: null,
            error: null,
            error_class: null,
            next_attempt_at: null,
            terminal_at: row.terminal_at === null ? null : iso(row.terminal_at),
            attempts: [],
          },
        ],
      });
    }
  }
  sql.exec("DROP TABLE IF EXISTS gate_dispatches");
  sql.exec("DROP TABLE IF EXISTS timers");
  return docs;
}

/** Trust records the old gate queued for its ledger and had not sent, oldest first. */
export function pendingLegacyTrust(sql: SqlStorage): { seq: number; record: TrustInput }[] {
  if (!hasTable(sql, "trust_outbox")) return [];
  return sql
    .exec<{ seq: number; item: string }>("SELECT seq, item FROM trust_outbox ORDER BY seq")
    .toArray()
    .map((row) => {
      const item = JSON.parse(row.item) as TrustFields & { metadata_json: string; at: number };
      return {
        seq: row.seq,
        record: {
          record_key: item.record_key,
          binding_id: item.binding_id,
          tenant_id: item.tenant_id,
          action: item.action,
          outcome: item.outcome,
          tier: item.tier,
          metadata: JSON.parse(item.metadata_json) as unknown,
          at: iso(item.at),
        },
      };
    });
}
