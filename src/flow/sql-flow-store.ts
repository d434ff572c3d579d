/**
 * `FlowStore` over Durable Object SQLite (`ctx.storage.sql`), used by BindingGate. Every method is one
 * or two synchronous statements on indexed columns.
 *
 * Schema (`FLOW_SCHEMA`, applied once as an entry of the gate's migration list):
 *
 * - `flow_log (primitive, gate, at)` — one row per admission through rate_limit/throttle.
 *   Example: `('rate_limit', 'triage@v2:acme', 1764136800000)`.
 *   Retention: each gate's rows older than its period are deleted whenever the gate is touched;
 *   `FlowControl.sweep` deletes them for every gate (older than the primitive's period).
 * - `flow_leases (primitive, gate, dispatch_id, acquired_at)` — singleton/concurrency holders.
 *   Example: `('concurrency', 'triage@v2:_global', 'd_01J…', 1764136800000)`.
 *   Retention: deleted by `release` (every terminal status, cancellation, `waiting`); `sweep(now, isLive)`
 *   removes any left behind by dispatches that are no longer live.
 * - `flow_waits (seq, dispatch_id, primitive, gate, rank, arrived_at, due, eta, event_id, plan)` — one row
 *   per dispatch held in flow control; queue order (rank, seq). `plan` is JSON: the gates still ahead of
 *   it and its priority rank. Example: `(7, 'd_01J…', 'concurrency', 'triage@v2:_global', 0, 1764136800000,
 *   NULL, NULL, 'evt_…', '{"gates":{"concurrency":"triage@v2:_global"},"rank":0}')`.
 *   Retention: deleted when the dispatch moves on, ends, or is released/swept.
 */
import type {
  FlowLease,
  FlowPlan,
  FlowStore,
  FlowStoreSummary,
  FlowWait,
  LeasePrimitive,
  LeaseRequest,
  LogPrimitive,
  OrderingLine,
  WaitCarry,
  WaitPrimitive,
} from "./flow-store";

/** DDL for the flow-control tables; idempotent. */
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

type WaitRow = Omit<FlowWait, "plan" | "primitive" | "carry"> & {
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

function toWait(row: WaitRow | undefined): FlowWait | null {
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

const WAIT_COLUMNS = "seq, dispatch_id, primitive, gate, rank, arrived_at, due, eta, event_id, plan, carry";

export class SqlFlowStore implements FlowStore {
  private readonly sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.sql = sql;
  }

  /** Creates the tables (for callers without a migration list, e.g. tests). */
  ensureSchema(): void {
    migrateFlowSchema(this.sql);
  }

  private count(query: string, ...bindings: SqlStorageValue[]): number {
    return this.sql.exec<{ n: number }>(query, ...bindings).one().n;
  }

  // ---- sliding logs ----

  logAdd(primitive: LogPrimitive, gate: string, at: number): void {
    this.sql.exec("INSERT INTO flow_log (primitive, gate, at) VALUES (?, ?, ?)", primitive, gate, at);
  }

  logWindow(primitive: LogPrimitive, gate: string, since: number): { count: number; stale: number } {
    const row = this.sql
      .exec<{ total: number; stale: number | null }>(
        "SELECT COUNT(*) AS total, SUM(at <= ?) AS stale FROM flow_log WHERE primitive = ? AND gate = ?",
        since,
        primitive,
        gate,
      )
      .one();
    const stale = row.stale ?? 0;
    return { count: row.total - stale, stale };
  }

  logNth(primitive: LogPrimitive, gate: string, since: number, index: number): number | null {
    if (index < 0) return null;
    const row = this.sql
      .exec<{ at: number }>(
        "SELECT at FROM flow_log WHERE primitive = ? AND gate = ? AND at > ? ORDER BY at LIMIT 1 OFFSET ?",
        primitive,
        gate,
        since,
        index,
      )
      .toArray()[0];
    return row ? row.at : null;
  }

  logPrune(primitive: LogPrimitive, gate: string, before: number): void {
    this.sql.exec("DELETE FROM flow_log WHERE primitive = ? AND gate = ? AND at <= ?", primitive, gate, before);
  }

  logRetain(primitive: LogPrimitive, before: number): void {
    this.sql.exec("DELETE FROM flow_log WHERE primitive = ? AND at <= ?", primitive, before);
  }

  logOldest(primitive: LogPrimitive): number | null {
    const row = this.sql
      .exec<{ at: number | null }>("SELECT MIN(at) AS at FROM flow_log WHERE primitive = ?", primitive)
      .one();
    return row.at;
  }

  // ---- leases ----

  leaseAdd(primitive: LeasePrimitive, gate: string, dispatchId: string, at: number): void {
    this.sql.exec(
      "INSERT INTO flow_leases (primitive, gate, dispatch_id, acquired_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
      primitive,
      gate,
      dispatchId,
      at,
    );
  }

  leaseTryAcquire(r: LeaseRequest): boolean {
    const inserted = this.sql
      .exec(
        `INSERT INTO flow_leases (primitive, gate, dispatch_id, acquired_at)
         SELECT ?1, ?2, ?3, ?4
         WHERE (SELECT COUNT(*) FROM flow_leases WHERE primitive = ?1 AND gate = ?2) < ?5
           AND (?6 = 0 OR NOT EXISTS (SELECT 1 FROM flow_waits WHERE primitive = ?1 AND gate = ?2))
         ON CONFLICT DO NOTHING
         RETURNING dispatch_id`,
        r.primitive,
        r.gate,
        r.dispatch_id,
        r.at,
        r.max,
        r.unless_waiters ? 1 : 0,
      )
      .toArray();
    return inserted.length > 0;
  }

  leaseRemove(primitive: LeasePrimitive, gate: string, dispatchId: string): void {
    this.sql.exec(
      "DELETE FROM flow_leases WHERE primitive = ? AND gate = ? AND dispatch_id = ?",
      primitive,
      gate,
      dispatchId,
    );
  }

  leaseReleaseAll(dispatchId: string): FlowLease[] {
    return this.sql
      .exec<{ primitive: string; gate: string }>(
        "DELETE FROM flow_leases WHERE dispatch_id = ? RETURNING primitive, gate",
        dispatchId,
      )
      .toArray()
      .map((r) => ({ primitive: r.primitive as LeasePrimitive, gate: r.gate }))
      .sort((a, b) => (a.primitive === b.primitive ? 0 : a.primitive === "singleton" ? -1 : 1));
  }

  leaseCount(primitive: LeasePrimitive, gate: string): number {
    return this.count("SELECT COUNT(*) AS n FROM flow_leases WHERE primitive = ? AND gate = ?", primitive, gate);
  }

  leaseHolders(primitive: LeasePrimitive, gate: string): string[] {
    return this.sql
      .exec<{ dispatch_id: string }>(
        "SELECT dispatch_id FROM flow_leases WHERE primitive = ? AND gate = ? ORDER BY acquired_at, rowid",
        primitive,
        gate,
      )
      .toArray()
      .map((r) => r.dispatch_id);
  }

  leasesOf(dispatchId: string): FlowLease[] {
    return this.sql
      .exec<{ primitive: string; gate: string }>(
        "SELECT primitive, gate FROM flow_leases WHERE dispatch_id = ? ORDER BY rowid",
        dispatchId,
      )
      .toArray()
      .map((r) => ({ primitive: r.primitive as LeasePrimitive, gate: r.gate }));
  }

  // ---- waits ----

  waitAdd(wait: Omit<FlowWait, "seq">): FlowWait {
    const row = this.sql
      .exec<{ seq: number }>(
        `INSERT INTO flow_waits (dispatch_id, primitive, gate, rank, arrived_at, due, eta, event_id, plan, carry)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
        wait.dispatch_id,
        wait.primitive,
        wait.gate,
        wait.rank,
        wait.arrived_at,
        wait.due,
        wait.eta,
        wait.event_id,
        JSON.stringify(wait.plan),
        wait.carry ? JSON.stringify(wait.carry) : null,
      )
      .one();
    return { ...wait, carry: wait.carry ?? null, seq: row.seq };
  }

  waitGet(dispatchId: string): FlowWait | null {
    return toWait(
      this.sql.exec<WaitRow>(`SELECT ${WAIT_COLUMNS} FROM flow_waits WHERE dispatch_id = ?`, dispatchId).toArray()[0],
    );
  }

  waitSetDue(dispatchId: string, due: number | null, eta: number | null): void {
    this.sql.exec("UPDATE flow_waits SET due = ?, eta = ? WHERE dispatch_id = ?", due, eta, dispatchId);
  }

  waitRemove(dispatchId: string): void {
    this.sql.exec("DELETE FROM flow_waits WHERE dispatch_id = ?", dispatchId);
  }

  waitAt(primitive: WaitPrimitive, gate: string, index: number): FlowWait | null {
    if (index < 0) return null;
    return toWait(
      this.sql
        .exec<WaitRow>(
          `SELECT ${WAIT_COLUMNS} FROM flow_waits WHERE primitive = ? AND gate = ? ORDER BY rank, seq LIMIT 1 OFFSET ?`,
          primitive,
          gate,
          index,
        )
        .toArray()[0],
    );
  }

  waitCount(primitive: WaitPrimitive, gate: string): number {
    return this.count("SELECT COUNT(*) AS n FROM flow_waits WHERE primitive = ? AND gate = ?", primitive, gate);
  }

  waitPosition(wait: FlowWait): number {
    return this.count(
      `SELECT COUNT(*) AS n FROM flow_waits
       WHERE primitive = ? AND gate = ? AND (rank < ? OR (rank = ? AND seq < ?))`,
      wait.primitive,
      wait.gate,
      wait.rank,
      wait.rank,
      wait.seq,
    );
  }

  waitList(primitive: WaitPrimitive, gate: string): FlowWait[] {
    return this.sql
      .exec<WaitRow>(
        `SELECT ${WAIT_COLUMNS} FROM flow_waits WHERE primitive = ? AND gate = ? ORDER BY rank, seq`,
        primitive,
        gate,
      )
      .toArray()
      .map((r) => toWait(r) as FlowWait);
  }

  // ---- maintenance and stats ----

  // ---- ordering lines ----

  lineGet(gate: string): OrderingLine | null {
    return (
      this.sql
        .exec<{ seq: number; last_rank: number; blocked_by: string | null }>(
          "SELECT seq, last_rank, blocked_by FROM flow_lines WHERE gate = ?",
          gate,
        )
        .toArray()[0] ?? null
    );
  }

  lineSet(gate: string, line: OrderingLine): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO flow_lines (gate, seq, last_rank, blocked_by) VALUES (?, ?, ?, ?)",
      gate,
      line.seq,
      line.last_rank,
      line.blocked_by,
    );
  }

  lineBlockedBy(dispatchId: string): string | null {
    const row = this.sql
      .exec<{ gate: string }>("SELECT gate FROM flow_lines WHERE blocked_by = ?", dispatchId)
      .toArray();
    return row[0]?.gate ?? null;
  }

  linesBlocked(): Array<{ gate: string; blocked_by: string }> {
    return this.sql
      .exec<{ gate: string; blocked_by: string }>(
        "SELECT gate, blocked_by FROM flow_lines WHERE blocked_by IS NOT NULL ORDER BY gate",
      )
      .toArray();
  }

  waitGates(primitive: WaitPrimitive): string[] {
    return this.sql
      .exec<{ gate: string }>("SELECT DISTINCT gate FROM flow_waits WHERE primitive = ? ORDER BY gate", primitive)
      .toArray()
      .map((r) => r.gate);
  }

  tracks(dispatchId: string): boolean {
    return (
      this.sql
        .exec<{ k: number }>(
          `SELECT EXISTS (SELECT 1 FROM flow_waits WHERE dispatch_id = ?1)
             OR EXISTS (SELECT 1 FROM flow_leases WHERE dispatch_id = ?1) AS k`,
          dispatchId,
        )
        .one().k === 1
    );
  }

  carries(): WaitCarry[] {
    return this.sql
      .exec<{ carry: string }>("SELECT carry FROM flow_waits WHERE carry IS NOT NULL")
      .toArray()
      .map((r) => JSON.parse(r.carry) as WaitCarry);
  }

  dispatchIds(): string[] {
    return this.sql
      .exec<{ dispatch_id: string }>(
        "SELECT dispatch_id FROM flow_waits UNION SELECT dispatch_id FROM flow_leases ORDER BY dispatch_id",
      )
      .toArray()
      .map((r) => r.dispatch_id);
  }

  summary(windows: Record<LogPrimitive, number>, holderLimit: number): FlowStoreSummary {
    const logs = this.sql
      .exec<{ primitive: string; gate: string; n: number }>(
        `SELECT primitive, gate, COUNT(*) AS n FROM flow_log
         WHERE (primitive = 'rate_limit' AND at > ?) OR (primitive = 'throttle' AND at > ?)
         GROUP BY primitive, gate`,
        windows.rate_limit,
        windows.throttle,
      )
      .toArray()
      .map((r) => ({ primitive: r.primitive as LogPrimitive, gate: r.gate, count: r.n }));
    const leases = new Map<string, FlowStoreSummary["leases"][number]>();
    for (const r of this.sql
      .exec<{ primitive: string; gate: string; dispatch_id: string }>(
        "SELECT primitive, gate, dispatch_id FROM flow_leases ORDER BY primitive, gate, acquired_at, rowid",
      )
      .toArray()) {
      const key = `${r.primitive}\u0000${r.gate}`;
      let entry = leases.get(key);
      if (!entry) {
        entry = { primitive: r.primitive as LeasePrimitive, gate: r.gate, count: 0, holders: [] };
        leases.set(key, entry);
      }
      entry.count++;
      if (entry.holders.length < holderLimit) entry.holders.push(r.dispatch_id);
    }
    const waits = this.sql
      .exec<{ primitive: string; gate: string; n: number }>(
        "SELECT primitive, gate, COUNT(*) AS n FROM flow_waits GROUP BY primitive, gate",
      )
      .toArray()
      .flatMap((r) => {
        const head = this.waitAt(r.primitive as WaitPrimitive, r.gate, 0);
        return head ? [{ primitive: r.primitive as WaitPrimitive, gate: r.gate, count: r.n, head }] : [];
      });
    return { logs, leases: [...leases.values()], waits };
  }
}
