/**
 * EventLog: the inbox and the event history of one time window (and shard), one Durable Object each
 * (docs/scale.md). `accept` makes an event durable here before its dedupe claim exists in D1, answers,
 * and then routes it: one `BindingGate.admit` per matching binding version. A routing watermark,
 * persisted at most once a second, lets a restarted object route exactly what it had not finished.
 * The object seals its counters into D1 after its window and drops itself whole after retention,
 * first copying events something still needs to the pinned store. Its storage is `event-store.ts`,
 * the watermark `routing-watermark.ts`, the window's life (wake-ups, seal, drop) `event-window.ts`.
 */
import { DurableObject } from "cloudflare:workers";
import type { AcceptAnswer, AcceptRequest, PublishTarget } from "../contracts/event-log-rpc";
import type { TriggerEvent } from "../contracts/events";
import { loadRoutingTable } from "../db/bindings-repo";
import { claimDedupe, claimDedupeMany } from "../db/dedupe-repo";
import { sealEventPartition } from "../db/partitions-repo";
import { admitRequestOf, RoutingCache, type RoutingTable, routesOf } from "../dispatch/routing-table";
import { monotonicUuidv7, type Uuidv7State } from "../lib/ids";
import {
  PINNED_EVENT_LOG,
  partitionSpanMs,
  retentionMs,
  sealDelayMs,
  shardOfEventId,
  uuidv7Time,
  withShard,
} from "../lib/partitions";
import { iso } from "../lib/time";
import { countDurableObjectOps } from "../observability/counting-bindings";
import { EventStore, type ReplayPointer, type StoredEvent } from "./event-store";
import { dropWindow, eventLogWakeAt, eventWindowOf, releaseExpiredPins, WindowRegistration } from "./event-window";
import { AcceptsInFlight, acceptedCounts, advanceProgress, readProgress, routedThroughOf } from "./routing-watermark";

/** An accept arriving this long after the window ended goes to the next window instead. */
const ACCEPT_GRACE_MS = 5_000;
/** The watermark is persisted at most this often while events flow. */
const PROGRESS_EVERY_MS = 1_000;

export class EventLog extends DurableObject<Env> {
  private readonly store: EventStore;
  private readonly routing: RoutingCache;
  private readonly idState: Uuidv7State = { lastMs: -1, counter: 0 };
  /** Accepted ids whose routing has not finished (their rows exist). */
  private readonly unrouted = new Set<string>();
  private readonly inFlight = new AcceptsInFlight();
  private readonly registration: WindowRegistration;
  private recovered: Promise<void> | null = null;
  private progressTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObjectOps(this, "EventLog");
    this.store = new EventStore(ctx.storage.sql);
    this.registration = new WindowRegistration(env, this.store, () => this.name);
    this.routing = new RoutingCache(
      () => loadRoutingTable(this.env.DB),
      () => Date.now(),
    );
  }

  // ---- identity -------------------------------------------------------------------------------

  private get name(): string {
    return this.ctx.id.name ?? "";
  }

  private get pinned(): boolean {
    return this.name === PINNED_EVENT_LOG;
  }

  /** The window start and shard this object was named for (`events:<ISO>[:<shard>]`). */
  private window(): { start: number; end: number; shard: number } {
    return eventWindowOf(this.name, partitionSpanMs(this.env));
  }

  // ---- intake ---------------------------------------------------------------------------------

  async accept(req: AcceptRequest): Promise<AcceptAnswer> {
    return (await this.acceptMany([req]))[0] ?? { status: "moved" };
  }

  /**
   * Accepts events in order (a publish array): every row is written and made durable at once, the
   * keyed ones claim their keys in one D1 batch (a key repeated in the batch is a duplicate of its
   * first use), and the accepted ones are routed after the answer.
   */
  async acceptMany(reqs: AcceptRequest[]): Promise<AcceptAnswer[]> {
    await this.recover();
    const { start, end, shard } = this.window();
    const now = Date.now();
    if (this.pinned || now >= end + ACCEPT_GRACE_MS) return reqs.map(() => ({ status: "moved" }));
    // Ids are monotonic in this object, so the watermark is a plain id; clamped into the window.
    const at = Math.min(Math.max(now, start), end - 1);
    const table = await this.inFlight.during(at, () => this.routing.get());
    const items = reqs.map((req) => {
      const id = withShard(`evt_${monotonicUuidv7(this.idState, at)}`, shard);
      // An event published without a dedupe key is unique: it claims nothing (no D1 statement).
      const unique = req.event.dedupe_key === "";
      const event: TriggerEvent = {
        ...req.event,
        id,
        received_at: iso(uuidv7Time(id) ?? at),
        dedupe_key: unique ? `evt:${id}` : req.event.dedupe_key,
      };
      this.store.insert({
        event,
        source: req.source,
        style: req.style,
        dedupe_scope: req.dedupe_scope,
        claim_expires: now + req.dedupe_window_s * 1000,
        target: req.target,
        routes: routesOf(table, event, req.target).map((b) => b.bindingKey),
        replays: [],
      });
      this.unrouted.add(id);
      return { req, event, unique };
    });
    // The events are durable before a claim could make anyone answer "duplicate" for them (SPEC 1.1).
    await this.ctx.storage.sync();
    await this.ensureRegistered(start, shard);
    const keyed = items.filter((i) => !i.unique);
    let holders: string[];
    try {
      holders = await claimDedupeMany(
        this.env.DB,
        keyed.map(({ req, event }) => ({
          scope: req.dedupe_scope,
          dedupe_key: event.dedupe_key,
          event_id: event.id,
          expires_at: now + req.dedupe_window_s * 1000,
        })),
        now,
      );
    } catch (error) {
      // The rows stay: recovery settles the claims and routes the events that hold theirs.
      console.error(JSON.stringify({ msg: "dedupe claim failed", error: String(error) }));
      await this.armAlarm();
      holders = keyed.map(() => "");
    }
    const holderOf = new Map(keyed.map((i, n) => [i.event.id, holders[n] ?? ""]));
    const routed: Promise<void>[] = [];
    const answers = items.map(({ req, event, unique }): AcceptAnswer => {
      const holder = unique ? event.id : (holderOf.get(event.id) ?? "");
      if (holder === "") {
        return { status: "unavailable", message: "event stored but its dedupe claim could not be made yet" };
      }
      if (holder !== event.id) {
        this.store.remove(event.id);
        this.unrouted.delete(event.id);
        return { status: "duplicate", event_id: holder };
      }
      routed.push(this.route(event, table, req.target, false));
      return { status: "accepted", event_id: event.id, received_at: event.received_at };
    });
    if (routed.length > 0) this.ctx.waitUntil(Promise.all(routed));
    return answers;
  }

  /**
   * Ordering's routing watermark (SPEC 9.7): every event this object received before the answer
   * (ms) has been routed. Events still being routed or stored hold it back.
   */
  async routedThrough(): Promise<number> {
    // Recovery fills `unrouted` before its first await; waiting for it to finish could deadlock with
    // a gate that asks this while recovery is admitting at it, so it runs on in the background.
    this.recover().catch(() => {});
    return routedThroughOf(Date.now(), this.inFlight, this.unrouted);
  }

  /** Admits `event` at every binding version it matches; it stays unrouted if any admit fails. */
  private async route(
    event: TriggerEvent,
    table: RoutingTable,
    target: PublishTarget | null,
    recovering: boolean,
  ): Promise<void> {
    try {
      const stored = recovering ? this.store.get(event.id) : null;
      const keys = stored?.routes;
      const matched = keys
        ? table.candidates.filter((b) => keys.includes(b.bindingKey))
        : routesOf(table, event, target);
      await Promise.all(
        matched.map((binding) =>
          this.env.BINDING_GATE.getByName(binding.bindingKey).admit(
            admitRequestOf(event, binding, table.controls.get(binding.id), recovering),
          ),
        ),
      );
      this.unrouted.delete(event.id);
      this.scheduleProgress();
    } catch (error) {
      console.error(JSON.stringify({ msg: "routing failed", event_id: event.id, error: String(error) }));
      await this.armAlarm();
    }
  }

  // ---- progress, recovery, alarm --------------------------------------------------------------

  private scheduleProgress(): void {
    if (this.progressTimer) return;
    this.progressTimer = setTimeout(() => {
      this.progressTimer = null;
      this.saveProgress();
    }, PROGRESS_EVERY_MS);
  }

  /** Moves the watermark up to just below the oldest unrouted event (one row written). */
  private saveProgress(): void {
    advanceProgress(this.store, this.unrouted);
  }

  /**
   * Once per activation: events after the watermark may be unrouted, or may not even hold their
   * dedupe claim (the object died between the two). Each claim is made again (a no-op when held),
   * duplicates are removed, and the rest routed with `recovering` (their dispatches may exist).
   */
  private recover(): Promise<void> {
    if (!this.recovered) {
      this.recovered = this.recoverNow().catch((error) => {
        this.recovered = null;
        throw error;
      });
    }
    return this.recovered;
  }

  private async recoverNow(): Promise<void> {
    if (this.pinned) return;
    const ids = this.store.idsAfter(readProgress(this.store).routed_through, 10_000);
    this.recoveredCount = ids.length;
    for (const id of ids) this.unrouted.add(id);
    if (ids.length > 0) await this.retryUnrouted();
  }

  /** Events the last activation found after the watermark (the sweep reports them). */
  private recoveredCount = 0;

  private async retryUnrouted(): Promise<void> {
    const table = await this.routing.get();
    const now = Date.now();
    for (const id of [...this.unrouted].sort()) {
      const stored = this.store.get(id);
      if (!stored) {
        this.unrouted.delete(id);
        continue;
      }
      if (stored.event.dedupe_key === `evt:${id}`) {
        await this.route(stored.event, table, stored.target, true);
        continue;
      }
      try {
        const holder = await claimDedupe(
          this.env.DB,
          {
            scope: stored.dedupe_scope,
            dedupe_key: stored.event.dedupe_key,
            event_id: id,
            expires_at: stored.claim_expires,
          },
          now,
        );
        if (holder !== id) {
          this.store.remove(id);
          this.unrouted.delete(id);
          continue;
        }
      } catch (error) {
        console.error(JSON.stringify({ msg: "dedupe re-claim failed", event_id: id, error: String(error) }));
        continue;
      }
      await this.route(stored.event, table, stored.target, true);
    }
    this.saveProgress();
  }

  private async armAlarm(): Promise<void> {
    const next = eventLogWakeAt({
      now: Date.now(),
      end: this.window().end,
      unrouted: this.unrouted.size > 0,
      sealed: this.store.meta("sealed") !== null,
      pinned: this.pinned,
      spanMs: partitionSpanMs(this.env),
      retentionMs: retentionMs(this.env),
    });
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(next);
  }

  override async alarm(): Promise<void> {
    await this.recover();
    if (this.unrouted.size > 0) await this.retryUnrouted();
    const now = Date.now();
    const { start, end, shard } = this.window();
    if (this.pinned) {
      await this.releasePins(now);
    } else {
      const sealAt = end + sealDelayMs(partitionSpanMs(this.env));
      if (this.store.meta("sealed") === null && now >= sealAt && this.unrouted.size === 0) {
        this.saveProgress();
        await sealEventPartition(this.env.DB, this.name, start, shard, this.counts());
        this.store.setMeta("sealed", String(now));
      }
      // Dropped only once sealed, so the window's counters outlive it.
      if (now >= end + retentionMs(this.env) && this.store.meta("sealed") !== null) {
        if (await this.dropWindow(start, end)) return;
      }
    }
    await this.armAlarm();
  }

  /** Copies what is still needed to the pinned store, then drops the object (SPEC 1.1). */
  private async dropWindow(start: number, end: number): Promise<boolean> {
    await dropWindow(this.env, this.store, this.name, { from: start, to: end });
    await this.ctx.storage.deleteAll();
    this.store.recreate();
    this.unrouted.clear();
    return true;
  }

  /** Pinned store: drops events older than retention that nothing needs any more. */
  private async releasePins(now: number): Promise<void> {
    await releaseExpiredPins(this.env, this.store, now - retentionMs(this.env));
  }

  /** Once per window: the D1 directory lists it (readers walk the directory), and its alarm is set. */
  private async ensureRegistered(start: number, shard: number): Promise<void> {
    await this.registration.ensure(start, shard);
    await this.armAlarm();
  }

  // ---- reads and small writes -------------------------------------------------------------------

  async get(ids: string[]): Promise<StoredEvent[]> {
    return ids.map((id) => this.store.get(id)).filter((e): e is StoredEvent => e !== null);
  }

  async list(q: Parameters<EventStore["list"]>[0]): Promise<StoredEvent[]> {
    return this.store.list(q);
  }

  async addReplay(eventId: string, pointer: ReplayPointer): Promise<boolean> {
    return this.store.addReplay(eventId, pointer);
  }

  /** A signature rejection (SPEC 4.2): its audit record is the only thing stored. */
  async rejected(record: { at: number; tenant_id: string | null; topic: string; kind: string; payload: unknown }) {
    this.store.addAudit(record.at, record.tenant_id, record.topic, record.kind, record.payload);
    const { start, shard } = this.window();
    await this.ensureRegistered(start, shard);
  }

  async audits(limit: number) {
    return this.store.audits(limit);
  }

  /** Accepted events per source in this window, cumulative. */
  counts(): Record<string, number> {
    return acceptedCounts(this.store);
  }

  /** The sweep's poke: routes what a lost alarm left unrouted. Returns how many were unrouted. */
  async tick(): Promise<number> {
    if (this.store.meta("registered") === null) return 0;
    const fresh = this.recovered === null;
    await this.recover();
    const pending = this.unrouted.size;
    if (pending > 0) await this.retryUnrouted();
    await this.armAlarm();
    return pending + (fresh ? this.recoveredCount : 0);
  }

  async acceptedCounts(): Promise<Record<string, number>> {
    return this.counts();
  }

  /** The binding service changed a binding version or control: route with fresh data from now on. */
  async routingChanged(): Promise<void> {
    this.routing.invalidate();
  }

  /** Pinned store: keeps copies of events a dropped window still owed. */
  async pin(events: StoredEvent[]): Promise<void> {
    for (const e of events) if (!this.store.get(e.event.id)) this.store.insert(e);
    for (const e of events) for (const r of e.replays) this.store.addReplay(e.event.id, r);
    await this.armAlarm();
  }
}

export { shardOfEventId };
