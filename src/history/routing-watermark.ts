/**
 * An EventLog's routing watermark (docs/scale.md): every event with an id up to `routed_through` is
 * routed and counted in `accepted`. Persisted at most once a second while events flow (one row), so
 * a restarted object routes exactly what lies after it, and the window's counters stay cumulative.
 * Ordering (SPEC 9.7) reads the live form: the time before which everything received is routed.
 */
import { uuidv7Time } from "../lib/partitions";
import type { EventStore } from "./event-store";

/** Accepts that took their time but have not stored their rows yet: their events are not unrouted yet. */
export class AcceptsInFlight {
  private readonly times: number[] = [];

  /** Runs the accept's wait between taking its time `at` and storing its rows. */
  async during<T>(at: number, wait: () => Promise<T>): Promise<T> {
    this.times.push(at);
    try {
      return await wait();
    } finally {
      this.times.splice(this.times.indexOf(at), 1);
    }
  }

  earliest(): number | null {
    return this.times.length > 0 ? Math.min(...this.times) : null;
  }
}

/** The time before which every event received (stored or still being stored) has been routed. */
export function routedThroughOf(now: number, inFlight: AcceptsInFlight, unrouted: Iterable<string>): number {
  let through = Math.min(now, inFlight.earliest() ?? now);
  for (const id of unrouted) through = Math.min(through, uuidv7Time(id) ?? through);
  return through;
}

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
