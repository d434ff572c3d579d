/**
 * TrustLedger: one Durable Object per binding id, the directory of that id's trust chain (SPEC 8).
 * The chain itself lives in the History windows of the binding id, each the single writer of its
 * part; this object hands the chain from one window to the next (the next starts where the previous
 * ended, which seals the previous), and keeps the checkpoint: the hash and position of the last
 * record of the newest window retention dropped, where verification starts.
 */
import { DurableObject } from "cloudflare:workers";
import { countDurableObjectOps } from "../observability/counting-bindings";
import { GENESIS_HASH } from "./trust-chain";

export interface ChainPart {
  name: string;
  start: number;
  first_seq: number;
  first_prev: string;
  /** Known once the window is sealed. */
  tail: string | null;
  next_seq: number | null;
}

export interface Checkpoint {
  hash: string;
  seq: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS parts (name TEXT PRIMARY KEY, start INTEGER NOT NULL, first_seq INTEGER NOT NULL,
  first_prev TEXT NOT NULL, tail TEXT, next_seq INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;`;

export class TrustLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObjectOps(this, "TrustLedger");
    this.sql = ctx.storage.sql;
    // Objects of the earlier layout kept a `head` table; the chain moved to the History windows.
    this.sql.exec(SCHEMA);
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => {});
    return run;
  }

  private parts(): ChainPart[] {
    return this.sql.exec("SELECT * FROM parts ORDER BY start, name").toArray() as unknown as ChainPart[];
  }

  private meta(key: string): string | null {
    return this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", key).toArray()[0]?.v ?? null;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", key, value);
  }

  checkpointOf(): Checkpoint | null {
    const text = this.meta("checkpoint");
    return text ? (JSON.parse(text) as Checkpoint) : null;
  }

  /**
   * A History window starts its part of the chain. It continues from the newest window (sealing it
   * first) unless that one is newer than the caller, which then appends there instead.
   */
  open(name: string, start: number): Promise<{ first_seq: number; first_prev: string } | { moved_to: string }> {
    return this.serially(async () => {
      const parts = this.parts();
      const mine = parts.find((p) => p.name === name);
      if (mine) return { first_seq: mine.first_seq, first_prev: mine.first_prev };
      const newest = parts.at(-1);
      if (newest && newest.start > start) return { moved_to: newest.name };
      const start_ = this.checkpointOf() ?? (parts.length === 0 ? await this.legacyTail() : null);
      let first_seq = (start_?.seq ?? 0) + 1;
      let first_prev = start_?.hash ?? GENESIS_HASH;
      if (newest) {
        let tail = newest.tail;
        let next = newest.next_seq;
        if (tail === null || next === null) {
          const sealed = await this.env.DISPATCH_HISTORY.getByName(newest.name).seal();
          tail = sealed.tail;
          next = sealed.next_seq;
          this.sql.exec("UPDATE parts SET tail = ?, next_seq = ? WHERE name = ?", tail, next, newest.name);
        }
        first_seq = next;
        first_prev = tail;
      }
      this.sql.exec(
        "INSERT INTO parts (name, start, first_seq, first_prev) VALUES (?, ?, ?, ?)",
        name,
        start,
        first_seq,
        first_prev,
      );
      return { first_seq, first_prev };
    });
  }

  /** Where a chain of the earlier layout (records in D1) ends: the new windows continue it. */
  private async legacyTail(): Promise<Checkpoint | null> {
    const name = this.ctx.id.name ?? "";
    const row = await this.env.DB.prepare(
      "SELECT (SELECT hash FROM trust_records WHERE binding_id = ?1 ORDER BY seq DESC LIMIT 1) AS hash, (SELECT COUNT(*) FROM trust_records WHERE binding_id = ?1) AS n",
    )
      .bind(name)
      .first<{ hash: string | null; n: number }>();
    return row?.hash ? { hash: row.hash, seq: row.n } : null;
  }

  /** The window new records go to: the newest one. */
  async current(): Promise<string> {
    return this.parts().at(-1)?.name ?? "";
  }

  /** A window sealed itself after its time was up. */
  sealed(name: string, tail: string, nextSeq: number): Promise<void> {
    return this.serially(async () => {
      this.sql.exec("UPDATE parts SET tail = ?, next_seq = ? WHERE name = ?", tail, nextSeq, name);
    });
  }

  /** Retention dropped a window: its last record becomes the checkpoint when it is the newest dropped. */
  dropped(name: string, tail: string, lastSeq: number): Promise<void> {
    return this.serially(async () => {
      const cp = this.checkpointOf();
      if (lastSeq > 0 && (!cp || lastSeq > cp.seq))
        this.setMeta("checkpoint", JSON.stringify({ hash: tail, seq: lastSeq }));
      this.sql.exec("DELETE FROM parts WHERE name = ?", name);
    });
  }

  /** The chain's windows oldest first, and where verification starts. */
  async chain(): Promise<{ parts: ChainPart[]; checkpoint: Checkpoint | null }> {
    return { parts: this.parts(), checkpoint: this.checkpointOf() };
  }
}
