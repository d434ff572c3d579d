/** `GET /v1/stats` (SPEC 13.3, 19): live counts from D1 and per-binding gate state from each BindingGate. */
import { and, eq, gt, inArray, ne, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import { LIVE_STATUSES } from "../../contracts/dispatch";
import { bindingVersions, dispatches, dlqEntries } from "../../db/schema";
import type { AppEnv } from "../app";
import { tenantScope } from "../auth";
import { page } from "../pagination";
import { parseQuery } from "../validate";

/**
 * Each listed binding costs one Durable Object call, so the gate states come in pages (by binding
 * key, at most 500 per request); the counts always cover every binding.
 */
export const statsQuerySchema = z.object({
  limit: z.coerce
    .number({ error: "limit must be an integer from 1 to 500" })
    .int("limit must be an integer from 1 to 500")
    .min(1, "limit must be an integer from 1 to 500")
    .max(500, "limit must be an integer from 1 to 500")
    .default(100),
  cursor: z.string().max(300).optional(),
  binding_id: z.string().max(128).optional(),
  binding_key: z.string().max(160).optional(),
});

export function statsRoutes() {
  const app = new Hono<AppEnv>();
  app.get("/", async (c) => {
    const q = parseQuery(c, statsQuerySchema);
    const db = drizzle(c.env.DB);
    // A tenant key sees its own tenant's counts and bindings.
    const scope = tenantScope(c);
    const [live, dlq, versions] = await Promise.all([
      db
        .select({ status: dispatches.status, n: sql<number>`count(*)` })
        .from(dispatches)
        .where(and(inArray(dispatches.status, [...LIVE_STATUSES]), scope ? eq(dispatches.tenantId, scope) : undefined))
        .groupBy(dispatches.status),
      db
        .select({ n: sql<number>`count(*)` })
        .from(dlqEntries)
        .where(and(eq(dlqEntries.state, "pending"), scope ? eq(dlqEntries.tenantId, scope) : undefined)),
      db
        .select({ bindingKey: bindingVersions.bindingKey, state: bindingVersions.state })
        .from(bindingVersions)
        .where(
          and(
            ne(bindingVersions.state, "terminated"),
            scope ? eq(bindingVersions.tenantId, scope) : undefined,
            q.cursor ? gt(bindingVersions.bindingKey, q.cursor) : undefined,
            q.binding_id ? eq(bindingVersions.id, q.binding_id) : undefined,
            q.binding_key ? eq(bindingVersions.bindingKey, q.binding_key) : undefined,
          ),
        )
        .orderBy(bindingVersions.bindingKey)
        .limit(q.limit + 1),
    ]);
    const listed = page(versions, q.limit, (v) => [v.bindingKey]);
    const count = (status: string) => live.find((r) => r.status === status)?.n ?? 0;
    const bindings = await Promise.all(
      listed.items.map(async (v) => {
        const gate = await c.env.BINDING_GATE.getByName(v.bindingKey).snapshot();
        return { binding_key: v.bindingKey, state: v.state, ...gate };
      }),
    );
    return c.json({
      in_flight: live.reduce((sum, r) => sum + r.n, 0),
      scheduled_retries: count("retry_scheduled"),
      held: count("held"),
      dlq_depth: dlq[0]?.n ?? 0,
      bindings,
      next_cursor: listed.next_cursor === null ? null : (listed.items.at(-1)?.bindingKey ?? null),
    });
  });
  return app;
}
