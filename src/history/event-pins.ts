/**
 * What keeps an event readable past its window (SPEC 1.1): a live dispatch of it (running, retrying,
 * held, waiting for an approval, a followed A2A task, or any other `waiting`), or a pending DLQ
 * entry of it. Asked before an EventLog window is dropped and when the pinned store prunes.
 */
import { idBoundAt } from "../lib/partitions";

export type PinScope = { from: number; to: number } | { ids: string[] };

/** D1 binds at most 100 parameters per statement. */
const IN_CHUNK = 90;

export async function pinnedEventIds(env: Env, bindingKeys: string[], scope: PinScope): Promise<string[]> {
  const found = new Set<string>();
  const live = await Promise.all(bindingKeys.map((key) => env.BINDING_GATE.getByName(key).liveEventIds(scope)));
  for (const ids of live) for (const id of ids) found.add(id);
  if ("ids" in scope) {
    for (let i = 0; i < scope.ids.length; i += IN_CHUNK) {
      const chunk = scope.ids.slice(i, i + IN_CHUNK);
      const { results } = await env.DB.prepare(
        `SELECT DISTINCT event_id FROM dlq_entries WHERE state = 'pending' AND event_id IN (${chunk.map(() => "?").join(",")})`,
      )
        .bind(...chunk)
        .all<{ event_id: string }>();
      for (const r of results) found.add(r.event_id);
    }
  } else {
    const { results } = await env.DB.prepare(
      "SELECT DISTINCT event_id FROM dlq_entries WHERE state = 'pending' AND event_id >= ? AND event_id < ?",
    )
      .bind(idBoundAt("evt", scope.from), idBoundAt("evt", scope.to))
      .all<{ event_id: string }>();
    for (const r of results) found.add(r.event_id);
  }
  return [...found];
}
