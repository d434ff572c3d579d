/** `GET /v1/records`: the append-only log, paged by `seq` (SPEC 14, 19). */
import { and, asc, eq, gt, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import type { Db } from "../../db/client";
import { events, records } from "../../db/schema";
import { scopedTopic } from "../../observability/records";
import type { AppEnv } from "../app";
import { tenantScope } from "../auth";
import { limitSchema } from "../pagination";
import { parseQuery } from "../validate";

export const listRecordsQuerySchema = z.object({
  topic: z.string().max(256).optional(),
  kind: z.string().max(128).optional(),
  event_id: z.string().max(128).optional(),
  trace_id: z.string().max(128).optional(),
  binding_key: z.string().max(160).optional(),
  after: z.coerce.number({ error: "after must be a record seq" }).int().min(0).optional(),
  limit: limitSchema,
});

/** The trace id of a stored event, or null when no such event exists (its records are then found by a scan). */
async function traceIdOf(db: Db, eventId: string): Promise<string | null> {
  const rows = await db.select({ traceId: events.traceId }).from(events).where(eq(events.id, eventId)).limit(1);
  return rows[0]?.traceId ?? null;
}

export function recordRoutes() {
  const app = new Hono<AppEnv>();
  app.get("/", async (c) => {
    const q = parseQuery(c, listRecordsQuerySchema);
    const db = drizzle(c.env.DB);
    const conditions: SQL[] = [];
    const scope = tenantScope(c);
    if (scope) conditions.push(eq(records.tenantId, scope));
    // A tenant key may name its topics unscoped (`triggers.lifecycle` = `tenant.<id>.triggers.lifecycle`).
    const topic = scope && q.topic && !q.topic.startsWith("tenant.") ? scopedTopic(q.topic, scope) : q.topic;
    if (topic) conditions.push(eq(records.topic, topic));
    if (q.kind) conditions.push(eq(records.kind, q.kind));
    if (q.event_id) {
      // `event_id` has no index: an event's records all carry its trace id, which has one.
      const traceId = await traceIdOf(db, q.event_id);
      if (traceId !== null) conditions.push(eq(records.traceId, traceId));
      conditions.push(eq(records.eventId, q.event_id));
    }
    if (q.trace_id) conditions.push(eq(records.traceId, q.trace_id));
    if (q.binding_key) conditions.push(eq(records.bindingKey, q.binding_key));
    if (q.after !== undefined) conditions.push(gt(records.seq, q.after));
    const rows = await db
      .select()
      .from(records)
      .where(conditions.length ? and(...conditions) : undefined)
      .orderBy(asc(records.seq))
      .limit(q.limit + 1);
    const items = rows.slice(0, q.limit).map((r) => ({
      seq: r.seq,
      topic: r.topic,
      kind: r.kind,
      tenant_id: r.tenantId,
      event_id: r.eventId,
      trace_id: r.traceId,
      binding_key: r.bindingKey,
      headers: JSON.parse(r.headers) as Record<string, string>,
      payload: JSON.parse(r.payload) as unknown,
      at: r.at,
    }));
    const last = items.at(-1);
    return c.json({ items, next_cursor: rows.length > q.limit && last ? String(last.seq) : null });
  });
  return app;
}
