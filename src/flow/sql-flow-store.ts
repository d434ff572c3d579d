/**
 * `FlowStore` over Durable Object SQLite (`ctx.storage.sql`), used by BindingGate. Every method is one
 * or two synchronous statements on indexed columns. The tables are `sql-flow-schema.ts`.
 */
import type {
  FlowLease,
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
import { migrateFlowSchema, toWait, WAIT_COLUMNS, type WaitRow } from "./sql-flow-schema";

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
