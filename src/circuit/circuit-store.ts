/**
 * A Destination's SQLite (SPEC 10): the one circuit row, the transitions log behind the console and
 * API (kept 7 days and at most 1000 rows) with cumulative counters per (from, to), and the schema
 * versions. Synchronous, so a Destination reads and writes its circuit with no await in between.
 */
import type { Circuit, CircuitState, Transition } from "./circuit-policy";
import { CLOSED_CIRCUIT } from "./circuit-policy";

const TRANSITIONS_RETENTION_MS = 7 * 86_400_000;
const TRANSITIONS_MAX_ROWS = 1000;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS circuit (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     state TEXT NOT NULL,
     failures INTEGER NOT NULL,
     opened_at INTEGER,
     next_probe_at INTEGER,
     probe_ref TEXT,
     probe_until INTEGER,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE IF NOT EXISTS held (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     binding_key TEXT NOT NULL,
     dispatch_id TEXT NOT NULL UNIQUE,
     attempt INTEGER NOT NULL,
     parked_at INTEGER NOT NULL,
     lease_ms INTEGER NOT NULL,
     version INTEGER NOT NULL DEFAULT 1,
     release_after INTEGER NOT NULL DEFAULT 0,
     release_failures INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE IF NOT EXISTS transitions (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     from_state TEXT NOT NULL,
     to_state TEXT NOT NULL,
     reason TEXT NOT NULL,
     failures INTEGER NOT NULL,
     binding_key TEXT,
     error TEXT
   );
   CREATE INDEX IF NOT EXISTS transitions_at ON transitions(at);
   CREATE TABLE IF NOT EXISTS transition_counts (
     from_state TEXT NOT NULL,
     to_state TEXT NOT NULL,
     n INTEGER NOT NULL,
     PRIMARY KEY (from_state, to_state)
   );`,
];

type CircuitRow = {
  state: CircuitState;
  failures: number;
  opened_at: number | null;
  next_probe_at: number | null;
  probe_ref: string | null;
  probe_until: number | null;
};

export type TransitionRow = {
  seq: number;
  at: number;
  from_state: CircuitState;
  to_state: CircuitState;
  reason: string;
  failures: number;
  binding_key: string | null;
  error: string | null;
};

export class CircuitStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec("CREATE TABLE IF NOT EXISTS destination_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
    const row = sql.exec<{ v: string }>("SELECT v FROM destination_meta WHERE k = 'schema_version'").toArray()[0];
    for (let version = Number(row?.v ?? 0); version < SCHEMA.length; version++) {
      sql.exec(SCHEMA[version] ?? "");
      sql.exec(
        "INSERT INTO destination_meta (k, v) VALUES ('schema_version', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
        String(version + 1),
      );
    }
  }

  load(): Circuit {
    const row = this.sql
      .exec<CircuitRow>(
        "SELECT state, failures, opened_at, next_probe_at, probe_ref, probe_until FROM circuit WHERE id = 1",
      )
      .toArray()[0];
    if (!row) return { ...CLOSED_CIRCUIT };
    return {
      state: row.state,
      failures: row.failures,
      opened_at: row.opened_at,
      next_probe_at: row.next_probe_at,
      probe: row.probe_ref !== null && row.probe_until !== null ? { ref: row.probe_ref, until: row.probe_until } : null,
    };
  }

  write(c: Circuit, now: number): void {
    this.sql.exec(
      `INSERT INTO circuit (id, state, failures, opened_at, next_probe_at, probe_ref, probe_until, updated_at)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET state = excluded.state, failures = excluded.failures,
         opened_at = excluded.opened_at, next_probe_at = excluded.next_probe_at, probe_ref = excluded.probe_ref,
         probe_until = excluded.probe_until, updated_at = excluded.updated_at`,
      c.state,
      c.failures,
      c.opened_at,
      c.next_probe_at,
      c.probe?.ref ?? null,
      c.probe?.until ?? null,
      now,
    );
  }

  /** Logs a transition and counts it; the log is pruned here (transitions are rare). */
  logTransition(t: Transition, bindingKey: string | null, error: string | null): void {
    this.sql.exec(
      `INSERT INTO transitions (at, from_state, to_state, reason, failures, binding_key, error)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      t.at,
      t.from,
      t.to,
      t.reason,
      t.failures,
      bindingKey,
      error,
    );
    this.sql.exec(
      `INSERT INTO transition_counts (from_state, to_state, n) VALUES (?, ?, 1)
       ON CONFLICT(from_state, to_state) DO UPDATE SET n = n + 1`,
      t.from,
      t.to,
    );
    this.sql.exec(
      "DELETE FROM transitions WHERE at < ? OR seq <= (SELECT MAX(seq) FROM transitions) - ?",
      t.at - TRANSITIONS_RETENTION_MS,
      TRANSITIONS_MAX_ROWS,
    );
  }

  /** The transitions log after `after`, oldest first. */
  transitions(after: number, limit: number): TransitionRow[] {
    return this.sql
      .exec<TransitionRow>("SELECT * FROM transitions WHERE seq > ? ORDER BY seq LIMIT ?", after, limit)
      .toArray();
  }

  /** Cumulative transition counters (never pruned). */
  transitionCounts(): { from: CircuitState; to: CircuitState; count: number }[] {
    return this.sql
      .exec<{ from_state: CircuitState; to_state: CircuitState; n: number }>(
        "SELECT from_state, to_state, n FROM transition_counts ORDER BY from_state, to_state",
      )
      .toArray()
      .map((r) => ({ from: r.from_state, to: r.to_state, count: r.n }));
  }
}
