/**
 * History: finished dispatches of one binding id in one time window, one Durable Object each
 * (docs/scale.md). Gates append a dispatch once it is final; the entry carries its trust record,
 * which this object chains (it is the single writer of its binding id's chain for its window; the
 * TrustLedger hands the chain from one window to the next). It keeps cumulative totals in memory,
 * hands them to D1 when sealed, and drops itself whole after retention.
 */
import { DurableObject } from "cloudflare:workers";
import type { DispatchDoc } from "../contracts/dispatch-doc";
import { markPartitionDropped, registerPartition, sealPartition } from "../db/partitions-repo";
import { dispatchKeyTime, parseHistoryName, partitionSpanMs, retentionMs, sealDelayMs } from "../lib/partitions";
import { countDurableObjectOps } from "../observability/counting-bindings";
import { trustHash } from "../trust/trust-chain";
import type { TrustRecordRow } from "../trust/trust-view";
import { type Found, HistoryStore, type ListQuery, type TrustInput } from "./history-store";
import { addEntry, dispatchKey, type EntryStats, emptyTotals, entryStats, type HistoryTotals } from "./history-totals";

export interface AppendEntry {
  doc: DispatchDoc;
  /** The dispatch outcome's trust record (SPEC 8), chained here. */
  trust: TrustInput | null;
}

export type AppendAnswer = { ok: true } | { ok: false; moved_to: string };

interface Chain {
  first_seq: number;
  first_prev: string;
  next_seq: number;
  tail: string;
  sealed: boolean;
}

/** Counters move to D1 and the chain is handed over this long after the window ends. */
/** How often a window kept past retention for a live dispatch asks again. */
const RECHECK_MS = 3_600_000;

export class DispatchHistory extends DurableObject<Env> {
  private readonly store: HistoryStore;
  private chain: Chain | null = null;
  private totalsCache: HistoryTotals | null = null;
  /** Appends run one at a time: a chain link must see the one before it. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObjectOps(this, "DispatchHistory");
    this.store = new HistoryStore(ctx.storage.sql);
  }

  private get name(): string {
    return this.ctx.id.name ?? "";
  }

  /** `history:<binding_id>:<start ISO>`. */
  private window(): { bindingId: string; start: number; end: number } {
    const parsed = parseHistoryName(this.name) ?? { bindingId: "", start: 0 };
    return { ...parsed, end: parsed.start + partitionSpanMs(this.env) };
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => {});
    return run;
  }

  // ---- chain ------------------------------------------------------------------------------------

  /** The chain state: opened through the ledger on first use, its tail recomputed from the rows. */
  private async openChain(): Promise<Chain | { moved_to: string }> {
    if (this.chain) return this.chain;
    const stored = this.store.meta("chain");
    let head: { first_seq: number; first_prev: string };
    if (stored) {
      head = JSON.parse(stored) as { first_seq: number; first_prev: string };
    } else {
      const { bindingId, start } = this.window();
      const opened = await this.env.TRUST_LEDGER.getByName(bindingId).open(this.name, start);
      if ("moved_to" in opened) return opened;
      head = opened;
      this.store.setMeta("chain", JSON.stringify(head));
      await this.register();
    }
    const last = this.store.trust(head.first_seq - 1, Number.MAX_SAFE_INTEGER).at(-1);
    this.chain = {
      ...head,
      next_seq: last ? last.seq + 1 : head.first_seq,
      tail: last ? last.hash : head.first_prev,
      sealed: this.store.meta("sealed") !== null,
    };
    return this.chain;
  }

  private async link(content: TrustInput, chain: Chain) {
    const prev = chain.tail;
    const hash = await trustHash(content, prev);
    const link = { chain_seq: chain.next_seq, prev_hash: prev, hash };
    chain.next_seq += 1;
    chain.tail = hash;
    return link;
  }

  // ---- writes -----------------------------------------------------------------------------------

  /** Appends finished dispatches (idempotent per dispatch). Refused once this window's chain is sealed. */
  append(entries: AppendEntry[]): Promise<AppendAnswer> {
    return this.serially(async () => {
      const chain = await this.openChain();
      if ("moved_to" in chain) return { ok: false, moved_to: chain.moved_to };
      if (chain.sealed) return { ok: false, moved_to: await this.currentWindow() };
      const totals = this.totals();
      for (const entry of entries) {
        const k = dispatchKeyTime(entry.doc.dispatch_id);
        const known = this.store.get(k, entry.doc.dispatch_id);
        if (known && known.stub_of === null) continue;
        const stats = entryStats(entry.doc);
        const link = entry.trust ? { content: entry.trust, ...(await this.link(entry.trust, chain)) } : null;
        this.store.insertEntry(k, entry.doc, stats, link);
        addEntry(totals, dispatchKey(entry.doc.binding_key, entry.doc.handler_kind, entry.doc.status), stats);
      }
      return { ok: true };
    });
  }

  /** Stubs of dispatches created in this window that finished in `holder` (no chain, no totals). */
  async appendStubs(stubs: { doc: DispatchDoc; holder: string }[]): Promise<void> {
    for (const s of stubs) this.store.insertStub(dispatchKeyTime(s.doc.dispatch_id), s.doc, s.holder);
    await this.register();
  }

  /** Once: the D1 directory lists this window (readers walk it) and the alarm is set. */
  private async register(): Promise<void> {
    if (this.store.meta("registered") !== null) return;
    await registerPartition(this.env.DB, this.name, this.window().start);
    this.store.setMeta("registered", "1");
    await this.armAlarm();
  }

  /** Trust records that are not a final outcome (tier moves, promote/demote, a `waiting` outcome). */
  appendTrust(records: TrustInput[]): Promise<{ ok: true; rows: TrustRecordRow[] } | { ok: false; moved_to: string }> {
    return this.serially(async () => {
      const chain = await this.openChain();
      if ("moved_to" in chain) return { ok: false, moved_to: chain.moved_to };
      if (chain.sealed) return { ok: false, moved_to: await this.currentWindow() };
      const rows: TrustRecordRow[] = [];
      for (const content of records) {
        const known = this.store.trustExtraByKey(content.record_key);
        if (known) {
          rows.push(known);
          continue;
        }
        const link = await this.link(content, chain);
        this.store.insertTrustExtra(link.chain_seq, content, link.prev_hash, link.hash);
        const row = this.store.trustExtraByKey(content.record_key);
        if (row) rows.push(row);
      }
      return { ok: true, rows };
    });
  }

  private async currentWindow(): Promise<string> {
    return this.env.TRUST_LEDGER.getByName(this.window().bindingId).current();
  }

  /** The ledger hands the chain to the next window: no more links here; totals go to D1. */
  seal(): Promise<{ tail: string; next_seq: number }> {
    return this.serially(async () => {
      const chain = await this.openChain();
      if ("moved_to" in chain) throw new Error(`${this.name} was never opened`);
      if (!chain.sealed) {
        chain.sealed = true;
        this.store.setMeta("sealed", String(Date.now()));
        await sealPartition(this.env.DB, this.name, this.window().start, this.totals());
      }
      return { tail: chain.tail, next_seq: chain.next_seq };
    });
  }

  // ---- reads ------------------------------------------------------------------------------------

  async get(keys: string[]): Promise<Found[]> {
    return keys.map((id) => this.store.get(dispatchKeyTime(id), id)).filter((f): f is Found => f !== null);
  }

  async list(q: ListQuery): Promise<Found[]> {
    return this.store.list(q);
  }

  /** Every finished dispatch of `bindingKey` (or of every version), for records by binding. */
  async docs(bindingKey?: string): Promise<DispatchDoc[]> {
    return [...this.store.entries(bindingKey)].map((r) => JSON.parse(r.doc) as DispatchDoc);
  }

  async trustRecords(after: number, limit: number): Promise<TrustRecordRow[]> {
    return this.store.trust(after, limit);
  }

  async currentTotals(): Promise<HistoryTotals> {
    return this.totals();
  }

  private totals(): HistoryTotals {
    if (!this.totalsCache) {
      const totals = emptyTotals();
      for (const row of this.store.entries()) {
        const doc = JSON.parse(row.doc) as DispatchDoc;
        const stats = row.stats ? (JSON.parse(row.stats) as EntryStats) : entryStats(doc);
        addEntry(totals, dispatchKey(row.binding_key, doc.handler_kind, row.status), stats);
      }
      this.totalsCache = totals;
    }
    return this.totalsCache;
  }

  // ---- alarm: seal after the window, drop after retention ---------------------------------------

  private async armAlarm(): Promise<void> {
    const { end } = this.window();
    const sealAt = end + sealDelayMs(partitionSpanMs(this.env));
    const next = this.store.meta("sealed") === null ? sealAt : Math.max(sealAt, end + retentionMs(this.env));
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(Math.max(next, Date.now() + 50));
  }

  /**
   * When a window past retention may be dropped (null: now). It stays while a gate still holds a
   * dispatch created in it (its outcome will leave a stub here), and while a stub here points at a
   * window not yet past retention (a lookup by dispatch id starts here).
   */
  private async neededUntil(now: number): Promise<number | null> {
    const { bindingId, start, end } = this.window();
    const span = partitionSpanMs(this.env);
    const retention = retentionMs(this.env);
    // A window drops at its end plus retention, and never before its seal time.
    const dropTime = (from: number) => from + span + Math.max(retention, sealDelayMs(span));
    const holders = this.store.stubHolders().map((name) => dropTime(parseHistoryName(name)?.start ?? 0));
    const stubsUntil = Math.max(0, ...holders);
    const { results } = await this.env.DB.prepare(
      "SELECT binding_key FROM binding_versions WHERE id = ? AND state != 'terminated'",
    )
      .bind(bindingId)
      .all<{ binding_key: string }>();
    const live = await Promise.all(
      results.map((r) => this.env.BINDING_GATE.getByName(r.binding_key).liveCreatedIn({ from: start, to: end })),
    );
    if (live.some((n) => n > 0)) return now + Math.min(RECHECK_MS, Math.max(span, 1_000));
    return stubsUntil > now ? stubsUntil : null;
  }

  override async alarm(): Promise<void> {
    const { bindingId, end } = this.window();
    const now = Date.now();
    const ledger = this.env.TRUST_LEDGER.getByName(bindingId);
    const sealAt = end + sealDelayMs(partitionSpanMs(this.env));
    if (this.store.meta("chain") !== null && this.store.meta("sealed") === null && now >= sealAt) {
      const sealed = await this.seal();
      await ledger.sealed(this.name, sealed.tail, sealed.next_seq);
    }
    // Dropped only after the seal time, so the window's counters outlive it.
    if (now >= Math.max(sealAt, end + retentionMs(this.env))) {
      const keepUntil = await this.neededUntil(now);
      if (keepUntil !== null) {
        await this.ctx.storage.setAlarm(keepUntil);
        return;
      }
      const chain = this.store.meta("chain") === null ? null : await this.openChain();
      if (chain && !("moved_to" in chain)) await ledger.dropped(this.name, chain.tail, chain.next_seq - 1);
      await markPartitionDropped(this.env.DB, this.name).catch(() => {});
      await this.ctx.storage.deleteAll();
      this.store.recreate();
      this.chain = null;
      this.totalsCache = null;
      return;
    }
    await this.armAlarm();
  }
}
