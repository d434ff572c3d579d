/** `GET /v1/traces/:trace_id/graph` (SPEC 14, 19): the action graph assembled from a trace's records. */
import { Hono } from "hono";
import { eventsOfTrace, recordsOfEvents, withSeq } from "../../history/record-queries";
import { notFound } from "../../lib/errors";
import { assembleActionGraph } from "../../observability/action-graph";
import { TOPICS } from "../../observability/topics";
import type { AppEnv } from "../app-env";
import { tenantScope } from "../auth";

/** Trace ids as intake and publishing accept them (SPEC 4, 19). */
export const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Upper bound on the records used for one graph. A client may reuse a trace id across many
 * events; past this the graph is cut and `x-switchyard-graph-truncated: true` says so.
 */
export const MAX_GRAPH_RECORDS = 5_000;

function isGraphTopic(topic: string): boolean {
  return topic === TOPICS.actionGraph || (topic.startsWith("tenant.") && topic.endsWith(`.${TOPICS.actionGraph}`));
}

export function traceRoutes() {
  const app = new Hono<AppEnv>();
  app.get("/:trace_id/graph", async (c) => {
    const traceId = c.req.param("trace_id");
    // A malformed id cannot name a trace: answer as for any unknown trace without reading anything.
    if (!TRACE_ID.test(traceId)) throw notFound(`trace '${traceId.slice(0, 128)}'`);
    const scope = tenantScope(c);
    const events = (await eventsOfTrace(c.env, traceId)).filter((e) => scope === null || e.event.tenant_id === scope);
    // A trace whose events matched no binding has records but no graph yet: an empty graph, not 404.
    if (events.length === 0) throw notFound(`trace '${traceId}'`);
    const rows = withSeq(await recordsOfEvents(c.env, events)).filter(
      (r) => (r.kind === "node" || r.kind === "edge") && isGraphTopic(r.topic),
    );
    if (rows.length > MAX_GRAPH_RECORDS) c.header("x-switchyard-graph-truncated", "true");
    return c.json(
      assembleActionGraph(
        traceId,
        rows.slice(0, MAX_GRAPH_RECORDS).map((r) => ({ seq: r.seq, kind: r.kind, payload: r.payload })),
      ),
    );
  });
  return app;
}
