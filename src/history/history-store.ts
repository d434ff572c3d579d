/**
 * The tables of a History object (docs/storage-schema.md): one row per finished dispatch keyed by
 * its creation time and id (WITHOUT ROWID: one row written each), a stub where a dispatch created in
 * this window finished in a later one, trust records that are not dispatch outcomes, and meta.
 * Synchronous SQL over DO storage.
 */
import type { DispatchDoc } from "../contracts/dispatch-doc";
import type { TrustFields, TrustRecordRow } from "../trust/trust-view";
import type { EntryStats } from "./history-totals";

export const HISTORY_SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  k INTEGER NOT NULL,
  dispatch_id TEXT NOT NULL,
  binding_key TEXT NOT NULL,
  event_id TEXT NOT NULL,
  status TEXT NOT NULL,
  tenant_id TEXT,
  replay_of TEXT,
  stub_of TEXT,
  stats TEXT,
  trust TEXT,
  chain_seq INTEGER,
  prev_hash TEXT,
  hash TEXT,
  doc TEXT NOT NULL,
  PRIMARY KEY (k, dispatch_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trust_extra (
  chain_seq INTEGER PRIMARY KEY,
  record_key TEXT NOT NULL,
  trust TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;`;

/** A trust record's content before it is chained (SPEC 8). */
export interface TrustInput extends TrustFields {
  metadata: unknown;
  /** RFC 3339. */
  at: string;
}

/** A stub points from the window a dispatch was created in to the window that holds it. */
export interface StubSummary {
  holder: string;
  doc: DispatchDoc;
}

type EntryRow = {
  k: number;
  dispatch_id: string;
  binding_key: string;
  event_id: string;
  status: string;
  tenant_id: string | null;
  replay_of: string | null;
  stub_of: string | null;
  stats: string | null;
  trust: string | null;
  chain_seq: number | null;
  prev_hash: string | null;
  hash: string | null;
  doc: string;
};

export interface Found {
  doc: DispatchDoc;
  /** Set when this row is a stub: the History object that holds the entry. */
  stub_of: string | null;
}

export interface ListQuery {
  binding_key?: string | undefined;
  event_id?: string | undefined;
  status?: string | undefined;
  replay_of_event_id?: string | undefined;
  tenant_id?: string | null | undefined;
  /** Only rows below this (k, dispatch_id), newest first. */
  before?: [number, string] | null;
  limit: number;
}

/** The leading `entries` columns, `k` to `replay_of`, of a dispatch's entry or stub. */
function entryKeyValues(k: number, doc: DispatchDoc) {
  return [k, doc.dispatch_id, doc.binding_key, doc.event_id, doc.status, doc.tenant_id, doc.replay_of_event_id];
}

export class HistoryStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(HISTORY_SCHEMA);
  }

  /** After the object's storage was deleted: empty tables again, so later reads find nothing. */
  recreate(): void {
    this.sql.exec(HISTORY_SCHEMA);
  }

  has(k: number, dispatchId: string): boolean {
    return this.sql.exec("SELECT 1 FROM entries WHERE k = ? AND dispatch_id = ?", k, dispatchId).toArray().length > 0;
  }

  insertEntry(
    k: number,
    doc: DispatchDoc,
    stats: EntryStats,
    trust: { content: TrustInput; chain_seq: number; prev_hash: string; hash: string } | null,
  ): void {
    this.sql.exec(
      `INSERT INTO entries (k, dispatch_id, binding_key, event_id, status, tenant_id, replay_of, stub_of, stats, trust,
         chain_seq, prev_hash, hash, doc) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (k, dispatch_id) DO UPDATE SET status = excluded.status, stub_of = NULL, stats = excluded.stats,
         trust = excluded.trust, chain_seq = excluded.chain_seq, prev_hash = excluded.prev_hash, hash = excluded.hash,
         doc = excluded.doc`,
      ...entryKeyValues(k, doc),
      JSON.stringify(stats),
      trust ? JSON.stringify(trust.content) : null,
      trust?.chain_seq ?? null,
      trust?.prev_hash ?? null,
      trust?.hash ?? null,
      JSON.stringify(doc),
    );
  }

  /** A stub never replaces an entry (the entry may already have landed here). */
  insertStub(k: number, doc: DispatchDoc, holder: string): void {
    this.sql.exec(
      `INSERT INTO entries (k, dispatch_id, binding_key, event_id, status, tenant_id, replay_of, stub_of, doc)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (k, dispatch_id) DO NOTHING`,
      ...entryKeyValues(k, doc),
      holder,
      JSON.stringify(doc),
    );
  }

  /** The windows the stubs here point at. */
  stubHolders(): string[] {
    return this.sql
      .exec<{ stub_of: string }>("SELECT DISTINCT stub_of FROM entries WHERE stub_of IS NOT NULL")
      .toArray()
      .map((r) => r.stub_of);
  }

  get(k: number, dispatchId: string): Found | null {
    const row = this.sql
      .exec<EntryRow>("SELECT stub_of, doc FROM entries WHERE k = ? AND dispatch_id = ?", k, dispatchId)
      .toArray()[0];
    return row ? { doc: JSON.parse(row.doc) as DispatchDoc, stub_of: row.stub_of } : null;
  }

  /** Rows newest first by (k, dispatch_id), entries and stubs alike. */
  list(q: ListQuery): Found[] {
    const where: string[] = [];
    const args: SqlStorageValue[] = [];
    const eq = (column: string, value: string | null | undefined) => {
      if (value === undefined || value === null) return;
      where.push(`${column} = ?`);
      args.push(value);
    };
    eq("binding_key", q.binding_key);
    eq("event_id", q.event_id);
    eq("status", q.status);
    eq("replay_of", q.replay_of_event_id);
    eq("tenant_id", q.tenant_id);
    if (q.before) {
      where.push("(k < ? OR (k = ? AND dispatch_id < ?))");
      args.push(q.before[0], q.before[0], q.before[1]);
    }
    const rows = this.sql
      .exec<EntryRow>(
        `SELECT stub_of, doc FROM entries ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY k DESC, dispatch_id DESC LIMIT ?`,
        ...args,
        q.limit,
      )
      .toArray();
    return rows.map((r) => ({ doc: JSON.parse(r.doc) as DispatchDoc, stub_of: r.stub_of }));
  }

  /** Every entry (not stubs), for records by binding and rebuilding totals. */
  *entries(bindingKey?: string): Generator<{ doc: string; stats: string | null; status: string; binding_key: string }> {
    const cursor = bindingKey
      ? this.sql.exec<EntryRow>(
          "SELECT doc, stats, status, binding_key FROM entries WHERE stub_of IS NULL AND binding_key = ?",
          bindingKey,
        )
      : this.sql.exec<EntryRow>("SELECT doc, stats, status, binding_key FROM entries WHERE stub_of IS NULL");
    for (const row of cursor) yield row;
  }

  insertTrustExtra(chainSeq: number, content: TrustInput, prevHash: string, hash: string): void {
    this.sql.exec(
      "INSERT INTO trust_extra (chain_seq, record_key, trust, prev_hash, hash) VALUES (?, ?, ?, ?, ?)",
      chainSeq,
      content.record_key,
      JSON.stringify(content),
      prevHash,
      hash,
    );
  }

  trustExtraByKey(recordKey: string): TrustRecordRow | null {
    const row = this.sql
      .exec<{ chain_seq: number; trust: string; prev_hash: string; hash: string }>(
        "SELECT chain_seq, trust, prev_hash, hash FROM trust_extra WHERE record_key = ?",
        recordKey,
      )
      .toArray()[0];
    return row ? trustRow(row) : null;
  }

  /** Trust records with chain positions above `after`, oldest first. */
  trust(after: number, limit: number): TrustRecordRow[] {
    const rows = this.sql
      .exec<{ chain_seq: number; trust: string; prev_hash: string; hash: string }>(
        `SELECT chain_seq, trust, prev_hash, hash FROM (
           SELECT chain_seq, trust, prev_hash, hash FROM entries WHERE chain_seq > ?1
           UNION ALL SELECT chain_seq, trust, prev_hash, hash FROM trust_extra WHERE chain_seq > ?1
         ) ORDER BY chain_seq LIMIT ?2`,
        after,
        limit,
      )
      .toArray();
    return rows.map(trustRow);
  }

  meta(key: string): string | null {
    return this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", key).toArray()[0]?.v ?? null;
  }

  setMeta(key: string, value: string): void {
    this.sql.exec("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", key, value);
  }
}

function trustRow(row: { chain_seq: number; trust: string; prev_hash: string; hash: string }): TrustRecordRow {
  const t = JSON.parse(row.trust) as TrustInput;
  return {
    seq: row.chain_seq,
    record_key: t.record_key,
    binding_id: t.binding_id,
    tenant_id: t.tenant_id,
    action: t.action,
    outcome: t.outcome,
    tier: t.tier,
    metadata: JSON.stringify(t.metadata ?? null),
    prev_hash: row.prev_hash,
    hash: row.hash,
    at: t.at,
  };
}
