/**
 * The dispatches a Destination holds for a circuit in mode `hold` (SPEC 10), in arrival order, in
 * its SQLite table `held`: parked, handed back to their gates when the circuit lets them run, backed
 * off when a hand-back fails, dropped when cancelled.
 */

/** A parked dispatch as stored in `held`. */
export type ParkedRow = {
  seq: number;
  binding_key: string;
  dispatch_id: string;
  attempt: number;
  parked_at: number;
  /** Probe lease to grant if this dispatch is released as the probe. */
  lease_ms: number;
  /** Bumped by every park of the same dispatch, so a release only deletes the row it handed back. */
  version: number;
  release_after: number;
  release_failures: number;
};

/** The gate method a release calls (BindingGate implements it; SPEC 10 mode `hold`). */
export interface ParkedReleaser {
  releaseParked(dispatchId: string, attempt: number): Promise<unknown>;
}

/** Hands one parked dispatch back to its binding's gate. Swappable so tests can observe releases. */
export type ReleaseParked = (env: Env, row: ParkedRow) => Promise<unknown>;

export const releaseToGate: ReleaseParked = (env, row) =>
  (env.BINDING_GATE.getByName(row.binding_key) as unknown as ParkedReleaser).releaseParked(
    row.dispatch_id,
    row.attempt,
  );

/** The longest wait between failed hand-backs of one row. */
const RELEASE_BACKOFF_MAX_MS = 5 * 60_000;

export class ParkedQueue {
  constructor(private readonly sql: SqlStorage) {}

  /** Parks a dispatch (one parked again keeps its place in line); returns its position. */
  park(row: { binding_key: string; dispatch_id: string; attempt: number; lease_ms: number }, now: number): number {
    const { seq } = this.sql
      .exec<{ seq: number }>(
        `INSERT INTO held (binding_key, dispatch_id, attempt, parked_at, lease_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(dispatch_id) DO UPDATE SET binding_key = excluded.binding_key, attempt = excluded.attempt,
           lease_ms = excluded.lease_ms, version = version + 1, release_after = 0, release_failures = 0
         RETURNING seq`,
        row.binding_key,
        row.dispatch_id,
        row.attempt,
        now,
        row.lease_ms,
      )
      .one();
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM held WHERE seq <= ?", seq).one().n ?? 1;
  }

  /** Drops a parked dispatch; whether it was there. */
  remove(dispatchId: string): boolean {
    return this.sql.exec("DELETE FROM held WHERE dispatch_id = ?", dispatchId).rowsWritten > 0;
  }

  /** The rows whose release may be tried now, oldest first. */
  due(now: number, limit: number): ParkedRow[] {
    return this.sql
      .exec<ParkedRow>("SELECT * FROM held WHERE release_after <= ? ORDER BY seq LIMIT ?", now, limit)
      .toArray();
  }

  /** How many are parked, and the earliest time one may be released. */
  pending(): { count: number; due: number | null } {
    const row = this.sql
      .exec<{ n: number; due: number | null }>("SELECT COUNT(*) AS n, MIN(release_after) AS due FROM held")
      .toArray()[0];
    return { count: row?.n ?? 0, due: row?.due ?? null };
  }

  /** The row went back to its gate: it leaves, unless it was parked again meanwhile. */
  released(row: ParkedRow): void {
    this.sql.exec("DELETE FROM held WHERE seq = ? AND version = ?", row.seq, row.version);
  }

  /** A hand-back failed: the row waits 2 s doubling up to 5 min before the next try. */
  backOff(row: ParkedRow, now: number): number {
    const failures = row.release_failures + 1;
    const backoff = Math.min(RELEASE_BACKOFF_MAX_MS, 1_000 * 2 ** Math.min(failures, 20));
    this.sql.exec(
      "UPDATE held SET release_failures = ?, release_after = ? WHERE seq = ?",
      failures,
      now + backoff,
      row.seq,
    );
    return failures;
  }

  all(): ParkedRow[] {
    return this.sql.exec<ParkedRow>("SELECT * FROM held ORDER BY seq").toArray();
  }
}
