/** `/v1/dlq`: dead-lettered dispatches, resolve and replay (SPEC 13.5). */
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import { dlqFilterSchema } from "../../contracts/dlq";
import { getVersion } from "../../db/bindings-repo";
import { type DlqRow, dlqDetail, dlqSummary, getDlq, listDlq } from "../../db/dlq-repo";
import { dlqEntries } from "../../db/schema";
import { replayTo } from "../../dispatch/replay";
import { loadStoredEvent } from "../../history/event-reader";
import { AppError, notFound } from "../../lib/errors";
import { iso } from "../../lib/time";
import type { AppEnv } from "../app-env";
import { tenantScope, visibleTo } from "../auth";
import { decodeCursor, limitSchema, page } from "../pagination";
import { parseQuery, readJson } from "../validate";

/** At most this many entries are replayed by one bulk request; repeat it for more. */
const BULK_REPLAY_LIMIT = 500;

export const bulkReplaySchema = z.strictObject({
  filter: z
    .strictObject({
      binding_id: z.string().max(128).optional(),
      binding_key: z.string().max(160).optional(),
      error_class: dlqFilterSchema.shape.error_class,
      since: dlqFilterSchema.shape.since,
    })
    .default({}),
  dry_run: z.boolean().default(false),
  retry: z.boolean().default(false),
});

export const listDlqQuerySchema = dlqFilterSchema.extend({ limit: limitSchema, cursor: z.string().optional() });
export const dlqReplayBodySchema = z.strictObject({ retry: z.boolean().default(false) });
export const dlqResolveBodySchema = z.strictObject({ reason: z.string().max(1000).optional() });

/** Replays a DLQ entry's event on the binding version that dead-lettered it. */
async function replayEntry(env: Env, row: DlqRow, retry: boolean) {
  const [event, version] = await Promise.all([loadStoredEvent(env, row.eventId), getVersion(env.DB, row.bindingKey)]);
  if (!event || !version)
    throw new AppError("conflict", `DLQ entry ${row.id} refers to an event or binding that no longer exists`);
  return { dlq_id: row.id, ...(await replayTo(env, event, version, { retry, dlqId: row.id })) };
}

export function dlqRoutes() {
  const app = new Hono<AppEnv>();

  app.get("/", async (c) => {
    const q = parseQuery(c, listDlqQuerySchema);
    const cursor = decodeCursor(q.cursor, 2);
    const since = q.since ? new Date(q.since).toISOString() : undefined;
    const rows = await listDlq(
      c.env.DB,
      { ...q, since, tenant: tenantScope(c) },
      cursor ? [String(cursor[0]), String(cursor[1])] : null,
      q.limit,
    );
    const result = page(rows, q.limit, (r) => [r.createdAt, r.id]);
    return c.json({ items: result.items.map(dlqSummary), next_cursor: result.next_cursor });
  });

  // Bulk replay by filter; `dry_run` answers what would run without running it.
  app.post("/replay", async (c) => {
    const body = await readJson(c, bulkReplaySchema);
    const since = body.filter.since ? new Date(body.filter.since).toISOString() : undefined;
    const rows = await listDlq(
      c.env.DB,
      { ...body.filter, since, state: "pending", tenant: tenantScope(c) },
      null,
      BULK_REPLAY_LIMIT,
    );
    const chosen = rows.slice(0, BULK_REPLAY_LIMIT);
    if (body.dry_run) return c.json({ dry_run: true, count: chosen.length, items: chosen.map((r) => r.id) });
    const replayed: string[] = [];
    for (const row of chosen) {
      await replayEntry(c.env, row, body.retry);
      replayed.push(row.id);
    }
    return c.json({ dry_run: false, count: replayed.length, items: replayed }, 202);
  });

  app.post("/:id/replay", async (c) => {
    const body = await readJson(c, dlqReplayBodySchema, { optional: true });
    const row = await getDlq(c.env.DB, c.req.param("id"));
    if (!row || !visibleTo(c, row.tenantId)) throw notFound(`DLQ entry '${c.req.param("id")}'`);
    if (row.state === "resolved") throw new AppError("conflict", `DLQ entry ${row.id} is already resolved`);
    return c.json({ items: [await replayEntry(c.env, row, body.retry)] }, 202);
  });

  app.get("/:id", async (c) => {
    const row = await getDlq(c.env.DB, c.req.param("id"));
    if (!row || !visibleTo(c, row.tenantId)) throw notFound(`DLQ entry '${c.req.param("id")}'`);
    return c.json(await dlqDetail(c.env, row));
  });

  app.post("/:id/resolve", async (c) => {
    await readJson(c, dlqResolveBodySchema, { optional: true });
    const row = await getDlq(c.env.DB, c.req.param("id"));
    if (!row || !visibleTo(c, row.tenantId)) throw notFound(`DLQ entry '${c.req.param("id")}'`);
    if (row.state !== "resolved") {
      await drizzle(c.env.DB)
        .update(dlqEntries)
        .set({ state: "resolved", resolvedAt: iso(Date.now()) })
        .where(eq(dlqEntries.id, row.id));
    }
    const updated = await getDlq(c.env.DB, row.id);
    return c.json(await dlqDetail(c.env, updated ?? row));
  });
  return app;
}
