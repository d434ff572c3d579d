/**
 * Control-plane D1 writes of a BindingGate (DLQ entries, approvals, verdicts), queued in its own
 * SQLite in the synchronous section that decided them and sent in order, in batches, afterwards.
 * Only the rarer transitions write here; a simply dispatched event queues nothing. Every statement
 * is idempotent, so a batch sent again after a failure writes nothing twice.
 */
import type { Statement } from "./control-writes";

export const D1_OUTBOX_SCHEMA =
  "CREATE TABLE IF NOT EXISTS d1_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, stmt TEXT NOT NULL)";

/** Statements per D1 batch (whole rows, so a batch may exceed it a little). */
const BATCH_STATEMENTS = 64;

export class D1Outbox {
  private running: Promise<void> | null = null;
  /**
   * Whether rows are queued, known in memory (this object is the table's only writer) so the
   * settle after every transition asks no query; null until the first look after activation.
   */
  private queued: boolean | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly db: () => D1Database,
  ) {
    sql.exec(D1_OUTBOX_SCHEMA);
  }

  enqueue(statements: Statement[]): void {
    if (statements.length === 0) return;
    this.sql.exec("INSERT INTO d1_outbox (stmt) VALUES (?)", JSON.stringify(statements));
    this.queued = true;
  }

  pending(): boolean {
    if (this.queued === null) this.queued = this.sql.exec("SELECT 1 FROM d1_outbox LIMIT 1").toArray().length > 0;
    return this.queued;
  }

  flush(): Promise<void> {
    if (!this.running) {
      this.running = this.send().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  private async send(): Promise<void> {
    const db = this.db();
    for (;;) {
      const statements: D1PreparedStatement[] = [];
      let last = 0;
      for (const row of this.sql.exec<{ seq: number; stmt: string }>("SELECT seq, stmt FROM d1_outbox ORDER BY seq")) {
        const parsed = JSON.parse(row.stmt) as Statement | Statement[];
        for (const q of Array.isArray(parsed) ? parsed : [parsed]) statements.push(db.prepare(q.sql).bind(...q.params));
        last = row.seq;
        if (statements.length >= BATCH_STATEMENTS) break;
      }
      if (last === 0) {
        this.queued = false;
        return;
      }
      if (statements.length > 0) await db.batch(statements);
      this.sql.exec("DELETE FROM d1_outbox WHERE seq <= ?", last);
    }
  }
}
