/**
 * Ordering's routing watermark as a gate sees it (SPEC 9.7): the time before which every accepted
 * event has been routed, the lowest of what the EventLog shards of the current and the previous
 * window answer. An event older than the previous window is judged by its `reorder_window` alone.
 */
import { eventLogName, eventShards, partitionSpanMs, partitionStart } from "../lib/partitions";

interface WatermarkSource {
  routedThrough(): Promise<number>;
}

export async function readRoutingWatermark(env: Env, now: number): Promise<number> {
  const span = partitionSpanMs(env);
  const current = partitionStart(now, span);
  const names = [current - span, current].flatMap((start) =>
    Array.from({ length: eventShards(env) }, (_, shard) => eventLogName(start, shard)),
  );
  const marks = await Promise.all(
    names.map((name) => (env.EVENT_LOG.getByName(name) as unknown as WatermarkSource).routedThrough()),
  );
  return Math.min(...marks);
}
