/**
 * The BindingGate's live dispatches (docs/scale.md): one row per dispatch that is not final (and one
 * `waiting`), a JSON document each, in a WITHOUT ROWID table so a write costs one row. All of them
 * are held in memory; the state machine changes the in-memory documents and `commit` writes each
 * changed one once, at the end of its synchronous section. A dispatch that became final is handed to
 * the History outbox instead and its row is deleted when History holds it; until then readers see
 * the row as last committed.
 */
import type { DispatchDoc } from "../contracts/dispatch-doc";

export const LIVE_SCHEMA =
  "CREATE TABLE IF NOT EXISTS live (dispatch_id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID";

export class LiveStore {
  private readonly docs = new Map<string, DispatchDoc>();
  /** The JSON each row holds in storage. */
  private readonly committed = new Map<string, string>();
  private readonly dirty = new Set<string>();
  /** Final dispatches waiting for their History append: never written as final here. */
  private readonly finals = new Set<string>();

  constructor(private readonly sql: SqlStorage) {
    sql.exec(LIVE_SCHEMA);
    for (const row of sql.exec<{ dispatch_id: string; doc: string }>("SELECT dispatch_id, doc FROM live")) {
      this.docs.set(row.dispatch_id, JSON.parse(row.doc) as DispatchDoc);
      this.committed.set(row.dispatch_id, row.doc);
    }
  }

  /** The working document (final ones included until History holds them). */
  get(id: string): DispatchDoc | null {
    return this.docs.get(id) ?? null;
  }

  add(doc: DispatchDoc): void {
    this.docs.set(doc.dispatch_id, doc);
    this.dirty.add(doc.dispatch_id);
  }

  /** Marks a document changed: `commit` writes it. */
  touch(doc: DispatchDoc): void {
    if (!this.finals.has(doc.dispatch_id)) this.dirty.add(doc.dispatch_id);
  }

  /**
   * The dispatch is final: it goes to History instead of being written here. With `durable`, its
   * final state is also written now (an RPC caller is told the outcome, which must survive a restart).
   */
  finalize(doc: DispatchDoc, durable: boolean): void {
    if (durable) this.dirty.add(doc.dispatch_id);
    else this.dirty.delete(doc.dispatch_id);
    this.finals.add(doc.dispatch_id);
  }

  isFinal(id: string): boolean {
    return this.finals.has(id);
  }

  /** Writes every changed document once. Call before any `await`. */
  commit(): void {
    for (const id of this.dirty) {
      const doc = this.docs.get(id);
      if (!doc) continue;
      const text = JSON.stringify(doc);
      if (this.committed.get(id) === text) continue;
      this.sql.exec(
        "INSERT INTO live (dispatch_id, doc) VALUES (?, ?) ON CONFLICT(dispatch_id) DO UPDATE SET doc = excluded.doc",
        id,
        text,
      );
      this.committed.set(id, text);
    }
    this.dirty.clear();
  }

  /** History holds these now: their rows go. */
  release(ids: readonly string[]): void {
    for (const id of ids) {
      if (this.committed.has(id)) this.sql.exec("DELETE FROM live WHERE dispatch_id = ?", id);
      this.committed.delete(id);
      this.docs.delete(id);
      this.finals.delete(id);
      this.dirty.delete(id);
    }
  }

  /** What a reader may see: the stored state (a final dispatch shows once History has it). */
  readable(id: string): DispatchDoc | null {
    const text = this.committed.get(id);
    return text ? (JSON.parse(text) as DispatchDoc) : null;
  }

  /** Every readable document. */
  allReadable(): DispatchDoc[] {
    return [...this.committed.values()].map((t) => JSON.parse(t) as DispatchDoc);
  }

  /** Working documents that are not final. */
  live(): DispatchDoc[] {
    return [...this.docs.values()].filter((d) => !this.finals.has(d.dispatch_id));
  }

  finalDocs(): DispatchDoc[] {
    return [...this.finals].map((id) => this.docs.get(id)).filter((d): d is DispatchDoc => d !== undefined);
  }
}
