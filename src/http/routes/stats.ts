/**
 * `GET /v1/stats` (SPEC 13.3, 19): live counts and per-binding gate state from each BindingGate
 * (each version that is not terminated), the DLQ depth from D1.
 */
import { and, eq, ne, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import { bindingVersions, dlqEntries } from "../../db/schema";
import { tenantScope } from "../auth";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";
import { page } from "../pagination";

/**
 * Each listed binding costs one Durable Object call, so the gate states come in pages (by binding
 * key, at most 500 per request); the counts always cover every binding.
 */
const statsQuerySchema = z.object({
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
  return new RouteGroup("/v1/stats", "Observability").on(
    {
      method: "get",
      path: "/",
      operationId: "getStats",
      summary: "Live dispatch counts and per-binding gate state",
      auth: "admin",
      query: statsQuerySchema,
      responses: { 200: { description: "Current counts.", json: named("Stats", s.statsSchema) } },
    },
    async (c, { query: q }) => {
      const db = drizzle(c.env.DB);
      // A tenant key sees its own tenant's counts and bindings.
      const scope = tenantScope(c);
      const [dlq, versions] = await Promise.all([
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
              q.binding_id ? eq(bindingVersions.id, q.binding_id) : undefined,
              q.binding_key ? eq(bindingVersions.bindingKey, q.binding_key) : undefined,
            ),
          )
          .orderBy(bindingVersions.bindingKey),
      ]);
      // Live counts cover every version; gate states are listed a page at a time.
      const snapshots = await Promise.all(versions.map((v) => c.env.BINDING_GATE.getByName(v.bindingKey).snapshot()));
      const inPage = versions.map((v, i) => ({ v, i })).filter(({ v }) => !q.cursor || v.bindingKey > q.cursor);
      const listed = page(inPage, q.limit, ({ v }) => [v.bindingKey]);
      const bindings = listed.items.map(({ v, i }) => {
        const { by_status: _counts, ...gate } = snapshots[i] ?? { by_status: {} };
        return { binding_key: v.bindingKey, state: v.state, ...gate };
      });
      const sum = (pick: (snap: (typeof snapshots)[number]) => number) =>
        snapshots.reduce((n, snap) => n + pick(snap), 0);
      return c.json({
        in_flight: sum((snap) => snap.in_flight),
        scheduled_retries: sum((snap) => snap.scheduled_retries),
        held: sum((snap) => snap.held),
        dlq_depth: dlq[0]?.n ?? 0,
        bindings,
        next_cursor: listed.next_cursor === null ? null : (listed.items.at(-1)?.v.bindingKey ?? null),
      });
    },
  );
}
