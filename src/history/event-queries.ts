/**
 * Event reads for the API (SPEC 15, 19): the newest-first list, which walks the EventLog windows of
 * the D1 directory (every shard of a window at once) and pages by event id across them, and an
 * event's dispatches (its routes and replays, wherever each dispatch is now).
 */
import type { DispatchDoc } from "../contracts/dispatch-doc";
import { listPartitions } from "../db/partitions-repo";
import { dispatchIdOf } from "../dispatch/dispatch-id";
import { idBoundAt, partitionSpanMs, uuidv7Time } from "../lib/partitions";
import { findDispatches } from "./dispatch-queries";
import type { StoredEvent } from "./event-store";
import { legacyEventPage } from "./legacy-layout";
import { eventLogReads } from "./stubs";

export interface EventFilter {
  provider?: string | undefined;
  kind?: string | undefined;
  source?: string | undefined;
  trace_id?: string | undefined;
  tenant_id?: string | null | undefined;
}

/** How many windows one list request visits at most before answering a shorter page. */
const MAX_WINDOWS_PER_PAGE = 200;

export interface EventPage {
  /** Newest first, at most `limit + 1`. */
  rows: StoredEvent[];
  /**
   * Set when the page stopped at the window budget before it was full: the next page continues
   * below this id bound (the windows above it were read whole).
   */
  resume: string | null;
}

/** Events newest first, below `before` (an event id). */
export async function listEvents(
  env: Env,
  filter: EventFilter,
  before: string | null,
  limit: number,
): Promise<EventPage> {
  const span = partitionSpanMs(env);
  const logs = await listPartitions(env.DB, "events:", { live: true });
  // A generated trace id carries its time: only its window can hold its events.
  const traceAt = filter.trace_id ? uuidv7Time(filter.trace_id) : null;
  const byStart = new Map<number, string[]>();
  for (const p of logs) {
    if (
      traceAt !== null &&
      filter.trace_id?.startsWith("trace_") &&
      (traceAt < p.start - span || traceAt >= p.start + 2 * span)
    )
      continue;
    byStart.set(p.start, [...(byStart.get(p.start) ?? []), p.name]);
  }
  const starts = [...byStart.keys()].sort((a, b) => b - a);
  const out: StoredEvent[] = [];
  let visited = 0;
  let lastRead: number | null = null;
  let resume: string | null = null;
  for (const start of starts) {
    if (before && before < idBoundAt("evt", start)) continue;
    if (visited++ >= MAX_WINDOWS_PER_PAGE) {
      // Every window read so far was read whole: the next page starts below the last of them.
      if (lastRead !== null) resume = idBoundAt("evt", lastRead);
      break;
    }
    lastRead = start;
    const names = byStart.get(start) ?? [];
    const rows = await Promise.all(
      names.map((name) => eventLogReads(env, name).list({ ...filter, before, limit: limit + 1 - out.length })),
    );
    out.push(...rows.flat().sort((a, b) => (a.event.id < b.event.id ? 1 : -1)));
    if (out.length > limit) break;
  }
  if (out.length <= limit && resume === null) {
    // Events of the earlier layout (D1) come after every window, until retention ends them.
    const below = out.at(-1)?.event.id ?? before;
    out.push(...(await legacyEventPage(env.DB, filter, below, limit + 1 - out.length)));
  }
  return { rows: out.slice(0, limit + 1), resume: out.length > limit ? null : resume };
}

/** Every dispatch of an event: one per route, then its replays, by binding id then version. */
export async function dispatchesOfEvent(env: Env, stored: StoredEvent): Promise<DispatchDoc[]> {
  const ids = [
    ...stored.routes.map((key) => dispatchIdOf(key, stored.event.id)),
    ...stored.replays.map((r) => r.dispatch_id),
  ];
  const found = await findDispatches(env, ids);
  return ids
    .map((id) => found.get(id))
    .filter((d): d is DispatchDoc => d !== undefined)
    .sort(
      (a, b) =>
        (a.binding_id < b.binding_id ? -1 : a.binding_id > b.binding_id ? 1 : 0) ||
        a.binding_version - b.binding_version ||
        a.created_at - b.created_at,
    );
}
