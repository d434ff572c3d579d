/**
 * The life of an EventLog window (docs/scale.md): which object a name stands for, when its alarm must
 * wake (unrouted events, sealing the counters into D1, dropping the window after retention), and the
 * drop itself, which first copies to the pinned store every event something still needs (SPEC 1.1),
 * and its one-time registration in the D1 directory.
 */
import { markPartitionDropped, registerEventPartition } from "../db/partitions-repo";
import { PINNED_EVENT_LOG, sealDelayMs, uuidv7Time } from "../lib/partitions";
import { pinnedEventIds } from "./event-pins";
import type { EventStore, StoredEvent } from "./event-store";

/** Unrouted events are retried (and a restarted object recovers) on this period. */
export const RECOVERY_EVERY_MS = 5_000;
/** The pinned store looks for expired copies this often. */
const PINNED_SWEEP_EVERY_MS = 86_400_000;

/** The window start and shard an object was named for (`events:<ISO>[:<shard>]`). */
export function eventWindowOf(name: string, spanMs: number): { start: number; end: number; shard: number } {
  const match = /^events:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)(?::(\d+))?$/.exec(name);
  const start = match?.[1] ? Date.parse(match[1]) : 0;
  return { start, end: start + spanMs, shard: Number(match?.[2] ?? 0) };
}

/** When the object must wake next: retry unrouted events, seal, drop (never before sealing). */
export function eventLogWakeAt(w: {
  now: number;
  end: number;
  unrouted: boolean;
  sealed: boolean;
  pinned: boolean;
  spanMs: number;
  retentionMs: number;
}): number {
  const due: number[] = [];
  if (w.unrouted) due.push(w.now + RECOVERY_EVERY_MS);
  const sealAt = w.end + sealDelayMs(w.spanMs);
  if (!w.pinned && !w.sealed) due.push(sealAt);
  // A window is dropped once sealed, so never before its seal time.
  if (!w.pinned) due.push(Math.max(sealAt, w.end + w.retentionMs));
  else due.push(w.now + PINNED_SWEEP_EVERY_MS);
  return Math.max(w.now + 50, Math.min(...due));
}

/**
 * Copies the window's events that live dispatches, DLQ entries, approvals or followed tasks still
 * need to the pinned store, and marks the window dropped in the directory. The caller deletes itself.
 */
export async function dropWindow(env: Env, store: EventStore, name: string, window: { from: number; to: number }) {
  const ids = await pinnedEventIds(env, store.routedBindingKeys(), window);
  const keep = ids.map((id) => store.get(id)).filter((e): e is StoredEvent => e !== null);
  if (keep.length > 0) await env.EVENT_LOG.getByName(PINNED_EVENT_LOG).pin(keep);
  await markPartitionDropped(env.DB, name);
}

/** Pinned store: drops copies older than `cutoff` that nothing needs any more. */
export async function releaseExpiredPins(env: Env, store: EventStore, cutoff: number): Promise<void> {
  const old = store.list({ limit: 500, ascending: true });
  const expired = old.filter((e) => (uuidv7Time(e.event.id) ?? 0) < cutoff).map((e) => e.event.id);
  if (expired.length === 0) return;
  const keys = [...new Set(old.flatMap((e) => e.routes))];
  const still = new Set(await pinnedEventIds(env, keys, { ids: expired }));
  for (const id of expired) if (!still.has(id)) store.remove(id);
}

/** Registers a window in the D1 directory once (readers walk the directory); concurrent accepts share one try. */
export class WindowRegistration {
  private pending: Promise<void> | null = null;
  private readonly env: Env;
  private readonly store: EventStore;
  private readonly name: () => string;

  constructor(env: Env, store: EventStore, name: () => string) {
    this.env = env;
    this.store = store;
    this.name = name;
  }

  async ensure(start: number, shard: number): Promise<void> {
    if (this.store.meta("registered") !== null) return;
    this.pending ??= registerEventPartition(this.env.DB, this.name(), start, shard)
      .then(() => this.store.setMeta("registered", "1"))
      .finally(() => {
        this.pending = null;
      });
    try {
      await this.pending;
    } catch (error) {
      // The next accept tries again; until then lists may miss this window.
      console.error(JSON.stringify({ msg: "event partition not registered", error: String(error) }));
    }
  }
}
