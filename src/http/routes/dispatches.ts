/** `/v1/dispatches`: list and detail with attempts (SPEC 19). */
import { Hono } from "hono";
import { z } from "zod";
import { dispatchStatusSchema } from "../../contracts/dispatch";
import { attemptsOf, attemptView, getDispatch, listDispatches, outcomeFromRow } from "../../db/dispatches-repo";
import { notFound } from "../../lib/errors";
import type { AppEnv } from "../app";
import { decodeCursor, limitSchema, page } from "../pagination";
import { parseQuery } from "../validate";

export function dispatchRoutes() {
  const app = new Hono<AppEnv>();

  app.get("/", async (c) => {
    const q = parseQuery(
      c,
      z.object({
        limit: limitSchema,
        cursor: z.string().optional(),
        event_id: z.string().max(128).optional(),
        binding_key: z.string().max(160).optional(),
        binding_id: z.string().max(128).optional(),
        status: dispatchStatusSchema.optional(),
        replay_of_event_id: z.string().max(128).optional(),
      }),
    );
    const cursor = decodeCursor(q.cursor, 2);
    const rows = await listDispatches(c.env.DB, {
      ...q,
      cursor: cursor ? [String(cursor[0]), String(cursor[1])] : null,
    });
    const result = page(rows, q.limit, (r) => [r.createdAt, r.dispatchId]);
    return c.json({
      items: result.items.map((r) => ({
        ...outcomeFromRow(r),
        trace_id: r.traceId,
        created_at: r.createdAt,
        updated_at: r.updatedAt,
      })),
      next_cursor: result.next_cursor,
    });
  });

  app.get("/:binding_key/:event_id", async (c) => {
    const bindingKey = decodeURIComponent(c.req.param("binding_key"));
    const eventId = c.req.param("event_id");
    const row = await getDispatch(c.env.DB, bindingKey, eventId);
    if (!row) throw notFound(`dispatch ${bindingKey}/${eventId}`);
    const attempts = await attemptsOf(c.env.DB, row.dispatchId);
    return c.json({
      ...outcomeFromRow(row),
      attempts: attempts.map(attemptView),
      created_at: row.createdAt,
      updated_at: row.updatedAt,
      trace_id: row.traceId,
    });
  });
  return app;
}
