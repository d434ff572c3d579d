/** `/v1/dlq`: dead-lettered dispatches (SPEC 13.5). Replay lands with the replay issue. */
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import { dlqDetail, dlqSummary, getDlq, listDlq } from "../../db/dlq-repo";
import { dlqEntries } from "../../db/schema";
import { notFound } from "../../lib/errors";
import { iso } from "../../lib/time";
import type { AppEnv } from "../app";
import { decodeCursor, limitSchema, page } from "../pagination";
import { parseQuery, readJson } from "../validate";

export const dlqFilterSchema = z.object({
  binding_id: z.string().max(128).optional(),
  binding_key: z.string().max(160).optional(),
  error_class: z
    .enum([
      "budget_exhausted",
      "handler_timeout",
      "auth_failed",
      "provider_5xx",
      "predicate_panic",
      "handler_panic",
      "unknown",
    ])
    .optional(),
  state: z.enum(["pending", "resolved"]).optional(),
  since: z.iso.datetime({ offset: true, error: "since must be an RFC 3339 timestamp" }).optional(),
});

export function dlqRoutes() {
  const app = new Hono<AppEnv>();

  app.get("/", async (c) => {
    const q = parseQuery(c, dlqFilterSchema.extend({ limit: limitSchema, cursor: z.string().optional() }));
    const cursor = decodeCursor(q.cursor, 2);
    const since = q.since ? new Date(q.since).toISOString() : undefined;
    const rows = await listDlq(
      c.env.DB,
      { ...q, since },
      cursor ? [String(cursor[0]), String(cursor[1])] : null,
      q.limit,
    );
    const result = page(rows, q.limit, (r) => [r.createdAt, r.id]);
    return c.json({ items: result.items.map(dlqSummary), next_cursor: result.next_cursor });
  });

  app.get("/:id", async (c) => {
    const row = await getDlq(c.env.DB, c.req.param("id"));
    if (!row) throw notFound(`DLQ entry '${c.req.param("id")}'`);
    return c.json(await dlqDetail(c.env.DB, row));
  });

  app.post("/:id/resolve", async (c) => {
    await readJson(c, z.strictObject({ reason: z.string().max(1000).optional() }), { optional: true });
    const row = await getDlq(c.env.DB, c.req.param("id"));
    if (!row) throw notFound(`DLQ entry '${c.req.param("id")}'`);
    if (row.state !== "resolved") {
      await drizzle(c.env.DB)
        .update(dlqEntries)
        .set({ state: "resolved", resolvedAt: iso(Date.now()) })
        .where(eq(dlqEntries.id, row.id));
    }
    const updated = await getDlq(c.env.DB, row.id);
    return c.json(await dlqDetail(c.env.DB, updated ?? row));
  });
  return app;
}
