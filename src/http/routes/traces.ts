/** `GET /v1/traces/:trace_id/graph` (SPEC 14, 19): the action graph assembled from a trace's records. */
import { and, asc, eq, inArray, or, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { records } from "../../db/schema";
import { notFound } from "../../lib/errors";
import { assembleActionGraph } from "../../observability/action-graph";
import { TOPICS } from "../../observability/records";
import type { AppEnv } from "../app";
import { tenantScope } from "../auth";

/** Trace ids as intake and publishing accept them (SPEC 4, 19). */
export const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Upper bound on the records read for one graph. A client may reuse a trace id across many
 * events; past this the graph is cut and `x-switchyard-graph-truncated: true` says so.
 */
export const MAX_GRAPH_RECORDS = 5_000;

export function traceRoutes() {
  const app = new Hono<AppEnv>();
  app.get("/:trace_id/graph", async (c) => {
    const traceId = c.req.param("trace_id");
    // A malformed id cannot name a trace: answer as for any unknown trace without querying.
    if (!TRACE_ID.test(traceId)) throw notFound(`trace '${traceId.slice(0, 128)}'`);
    const db = drizzle(c.env.DB);
    const scope = tenantScope(c);
    const ofTenant = scope ? eq(records.tenantId, scope) : undefined;
    const rows = await db
      .select({ seq: records.seq, kind: records.kind, payload: records.payload })
      .from(records)
      .where(
        and(
          eq(records.traceId, traceId),
          ofTenant,
          inArray(records.kind, ["node", "edge"]),
          // Dispatcher topics of a tenant are `tenant.<id>.<topic>` (SPEC 14); GLOB treats `_` literally.
          or(eq(records.topic, TOPICS.actionGraph), sql`${records.topic} GLOB ${`tenant.*.${TOPICS.actionGraph}`}`),
        ),
      )
      .orderBy(asc(records.seq))
      .limit(MAX_GRAPH_RECORDS + 1);
    if (rows.length === 0) {
      // A trace whose events matched no binding has records but no graph yet: an empty graph, not 404.
      const any = await db
        .select({ seq: records.seq })
        .from(records)
        .where(and(eq(records.traceId, traceId), ofTenant))
        .limit(1);
      if (any.length === 0) throw notFound(`trace '${traceId}'`);
    }
    if (rows.length > MAX_GRAPH_RECORDS) c.header("x-switchyard-graph-truncated", "true");
    const graph = assembleActionGraph(
      traceId,
      rows.slice(0, MAX_GRAPH_RECORDS).map((r) => ({ seq: r.seq, kind: r.kind, payload: JSON.parse(r.payload) })),
    );
    return c.json(graph);
  });
  return app;
}
