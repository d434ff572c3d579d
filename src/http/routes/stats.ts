/** `GET /v1/stats` (SPEC 13.3, 19): live counts from D1 and per-binding gate state from each BindingGate. */
import { and, eq, inArray, ne, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { LIVE_STATUSES } from "../../contracts/dispatch";
import { bindingVersions, dispatches, dlqEntries } from "../../db/schema";
import type { AppEnv } from "../app";
import { tenantScope } from "../auth";

export function statsRoutes() {
  const app = new Hono<AppEnv>();
  app.get("/", async (c) => {
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
        .where(and(ne(bindingVersions.state, "terminated"), scope ? eq(bindingVersions.tenantId, scope) : undefined))
        .orderBy(bindingVersions.id, bindingVersions.version),
    ]);
    const count = (status: string) => live.find((r) => r.status === status)?.n ?? 0;
    const bindings = await Promise.all(
      versions.map(async (v) => {
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
    });
  });
  return app;
}
