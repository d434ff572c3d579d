/**
 * TrustLedger: one Durable Object per binding id, the single writer of that id's trust chain
 * (SPEC 8). Appends are serialised, so every record links to the one before it; each logical record
 * has a `record_key` and is written once however often it is offered. The object keeps the chain's
 * head (count, hash) in its own storage so verification also notices a truncated tail.
 */
import { DurableObject } from "cloudflare:workers";
import { iso } from "../lib/time";
import { countDurableObjectOps } from "../observability/billable-ops";
import { type ChainHead, GENESIS_HASH, trustHash } from "./trust-chain";
import type { TrustRecordRow } from "./trust-view";

export interface TrustAppend {
  record_key: string;
  binding_id: string;
  tenant_id: string | null;
  action: string;
  outcome: string;
  tier: string;
  /** JSON text of the record's metadata object (kept as text so it crosses RPC unchanged). */
  metadata_json: string;
  at: number;
}

/** D1 allows 100 bound parameters per statement; keys are looked up in chunks of this size. */
const KEY_CHUNK = 90;

export class TrustLedger extends DurableObject<Env> {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObjectOps(this, "TrustLedger");
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL, hash TEXT NOT NULL, last_seq INTEGER)",
    );
  }

  /**
   * Appends records in order (records already written are returned as they are). With
   * `tierOverride`, the binding's effective tier changes in the same D1 batch as the record.
   */
  append(items: TrustAppend[], tierOverride?: string): Promise<TrustRecordRow[]> {
    const run = this.tail.then(() => this.appendNow(items, tierOverride));
    this.tail = run.catch(() => {});
    return run;
  }

  async head(): Promise<ChainHead | null> {
    const row = this.ctx.storage.sql
      .exec<{ count: number; hash: string; last_seq: number | null }>("SELECT count, hash, last_seq FROM head")
      .toArray()[0];
    return row ? { count: row.count, hash: row.hash, last_seq: row.last_seq } : null;
  }

  private async existing(keys: string[]): Promise<Map<string, TrustRecordRow>> {
    const found = new Map<string, TrustRecordRow>();
    for (let i = 0; i < keys.length; i += KEY_CHUNK) {
      const chunk = keys.slice(i, i + KEY_CHUNK);
      const { results } = await this.env.DB.prepare(
        `SELECT * FROM trust_records WHERE record_key IN (${chunk.map(() => "?").join(",")})`,
      )
        .bind(...chunk)
        .all<TrustRecordRow>();
      for (const row of results) found.set(row.record_key, row);
    }
    return found;
  }

  private async appendNow(items: TrustAppend[], tierOverride?: string): Promise<TrustRecordRow[]> {
    if (items.length === 0) return [];
    const bindingId = items[0]?.binding_id ?? "";
    const db = this.env.DB;
    const known = await this.existing(items.map((i) => i.record_key));
    const last = await db
      .prepare("SELECT hash FROM trust_records WHERE binding_id = ? ORDER BY seq DESC LIMIT 1")
      .bind(bindingId)
      .first<{ hash: string }>();
    let prev = last?.hash ?? GENESIS_HASH;
    const statements: D1PreparedStatement[] = [];
    const fresh: TrustAppend[] = [];
    for (const item of items) {
      if (known.has(item.record_key) || fresh.some((f) => f.record_key === item.record_key)) continue;
      const content = { ...item, metadata: JSON.parse(item.metadata_json) as unknown, at: iso(item.at) };
      const hash = await trustHash(content, prev);
      statements.push(
        db
          .prepare(
            `INSERT INTO trust_records (record_key, binding_id, tenant_id, action, outcome, tier, metadata, prev_hash, hash, at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
          )
          .bind(
            item.record_key,
            bindingId,
            item.tenant_id,
            item.action,
            item.outcome,
            item.tier,
            JSON.stringify(content.metadata),
            prev,
            hash,
            content.at,
          ),
      );
      fresh.push(item);
      prev = hash;
    }
    if (tierOverride !== undefined && statements.length > 0) {
      statements.push(
        db
          .prepare("UPDATE binding_controls SET tier_override = ?, updated_at = ? WHERE id = ?")
          .bind(tierOverride, iso(Date.now()), bindingId),
      );
    }
    const written = new Map<string, TrustRecordRow>();
    if (statements.length > 0) {
      const results = await db.batch<TrustRecordRow>(statements);
      for (const result of results) {
        const row = result.results?.[0];
        if (row && "record_key" in row) written.set(row.record_key, row);
      }
      const count = (await this.head())?.count ?? 0;
      const lastRow = [...written.values()].at(-1);
      this.ctx.storage.sql.exec(
        "INSERT INTO head (id, count, hash, last_seq) VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET count = excluded.count, hash = excluded.hash, last_seq = excluded.last_seq",
        count + written.size,
        prev,
        lastRow?.seq ?? null,
      );
    }
    return items.flatMap((item) => {
      const row = written.get(item.record_key) ?? known.get(item.record_key);
      return row ? [row] : [];
    });
  }
}
