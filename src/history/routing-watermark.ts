/**
 * An EventLog's routing watermark (docs/scale.md): every event with an id up to `routed_through` is
 * routed and counted in `accepted`. Persisted at most once a second while events flow (one row), so
 * a restarted object routes exactly what lies after it, and the window's counters stay cumulative.
 */
import type { EventStore } from "./event-store";

interface Progress {
  /** Every event with an id up to here is routed (and counted in `accepted`). */
  routed_through: string | null;
  accepted: Record<string, number>;
}

export function readProgress(store: EventStore): Progress {
  const text = store.meta("progress");
  return text ? (JSON.parse(text) as Progress) : { routed_through: null, accepted: {} };
}

/** Moves the watermark up to just below the oldest unrouted event (one row written). */
export function advanceProgress(store: EventStore, unrouted: Iterable<string>): void {
  const current = readProgress(store);
  const oldest = [...unrouted].sort()[0];
  const through = oldest
    ? (store.idsBelow(oldest) ?? current.routed_through)
    : (store.lastId() ?? current.routed_through);
  if (!through || (current.routed_through && through <= current.routed_through)) return;
  const counted = store.countBetween(current.routed_through, through);
  const accepted = { ...current.accepted };
  for (const [source, n] of Object.entries(counted)) accepted[source] = (accepted[source] ?? 0) + n;
  store.setMeta("progress", JSON.stringify({ routed_through: through, accepted } satisfies Progress));
}

/** Accepted events per source in the window, cumulative: the watermark's counts plus what lies after it. */
export function acceptedCounts(store: EventStore): Record<string, number> {
  const p = readProgress(store);
  const out = { ...p.accepted };
  for (const [source, n] of Object.entries(store.countAfter(p.routed_through))) {
    out[source] = (out[source] ?? 0) + n;
  }
  return out;
}
