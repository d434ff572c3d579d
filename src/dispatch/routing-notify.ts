/**
 * Tells the EventLog objects that route new events that binding versions or controls changed, so
 * their cached routing table is read again (SPEC 5.3: a binding applies to every event accepted
 * after the change). The current window's shards are told, and the next window's when it is close.
 */
import { eventLogName, eventShards, partitionSpanMs, partitionStart } from "../lib/partitions";

export async function notifyRoutingChanged(env: Env): Promise<void> {
  const span = partitionSpanMs(env);
  const now = Date.now();
  const starts = [partitionStart(now, span)];
  if (partitionStart(now + 5_000, span) !== starts[0]) starts.push(partitionStart(now + 5_000, span));
  const names = starts.flatMap((start) => Array.from({ length: eventShards(env) }, (_, s) => eventLogName(start, s)));
  const results = await Promise.allSettled(names.map((name) => env.EVENT_LOG.getByName(name).routingChanged()));
  for (const r of results) {
    if (r.status === "rejected")
      console.error(JSON.stringify({ msg: "routing change not announced", error: String(r.reason) }));
  }
}
