/**
 * Reads events by id from the EventLog windows that hold them (the id names its window and shard),
 * falling back to the pinned store for windows retention already dropped, and to D1 for events of
 * the earlier storage layout.
 */
import type { TriggerEvent } from "../contracts/events";
import { eventLogOf, PINNED_EVENT_LOG, partitionSpanMs } from "../lib/partitions";
import type { StoredEvent } from "./event-store";
import { legacyEvents } from "./legacy-layout";
import { eventLogReads } from "./stubs";

export async function loadStoredEvents(env: Env, ids: readonly string[]): Promise<Map<string, StoredEvent>> {
  const span = partitionSpanMs(env);
  const byLog = new Map<string, string[]>();
  for (const id of new Set(ids)) {
    const log = eventLogOf(id, span);
    if (log) byLog.set(log, [...(byLog.get(log) ?? []), id]);
  }
  const found = new Map<string, StoredEvent>();
  await Promise.all(
    [...byLog].map(async ([log, list]) => {
      for (const e of await eventLogReads(env, log).get(list)) found.set(e.event.id, e);
    }),
  );
  const missing = [...byLog.values()].flat().filter((id) => !found.has(id));
  if (missing.length > 0) {
    for (const e of await eventLogReads(env, PINNED_EVENT_LOG).get(missing)) found.set(e.event.id, e);
  }
  const older = ids.filter((id) => !found.has(id));
  // Events of the earlier layout, kept in D1 until retention ends them.
  if (older.length > 0) for (const e of await legacyEvents(env.DB, older)) found.set(e.event.id, e);
  return found;
}

export async function loadStoredEvent(env: Env, id: string): Promise<StoredEvent | null> {
  return (await loadStoredEvents(env, [id])).get(id) ?? null;
}

export async function loadEvent(env: Env, id: string): Promise<TriggerEvent | null> {
  return (await loadStoredEvent(env, id))?.event ?? null;
}
