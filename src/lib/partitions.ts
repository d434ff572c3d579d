/**
 * Time partitions of per-event history (docs/scale.md). Events live in `EventLog` objects named by
 * the start of their time window (and a shard); finished dispatches live in `History` objects named
 * by their binding id and the window they were appended in. Both windows are `PARTITION_SECONDS`
 * long (one hour by default). Pure: names and times only.
 */

export const DEFAULT_PARTITION_SECONDS = 3600;

/** The partition span of a deployment, in ms (`PARTITION_SECONDS`, default one hour). */
export function partitionSpanMs(env: { PARTITION_SECONDS?: string }): number {
  const seconds = Number(env.PARTITION_SECONDS);
  return (Number.isFinite(seconds) && seconds >= 1 ? Math.floor(seconds) : DEFAULT_PARTITION_SECONDS) * 1000;
}

/** How many EventLog objects share one window (`EVENT_SHARDS`, 1 to 64). */
export function eventShards(env: { EVENT_SHARDS?: string }): number {
  const n = Number(env.EVENT_SHARDS);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 64) : 1;
}

export function partitionStart(at: number, spanMs: number): number {
  return Math.floor(at / spanMs) * spanMs;
}

/** `events:<start ISO>` plus `:<shard>` for shards after the first. */
export function eventLogName(start: number, shard: number): string {
  const base = `events:${new Date(start).toISOString()}`;
  return shard === 0 ? base : `${base}:${shard}`;
}

/** The store of events whose window was dropped while something still needed them (SPEC 1.1). */
export const PINNED_EVENT_LOG = "events:pinned";

/** `history:<binding_id>:<start ISO>`: binding ids have no `:`, so a prefix lists one binding's. */
export function historyName(bindingId: string, start: number): string {
  return `history:${bindingId}:${new Date(start).toISOString()}`;
}

/** The binding id and window start a `history:<binding_id>:<start ISO>` name stands for. */
export function parseHistoryName(name: string): { bindingId: string; start: number } | null {
  const match = /^history:([^:]+):(.+)$/.exec(name);
  const start = match?.[2] ? Date.parse(match[2]) : Number.NaN;
  return match?.[1] && Number.isFinite(start) ? { bindingId: match[1], start } : null;
}

const UUID_HEX = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The millisecond time of a UUIDv7 (bare, or after a `evt_`, `trace_`, `r` … prefix), or null. */
export function uuidv7Time(id: string): number | null {
  const uuid = id.slice(id.indexOf("_") + 1).replace(/^r(?=[0-9a-f]{8}-)/, "");
  if (!UUID_HEX.test(uuid)) return null;
  return Number.parseInt(uuid.slice(0, 8) + uuid.slice(9, 13), 16);
}

/** The shard an event id was written to (its last byte; 0 for ids not made by an EventLog). */
export function shardOfEventId(eventId: string): number {
  const last = Number.parseInt(eventId.slice(-2), 16);
  return Number.isFinite(last) ? last : 0;
}

/** Replaces the last byte of a UUID-based id with `shard`, so the id names its EventLog. */
export function withShard(id: string, shard: number): string {
  return id.slice(0, -2) + shard.toString(16).padStart(2, "0");
}

/** The EventLog that holds an event id, or null for an id no EventLog could have made. */
export function eventLogOf(eventId: string, spanMs: number): string | null {
  const at = uuidv7Time(eventId);
  if (at === null || !eventId.startsWith("evt_")) return null;
  return eventLogName(partitionStart(at, spanMs), shardOfEventId(eventId));
}

/**
 * The time a dispatch was created, as far as its id tells: a replay's tag (`r<uuidv7>`) was made
 * when the replay was, an original dispatch is created when its event is routed.
 */
export function dispatchKeyTime(dispatchId: string): number {
  const parts = dispatchId.split("|");
  const tag = parts[2];
  const fromTag = tag ? uuidv7Time(tag) : null;
  return fromTag ?? uuidv7Time(parts[1] ?? "") ?? 0;
}

/**
 * How long after its end a window is sealed (its totals written to D1): late accepts (5 s grace)
 * and finals have arrived by then. A minute, or the window's own length when that is shorter (but
 * at least 10 s). A window is never dropped before it is sealed.
 */
export function sealDelayMs(spanMs: number): number {
  return Math.min(60_000, Math.max(spanMs, 10_000));
}

/** How long per-event history is kept (`RECORDS_RETENTION_DAYS`, default 7), in ms. */
export function retentionMs(env: { RECORDS_RETENTION_DAYS?: string }): number {
  const days = Number(env.RECORDS_RETENTION_DAYS);
  return (Number.isFinite(days) && days > 0 ? days : 7) * 86_400_000;
}

/** The smallest `<prefix>_<uuidv7>` id of millisecond `ms`: a bound for id range scans. */
export function idBoundAt(prefix: string, ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, "0");
  return `${prefix}_${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-0000-000000000000`;
}
