/**
 * The BindingGate's live dispatches (docs/scale.md): each dispatch that is not final (and each one
 * `waiting`) is a JSON document in a slot row. All of them are held in memory; the state machine
 * changes the in-memory documents and `commit` writes each changed one once, at the end of its
 * synchronous section. A dispatch that became final is handed to the History outbox instead; once
 * History holds it its slot is free for the next dispatch, which overwrites it: a simply dispatched
 * event costs one row written here, and no row is ever deleted (the slots are bounded by the most
 * dispatches live at once). After a restart a slot may still show a dispatch History already holds;
 * the gate notices when its lease timer asks History, and frees it.
 */
import type { DispatchDoc } from "../contracts/dispatch-doc";

export const LIVE_SCHEMA = "CREATE TABLE IF NOT EXISTS live_slots (slot INTEGER PRIMARY KEY, doc TEXT NOT NULL)";

export class LiveStore {
  private readonly docs = new Map<string, DispatchDoc>();
  private readonly slots = new Map<string, number>();
  /** The JSON each slot holds in storage, by dispatch id. */
  private readonly committed = new Map<string, string>();
  private readonly dirty = new Set<string>();
  /** Final dispatches waiting for their History append: never written as final here. */
  private readonly finals = new Set<string>();
  private readonly free: number[] = [];
  private nextSlot = 1;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(LIVE_SCHEMA);
    this.adoptOneRowPerDispatch();
    for (const row of sql.exec<{ slot: number; doc: string }>("SELECT slot, doc FROM live_slots ORDER BY slot")) {
      this.nextSlot = Math.max(this.nextSlot, row.slot + 1);
      const doc = JSON.parse(row.doc) as DispatchDoc;
      const other = this.docs.get(doc.dispatch_id);
      if (other && other.updated_at >= doc.updated_at) {
        this.free.push(row.slot);
        continue;
      }
      if (other) this.free.push(this.slots.get(doc.dispatch_id) ?? 0);
      this.docs.set(doc.dispatch_id, doc);
      this.slots.set(doc.dispatch_id, row.slot);
      this.committed.set(doc.dispatch_id, row.doc);
    }
  }

  /** Rows of the one-row-per-dispatch table move into slots. */
  private adoptOneRowPerDispatch(): void {
    const exists = this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'live'").toArray();
    if (exists.length === 0) return;
    this.sql.exec("INSERT INTO live_slots (doc) SELECT doc FROM live");
    this.sql.exec("DROP TABLE live");
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
      let slot = this.slots.get(id);
      if (slot === undefined) {
        slot = this.free.pop() ?? this.nextSlot++;
        this.slots.set(id, slot);
      }
      this.sql.exec(
        "INSERT INTO live_slots (slot, doc) VALUES (?, ?) ON CONFLICT(slot) DO UPDATE SET doc = excluded.doc",
        slot,
        text,
      );
      this.committed.set(id, text);
    }
    this.dirty.clear();
  }

  /** History holds these now: their slots are free (overwritten by the next dispatch, not deleted). */
  release(ids: readonly string[]): void {
    for (const id of ids) {
      const slot = this.slots.get(id);
      if (slot !== undefined) this.free.push(slot);
      this.slots.delete(id);
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
