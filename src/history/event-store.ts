/**
 * The tables of an EventLog object (docs/storage-schema.md): one row per accepted event, keyed by
 * its time-ordered id (WITHOUT ROWID, so a row costs one row written), large bodies split over chunk
 * rows, signature rejections, and the object's progress row. Synchronous SQL over DO storage.
 */
import type { PublishTarget } from "../contracts/event-log-rpc";
import type { TriggerEvent } from "../contracts/events";

export const EVENT_LOG_SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  source TEXT,
  style TEXT,
  provider TEXT NOT NULL,
  kind TEXT NOT NULL,
  trace_id TEXT NOT NULL,
  tenant_id TEXT,
  dedupe_scope TEXT NOT NULL,
  dedupe_key TEXT NOT NULL,
  claim_expires INTEGER NOT NULL,
  target TEXT,
  routes TEXT NOT NULL,
  replays TEXT,
  doc TEXT,
  chunks INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_chunks (id TEXT NOT NULL, n INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (id, n)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, tenant_id TEXT, topic TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;`;

/** Characters of event JSON per row; longer documents go to `event_chunks` (a row holds 2 MB at most). */
const CHUNK_CHARS = 600_000;

/** A page of stored events: newest first below `before`, or oldest first above `after`, filtered. */
export interface EventListQuery {
  before?: string | null;
  after?: string | null;
  ascending?: boolean;
  limit: number;
  provider?: string | undefined;
  kind?: string | undefined;
  source?: string | undefined;
  trace_id?: string | undefined;
  tenant_id?: string | null | undefined;
}

export interface ReplayPointer {
  dispatch_id: string;
  binding_key: string;
  at: number;
}

/** What an EventLog keeps of an event beyond the event itself. */
export interface StoredEvent {
  event: TriggerEvent;
  source: string | null;
  /** The signature style of a webhook (its intake record), null for published events. */
  style: string | null;
  dedupe_scope: string;
  /** When the event's dedupe claim expires (a claim lost with a crash is made again until then). */
  claim_expires: number;
  target: PublishTarget | null;
  /** Binding keys the event was routed to, in listing order. */
  routes: string[];
  replays: ReplayPointer[];
  /** Read from the earlier storage layout (D1), whose records D1 still holds. */
  legacy?: boolean;
}

type Row = {
  id: string;
  source: string | null;
  style: string | null;
  provider: string;
  kind: string;
  trace_id: string;
  tenant_id: string | null;
  dedupe_scope: string;
  dedupe_key: string;
  claim_expires: number;
  target: string | null;
  routes: string;
  replays: string | null;
  doc: string | null;
  chunks: number;
};

type Doc = Pick<TriggerEvent, "occurred_at" | "headers" | "payload" | "raw_body" | "signature_status"> & {
  received_at: string;
};

export class EventStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(EVENT_LOG_SCHEMA);
  }

  /** After the object's storage was deleted: empty tables again, so later reads find nothing. */
  recreate(): void {
    this.sql.exec(EVENT_LOG_SCHEMA);
  }

  insert(stored: StoredEvent): void {
    const e = stored.event;
    const doc: Doc = {
      received_at: e.received_at,
      occurred_at: e.occurred_at,
      headers: e.headers,
      payload: e.payload,
      ...(e.raw_body === undefined ? {} : { raw_body: e.raw_body }),
      signature_status: e.signature_status,
    };
    const text = JSON.stringify(doc);
    const chunked = text.length > CHUNK_CHARS;
    this.sql.exec(
      `INSERT INTO events (id, source, style, provider, kind, trace_id, tenant_id, dedupe_scope, dedupe_key,
         claim_expires, target, routes, replays, doc, chunks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)`,
      e.id,
      stored.source,
      stored.style,
      e.provider,
      e.kind,
      e.trace_id,
      e.tenant_id,
      stored.dedupe_scope,
      e.dedupe_key,
      stored.claim_expires,
      stored.target ? JSON.stringify(stored.target) : null,
      JSON.stringify(stored.routes),
      chunked ? null : text,
      chunked ? Math.ceil(text.length / CHUNK_CHARS) : 0,
    );
    if (chunked) {
      for (let n = 0; n * CHUNK_CHARS < text.length; n++) {
        this.sql.exec(
          "INSERT INTO event_chunks (id, n, data) VALUES (?, ?, ?)",
          e.id,
          n,
          text.slice(n * CHUNK_CHARS, (n + 1) * CHUNK_CHARS),
        );
      }
    }
  }

  remove(id: string): void {
    this.sql.exec("DELETE FROM events WHERE id = ?", id);
    this.sql.exec("DELETE FROM event_chunks WHERE id = ?", id);
  }

  get(id: string): StoredEvent | null {
    const row = this.sql.exec<Row>("SELECT * FROM events WHERE id = ?", id).toArray()[0];
    return row ? this.fromRow(row) : null;
  }

  /** Events newest first, below `before` (an event id), matching the filters. */
  list(q: EventListQuery): StoredEvent[] {
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    if (q.before) {
      where.push("id < ?");
      args.push(q.before);
    }
    if (q.after) {
      where.push("id > ?");
      args.push(q.after);
    }
    for (const [column, value] of [
      ["provider", q.provider],
      ["kind", q.kind],
      ["source", q.source],
      ["trace_id", q.trace_id],
      ["tenant_id", q.tenant_id],
    ] as const) {
      if (value !== undefined && value !== null) {
        where.push(`${column} = ?`);
        args.push(value);
      }
    }
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id ${
      q.ascending ? "ASC" : "DESC"
    } LIMIT ?`;
    return this.sql
      .exec<Row>(sql, ...args, q.limit)
      .toArray()
      .map((r) => this.fromRow(r));
  }

  /** Ids after `after` (routing recovery), oldest first. */
  idsAfter(after: string | null, limit: number): string[] {
    return this.sql
      .exec<{ id: string }>("SELECT id FROM events WHERE id > ? ORDER BY id LIMIT ?", after ?? "", limit)
      .toArray()
      .map((r) => r.id);
  }

  /** The id just below `id`, if any. */
  idsBelow(id: string): string | null {
    return (
      this.sql.exec<{ id: string }>("SELECT id FROM events WHERE id < ? ORDER BY id DESC LIMIT 1", id).toArray()[0]
        ?.id ?? null
    );
  }

  lastId(): string | null {
    return this.sql.exec<{ id: string }>("SELECT id FROM events ORDER BY id DESC LIMIT 1").toArray()[0]?.id ?? null;
  }

  addReplay(id: string, pointer: ReplayPointer): boolean {
    const row = this.sql.exec<{ replays: string | null }>("SELECT replays FROM events WHERE id = ?", id).toArray()[0];
    if (!row) return false;
    const replays = row.replays ? (JSON.parse(row.replays) as ReplayPointer[]) : [];
    if (replays.some((r) => r.dispatch_id === pointer.dispatch_id)) return true;
    replays.push(pointer);
    this.sql.exec("UPDATE events SET replays = ? WHERE id = ?", JSON.stringify(replays), id);
    return true;
  }

  /** Accepted events per source (`_api` for published ones) among ids above `after`. */
  countAfter(after: string | null): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.sql.exec<{ source: string | null; n: number }>(
      "SELECT source, COUNT(*) AS n FROM events WHERE id > ? GROUP BY source",
      after ?? "",
    )) {
      out[row.source ?? "_api"] = row.n;
    }
    return out;
  }

  /** Accepted events per source with ids in (`after`, `through`]. */
  countBetween(after: string | null, through: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.sql.exec<{ source: string | null; n: number }>(
      "SELECT source, COUNT(*) AS n FROM events WHERE id > ? AND id <= ? GROUP BY source",
      after ?? "",
      through,
    )) {
      out[row.source ?? "_api"] = row.n;
    }
    return out;
  }

  /** Distinct binding keys this object routed events to (retention asks their gates). */
  routedBindingKeys(): string[] {
    const keys = new Set<string>();
    for (const row of this.sql.exec<{ routes: string }>("SELECT DISTINCT routes FROM events WHERE routes != '[]'")) {
      for (const key of JSON.parse(row.routes) as string[]) keys.add(key);
    }
    for (const row of this.sql.exec<{ replays: string }>("SELECT replays FROM events WHERE replays IS NOT NULL")) {
      for (const r of JSON.parse(row.replays) as ReplayPointer[]) keys.add(r.binding_key);
    }
    return [...keys];
  }

  addAudit(at: number, tenantId: string | null, topic: string, kind: string, payload: unknown): void {
    this.sql.exec(
      "INSERT INTO audit (at, tenant_id, topic, kind, payload) VALUES (?, ?, ?, ?, ?)",
      at,
      tenantId,
      topic,
      kind,
      JSON.stringify(payload),
    );
  }

  audits(limit: number): { at: number; tenant_id: string | null; topic: string; kind: string; payload: unknown }[] {
    return this.sql
      .exec<{ at: number; tenant_id: string | null; topic: string; kind: string; payload: string }>(
        "SELECT at, tenant_id, topic, kind, payload FROM audit ORDER BY seq DESC LIMIT ?",
        limit,
      )
      .toArray()
      .map((r) => ({ ...r, payload: JSON.parse(r.payload) as unknown }));
  }

  meta(key: string): string | null {
    return this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", key).toArray()[0]?.v ?? null;
  }

  setMeta(key: string, value: string): void {
    this.sql.exec("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", key, value);
  }

  private fromRow(row: Row): StoredEvent {
    let text = row.doc;
    if (text === null) {
      text = this.sql
        .exec<{ data: string }>("SELECT data FROM event_chunks WHERE id = ? ORDER BY n", row.id)
        .toArray()
        .map((c) => c.data)
        .join("");
    }
    const doc = JSON.parse(text) as Doc;
    const event: TriggerEvent = {
      id: row.id,
      provider: row.provider,
      kind: row.kind,
      received_at: doc.received_at,
      occurred_at: doc.occurred_at,
      dedupe_key: row.dedupe_key,
      trace_id: row.trace_id,
      tenant_id: row.tenant_id,
      headers: doc.headers,
      payload: doc.payload,
      ...(doc.raw_body === undefined ? {} : { raw_body: doc.raw_body }),
      signature_status: doc.signature_status,
    };
    return {
      event,
      source: row.source,
      style: row.style,
      dedupe_scope: row.dedupe_scope,
      claim_expires: row.claim_expires,
      target: row.target ? (JSON.parse(row.target) as PublishTarget) : null,
      routes: JSON.parse(row.routes) as string[],
      replays: row.replays ? (JSON.parse(row.replays) as ReplayPointer[]) : [],
    };
  }
}
