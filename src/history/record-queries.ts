/**
 * `GET /v1/records` (SPEC 14): records are derived on read. An event's intake records come from its
 * EventLog row, a dispatch's from its transition log, signature rejections from the audit rows of
 * an EventLog, binding lifecycle records from D1. `seq` is the record time in ms × 1000 plus the
 * record's rank among the scope's records of that millisecond (causal order within a dispatch).
 */
import type { DispatchDoc } from "../contracts/dispatch-doc";
import { listPartitions } from "../db/partitions-repo";
import { type RecordView, recordsOf } from "../dispatch/dispatch-view";
import { partitionSpanMs, uuidv7Time } from "../lib/partitions";
import { iso } from "../lib/time";
import { scopedTopic, TOPICS } from "../observability/topics";
import { bindingIdOf } from "./dispatch-queries";
import { dispatchesOfEvent, listEvents } from "./event-queries";
import type { StoredEvent } from "./event-store";
import { eventLogReads, gateReads, historyReads } from "./stubs";

export interface SeqRecord extends RecordView {
  seq: number;
}

/** The records an event's intake stands for (SPEC 4): its signature check and its acceptance. */
export function intakeRecords(stored: StoredEvent): RecordView[] {
  // The earlier layout wrote these to D1, where they are read.
  if (stored.legacy) return [];
  const e = stored.event;
  const base = {
    tenant_id: e.tenant_id,
    event_id: e.id,
    trace_id: e.trace_id,
    binding_key: null,
    headers: {},
    at: e.received_at,
  };
  const out: RecordView[] = [];
  if (stored.style) {
    out.push({
      ...base,
      topic: scopedTopic(TOPICS.signature, e.tenant_id),
      kind: `signature_${e.signature_status.state}`,
      payload: { source: stored.source, style: stored.style },
    });
  }
  out.push({
    ...base,
    topic: scopedTopic(TOPICS.inbox, e.tenant_id),
    kind: "event_accepted",
    payload: { source: stored.source, provider: e.provider, kind: e.kind, dedupe_key: e.dedupe_key },
  });
  return out;
}

/** One dispatch's records, never earlier than `notBefore` and never going back in time. */
function dispatchRecords(doc: DispatchDoc, notBefore: string | null): RecordView[] {
  let floor = notBefore ?? "";
  return recordsOf(doc).map((r) => {
    const at = [r.at, floor].sort().at(-1) ?? r.at;
    floor = at;
    return { ...r, at };
  });
}

/** Assigns `seq` (ms × 1000 + rank within the millisecond) keeping the given order within a ms. */
export function withSeq(records: RecordView[]): SeqRecord[] {
  const indexed = records.map((r, i) => ({ r, i, ms: Date.parse(r.at), o: r.order ?? -1 }));
  indexed.sort((a, b) => a.ms - b.ms || a.o - b.o || a.i - b.i);
  const out: SeqRecord[] = [];
  let lastMs = -1;
  let rank = 0;
  for (const { r, ms } of indexed) {
    rank = ms === lastMs ? rank + 1 : 0;
    lastMs = ms;
    const { order: _order, ...view } = r;
    out.push({ ...view, seq: ms * 1000 + Math.min(rank, 999) });
  }
  return out;
}

/** Every record of the given events and their dispatches, in causal order. */
export async function recordsOfEvents(env: Env, events: StoredEvent[]): Promise<RecordView[]> {
  const out: RecordView[] = [];
  const perEvent = await Promise.all(events.map((e) => dispatchesOfEvent(env, e)));
  events.forEach((stored, i) => {
    out.push(...intakeRecords(stored));
    for (const doc of perEvent[i] ?? []) out.push(...dispatchRecords(doc, stored.event.received_at));
  });
  return out;
}

/** The events of a trace: a generated trace id names its window; any other is searched for. */
export async function eventsOfTrace(env: Env, traceId: string): Promise<StoredEvent[]> {
  const all: StoredEvent[] = [];
  let before: string | null = null;
  for (let page = 0; page < 20; page++) {
    const { rows, resume } = await listEvents(env, { trace_id: traceId }, before, 500);
    all.push(...rows.slice(0, 500));
    before = rows.length > 500 ? (rows[499]?.event.id ?? null) : resume;
    if (before === null) break;
  }
  return all.reverse();
}

/**
 * Records of one binding version, in causal order, after `afterSeq`: its live dispatches and the
 * entries of its History windows from the window of `afterSeq` on. The answer ends at the first
 * window boundary past which more than `limit` records are known, where every record before it is
 * known (later windows only add records of dispatches created earlier, which are fetched too).
 */
export async function recordsOfBinding(
  env: Env,
  bindingKey: string,
  afterSeq: number,
  limit: number,
  control: RecordView[],
): Promise<SeqRecord[]> {
  const fromMs = Math.floor(afterSeq / 1000);
  const span = partitionSpanMs(env);
  const windows = (await listPartitions(env.DB, `history:${bindingIdOf(bindingKey)}:`, { live: true }))
    .filter((w) => w.start + span > fromMs)
    .sort((a, b) => a.start - b.start);
  const docs = new Map<string, DispatchDoc>();
  for (const doc of await gateReads(env, bindingKey).held()) docs.set(doc.dispatch_id, doc);
  const recordsBefore = (end: number) => {
    const records: RecordView[] = [...control];
    const sorted = [...docs.values()].sort(
      (a, b) => a.created_at - b.created_at || (a.dispatch_id < b.dispatch_id ? -1 : 1),
    );
    for (const doc of sorted) records.push(...dispatchRecords(doc, null));
    return withSeq(records).filter((r) => r.seq > afterSeq && Date.parse(r.at) < end);
  };
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i];
    if (!w) break;
    for (const doc of await historyReads(env, w.name).docs(bindingKey)) docs.set(doc.dispatch_id, doc);
    const complete = w.start + span;
    if (i + 1 < windows.length && recordsBefore(complete).length > limit) {
      // Later windows can still hold dispatches created before this boundary.
      for (const later of windows.slice(i + 1)) {
        for (const doc of await historyReads(env, later.name).docs(bindingKey)) {
          if ((uuidv7Time(doc.event_id) ?? 0) < complete || doc.created_at < complete) docs.set(doc.dispatch_id, doc);
        }
      }
      return recordsBefore(complete);
    }
  }
  return recordsBefore(Number.POSITIVE_INFINITY);
}

/** Recent records without a scope (SPEC 14: a bounded window): the newest events and rejections. */
export async function recentRecords(env: Env, control: RecordView[], tenant: string | null): Promise<RecordView[]> {
  const { rows: events } = await listEvents(env, { tenant_id: tenant ?? undefined }, null, 50);
  const records = await recordsOfEvents(env, events.slice(0, 50).reverse());
  const logs = (await listPartitions(env.DB, "events:", { live: true })).slice(0, 4);
  for (const log of logs) {
    for (const a of await eventLogReads(env, log.name).audits(100)) {
      if (tenant && a.tenant_id !== tenant) continue;
      records.push({
        topic: scopedTopic(a.topic, a.tenant_id),
        kind: a.kind,
        tenant_id: a.tenant_id,
        event_id: null,
        trace_id: null,
        binding_key: null,
        headers: {},
        payload: a.payload,
        at: iso(a.at),
      });
    }
  }
  return [...records, ...control];
}
