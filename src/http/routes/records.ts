/** `GET /v1/records`: the records log, derived on read and paged by `seq` (SPEC 14, 19). */
import { and, asc, eq, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import { records } from "../../db/schema";
import type { RecordView } from "../../dispatch/dispatch-view";
import { loadStoredEvent } from "../../history/event-reader";
import {
  eventsOfTrace,
  recentRecords,
  recordsOfBinding,
  recordsOfEvents,
  type SeqRecord,
  withSeq,
} from "../../history/record-queries";
import { parseMessage } from "../../lib/json-text";
import { scopedTopic } from "../../observability/topics";
import { tenantScope } from "../auth";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";
import { limitSchema } from "../pagination";

const listRecordsQuerySchema = z.object({
  topic: z.string().max(256).optional(),
  kind: z.string().max(128).optional(),
  event_id: z.string().max(128).optional(),
  trace_id: z.string().max(128).optional(),
  binding_key: z.string().max(160).optional(),
  after: z.coerce.number({ error: "after must be a record seq" }).int().min(0).optional(),
  limit: limitSchema,
});

/** Control-plane records kept in D1 (binding lifecycle), and records of the earlier storage layout. */
async function d1Records(
  d1: D1Database,
  scope: { event_id?: string; trace_id?: string; binding_key?: string; tenant: string | null },
): Promise<RecordView[]> {
  const conditions: SQL[] = [];
  if (scope.tenant) conditions.push(eq(records.tenantId, scope.tenant));
  if (scope.event_id) conditions.push(eq(records.eventId, scope.event_id));
  if (scope.trace_id) conditions.push(eq(records.traceId, scope.trace_id));
  if (scope.binding_key) conditions.push(eq(records.bindingKey, scope.binding_key));
  const rows = await drizzle(d1)
    .select()
    .from(records)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(asc(records.seq))
    .limit(5_000);
  return rows.map((r) => ({
    topic: r.topic,
    kind: r.kind,
    tenant_id: r.tenantId,
    event_id: r.eventId,
    trace_id: r.traceId,
    binding_key: r.bindingKey,
    ...parseMessage(r),
    at: r.at,
  }));
}

export function recordRoutes() {
  return new RouteGroup("/v1/records", "Observability").on(
    {
      method: "get",
      path: "/",
      operationId: "listRecords",
      summary: "Read the record log in seq order",
      auth: "admin",
      query: listRecordsQuerySchema,
      paramDocs: { after: "Return records after this seq (the previous page's `next_cursor`)." },
      responses: { 200: { description: "A page of records.", json: named("RecordPage", s.recordPageSchema) } },
    },
    async (c, { query: q }) => {
      const env = c.env;
      const tenant = tenantScope(c);
      const after = q.after ?? 0;
      let all: SeqRecord[];
      if (q.event_id !== undefined) {
        const stored = await loadStoredEvent(env, q.event_id);
        const own = stored ? await recordsOfEvents(env, [stored]) : [];
        const legacy = await d1Records(env.DB, { event_id: q.event_id, tenant });
        all = withSeq([...legacy, ...own]).filter((r) => r.event_id === q.event_id);
      } else if (q.trace_id !== undefined) {
        const own = await recordsOfEvents(env, await eventsOfTrace(env, q.trace_id));
        all = withSeq([...(await d1Records(env.DB, { trace_id: q.trace_id, tenant })), ...own]);
      } else if (q.binding_key !== undefined) {
        const control = await d1Records(env.DB, { binding_key: q.binding_key, tenant });
        all = await recordsOfBinding(env, q.binding_key, after, q.limit, control);
      } else {
        all = withSeq(await recentRecords(env, await d1Records(env.DB, { tenant }), tenant));
      }
      // A tenant key may name its topics unscoped (`triggers.lifecycle` = `tenant.<id>.triggers.lifecycle`).
      const topic = tenant && q.topic && !q.topic.startsWith("tenant.") ? scopedTopic(q.topic, tenant) : q.topic;
      const matching = all.filter(
        (r) =>
          r.seq > after &&
          (tenant === null || r.tenant_id === tenant) &&
          (topic === undefined || r.topic === topic) &&
          (q.kind === undefined || r.kind === q.kind) &&
          (q.event_id === undefined || r.event_id === q.event_id) &&
          (q.trace_id === undefined || r.trace_id === q.trace_id) &&
          (q.binding_key === undefined || r.binding_key === q.binding_key),
      );
      const items = matching.slice(0, q.limit).map((r) => ({
        seq: r.seq,
        topic: r.topic,
        kind: r.kind,
        tenant_id: r.tenant_id,
        event_id: r.event_id,
        trace_id: r.trace_id,
        binding_key: r.binding_key,
        headers: r.headers,
        payload: r.payload,
        at: r.at,
      }));
      const last = items.at(-1);
      return c.json({ items, next_cursor: matching.length > q.limit && last ? String(last.seq) : null });
    },
  );
}
