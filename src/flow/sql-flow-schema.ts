/**
 * The tables of `SqlFlowStore` in a BindingGate's SQLite and how a wait row reads back. `FLOW_SCHEMA`
 * is applied on activation; `migrateFlowSchema` also adds what later versions added to older gates.
 *
 * - `flow_log (primitive, gate, at)` — one row per admission through rate_limit/throttle.
 *   Example: `('rate_limit', 'triage@v2:acme', 1764136800000)`.
 *   Retention: each gate's rows older than its period are deleted whenever the gate is touched;
 *   `FlowControl.sweep` deletes them for every gate (older than the primitive's period).
 * - `flow_leases (primitive, gate, dispatch_id, acquired_at)` — ordering/singleton/concurrency holders.
 *   Example: `('concurrency', 'triage@v2:_global', 'd_01J…', 1764136800000)`.
 *   Retention: deleted by `release` (every terminal status, cancellation, `waiting`); `sweep(now, isLive)`
 *   removes any left behind by dispatches that are no longer live.
 * - `flow_waits (seq, dispatch_id, primitive, gate, rank, arrived_at, due, eta, event_id, plan)` — one row
 *   per dispatch held in flow control; queue order (rank, seq). `plan` is JSON: the gates still ahead of
 *   it and its priority rank. Example: `(7, 'd_01J…', 'concurrency', 'triage@v2:_global', 0, 1764136800000,
 *   NULL, NULL, 'evt_…', '{"gates":{"concurrency":"triage@v2:_global"},"rank":0}')`.
 *   Retention: deleted when the dispatch moves on, ends, or is released/swept.
 * - `flow_lines (gate, seq, last_rank, blocked_by)` — one row per ordering key (SPEC 9.7): the last
 *   start's sequence number, the latest `received_at` started, the failure blocking the line.
 */
import type { FlowPlan, FlowWait, WaitCarry, WaitPrimitive } from "./flow-store";

export const FLOW_SCHEMA = `CREATE TABLE IF NOT EXISTS flow_log (
     primitive TEXT NOT NULL,
     gate TEXT NOT NULL,
     at INTEGER NOT NULL
   );
   CREATE INDEX IF NOT EXISTS flow_log_gate_at ON flow_log(primitive, gate, at);
   CREATE INDEX IF NOT EXISTS flow_log_at ON flow_log(primitive, at);
   CREATE TABLE IF NOT EXISTS flow_leases (
     primitive TEXT NOT NULL,
     gate TEXT NOT NULL,
     dispatch_id TEXT NOT NULL,
     acquired_at INTEGER NOT NULL,
     PRIMARY KEY (primitive, gate, dispatch_id)
   );
   CREATE INDEX IF NOT EXISTS flow_leases_dispatch ON flow_leases(dispatch_id);
   CREATE TABLE IF NOT EXISTS flow_waits (
     seq INTEGER PRIMARY KEY,
     dispatch_id TEXT NOT NULL UNIQUE,
     primitive TEXT NOT NULL,
     gate TEXT NOT NULL,
     rank INTEGER NOT NULL,
     arrived_at INTEGER NOT NULL,
     due INTEGER,
     eta INTEGER,
     event_id TEXT NOT NULL,
     plan TEXT NOT NULL,
     carry TEXT
   );
   CREATE INDEX IF NOT EXISTS flow_waits_queue ON flow_waits(primitive, gate, rank, seq);
   CREATE TABLE IF NOT EXISTS flow_lines (
     gate TEXT PRIMARY KEY,
     seq INTEGER NOT NULL,
     last_rank INTEGER NOT NULL,
     blocked_by TEXT
   );
   CREATE INDEX IF NOT EXISTS flow_lines_blocked ON flow_lines(blocked_by) WHERE blocked_by IS NOT NULL;`;

export type WaitRow = Omit<FlowWait, "plan" | "primitive" | "carry"> & {
  primitive: string;
  plan: string;
  carry: string | null;
};

/** Creates the tables, and adds what later versions added to tables an earlier version created. */
export function migrateFlowSchema(sql: SqlStorage): void {
  sql.exec(FLOW_SCHEMA);
  const columns = sql.exec<{ name: string }>("PRAGMA table_info(flow_waits)").toArray();
  if (!columns.some((c) => c.name === "carry")) sql.exec("ALTER TABLE flow_waits ADD COLUMN carry TEXT");
}

export function toWait(row: WaitRow | undefined): FlowWait | null {
  if (!row) return null;
  return {
    seq: row.seq,
    dispatch_id: row.dispatch_id,
    primitive: row.primitive as WaitPrimitive,
    gate: row.gate,
    rank: row.rank,
    arrived_at: row.arrived_at,
    due: row.due,
    eta: row.eta,
    event_id: row.event_id,
    plan: JSON.parse(row.plan) as FlowPlan,
    carry: row.carry ? (JSON.parse(row.carry) as WaitCarry) : null,
  };
}

export const WAIT_COLUMNS = "seq, dispatch_id, primitive, gate, rank, arrived_at, due, eta, event_id, plan, carry";
