/**
 * The D1 directory of time partitions (docs/scale.md): which EventLog and History objects exist,
 * their totals once sealed (cumulative counters outlive the partitions), and which were dropped.
 * One row per object, written when it starts, when it is sealed and when it is dropped.
 */

export interface PartitionRow {
  name: string;
  start: number;
  sealed_at: number | null;
  totals: string | null;
  dropped_at: number | null;
}

export async function registerEventPartition(d1: D1Database, name: string, start: number, shard: number) {
  await registerPartition(d1, name, start, shard);
}

export async function registerPartition(d1: D1Database, name: string, start: number, shard = 0): Promise<void> {
  await d1
    .prepare(
      "INSERT INTO partitions (name, start, shard, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name, start, shard, Date.now())
    .run();
}

export async function sealEventPartition(
  d1: D1Database,
  name: string,
  start: number,
  shard: number,
  totals: unknown,
): Promise<void> {
  await sealPartition(d1, name, start, totals, shard);
}

/** Records a partition's final totals (it may have failed to register earlier: then it is created). */
export async function sealPartition(
  d1: D1Database,
  name: string,
  start: number,
  totals: unknown,
  shard = 0,
): Promise<void> {
  const now = Date.now();
  await d1
    .prepare(
      `INSERT INTO partitions (name, start, shard, created_at, sealed_at, totals) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET sealed_at = excluded.sealed_at, totals = excluded.totals`,
    )
    .bind(name, start, shard, now, now, JSON.stringify(totals))
    .run();
}

export async function markPartitionDropped(d1: D1Database, name: string): Promise<void> {
  await d1.prepare("UPDATE partitions SET dropped_at = ? WHERE name = ?").bind(Date.now(), name).run();
}

/** Partitions whose name starts with `prefix`, newest first, optionally only those not dropped. */
export async function listPartitions(
  d1: D1Database,
  prefix: string,
  opts: { live?: boolean; before?: string } = {},
): Promise<PartitionRow[]> {
  const upper = `${prefix}\uffff`;
  const { results } = await d1
    .prepare(
      `SELECT name, start, sealed_at, totals, dropped_at FROM partitions
       WHERE name >= ? AND name < ? ${opts.before ? "AND name < ?" : ""} ${opts.live ? "AND dropped_at IS NULL" : ""}
       ORDER BY name DESC`,
    )
    .bind(prefix, upper, ...(opts.before ? [opts.before] : []))
    .all<PartitionRow>();
  return results;
}
