/** `/v1/dlq`: dead-lettered dispatches, resolve and replay (SPEC 13.5). */
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import { dlqFilterSchema } from "../../contracts/dlq";
import { getVersion } from "../../db/bindings-repo";
import { type DlqRow, dlqDetail, dlqSummary, getDlq, listDlq } from "../../db/dlq-repo";
import { dlqEntries } from "../../db/schema";
import { replayTo } from "../../dispatch/replay";
import { loadStoredEvent } from "../../history/event-reader";
import { AppError, notFound } from "../../lib/errors";
import { iso } from "../../lib/time";
import { tenantScope, visibleTo } from "../auth";
import { DlqDetail } from "../openapi/components";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";
import { limitSchema, newestFirstPage } from "../pagination";

/** At most this many entries are replayed by one bulk request; repeat it for more. */
const BULK_REPLAY_LIMIT = 500;

const bulkReplaySchema = z.strictObject({
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

const listDlqQuerySchema = dlqFilterSchema.extend({ limit: limitSchema, cursor: z.string().optional() });
const dlqReplayBodySchema = z.strictObject({ retry: z.boolean().default(false) });
const dlqResolveBodySchema = z.strictObject({ reason: z.string().max(1000).optional() });
const dlqId = z.object({ id: z.string() });

/** Replays a DLQ entry's event on the binding version that dead-lettered it. */
async function replayEntry(env: Env, row: DlqRow, retry: boolean) {
  const [event, version] = await Promise.all([loadStoredEvent(env, row.eventId), getVersion(env.DB, row.bindingKey)]);
  if (!event || !version)
    throw new AppError("conflict", `DLQ entry ${row.id} refers to an event or binding that no longer exists`);
  return { dlq_id: row.id, ...(await replayTo(env, event, version, { retry, dlqId: row.id })) };
}

export function dlqRoutes() {
  return new RouteGroup("/v1/dlq", "DLQ")
    .on(
      {
        method: "get",
        path: "/",
        operationId: "listDlq",
        summary: "List dead-lettered dispatches",
        auth: "admin",
        query: listDlqQuerySchema,
        responses: s.pageAnswer("A page of DLQ entries.", "DlqPage", s.dlqSummarySchema),
      },
      async (c, { query: q }) => {
        const since = q.since ? new Date(q.since).toISOString() : undefined;
        const filter = { ...q, since, tenant: tenantScope(c) };
        return c.json(await newestFirstPage(q, (after, n) => listDlq(c.env.DB, filter, after, n), dlqSummary));
      },
    )
    .on(
      {
        method: "post",
        path: "/replay",
        operationId: "replayDlq",
        summary: "Replay pending DLQ entries by filter",
        description: `At most ${BULK_REPLAY_LIMIT} entries per request; \`dry_run\` answers what would be replayed.`,
        auth: "admin",
        body: named("BulkReplayRequest", bulkReplaySchema),
        responses: {
          202: { description: "The replayed entries.", json: named("BulkReplayAnswer", s.bulkReplayAnswerSchema) },
          200: {
            description: "Dry run: the entries that would be replayed.",
            json: named("BulkReplayAnswer", s.bulkReplayAnswerSchema),
          },
        },
        errors: [409],
      },
      async (c, { body }) => {
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
      },
    )
    .on(
      {
        method: "post",
        path: "/{id}/replay",
        operationId: "replayDlqEntry",
        summary: "Replay a DLQ entry on the version that dead-lettered it",
        auth: "admin",
        params: dlqId,
        body: { ...named("DlqReplayRequest", dlqReplayBodySchema), optional: true },
        responses: {
          202: { description: "The replay dispatch.", json: named("DlqReplayAnswer", s.dlqReplayAnswerSchema) },
        },
        errors: [404, 409],
      },
      async (c, { params, body }) => {
        const row = await getDlq(c.env.DB, params.id);
        if (!row || !visibleTo(c, row.tenantId)) throw notFound(`DLQ entry '${params.id}'`);
        if (row.state === "resolved") throw new AppError("conflict", `DLQ entry ${row.id} is already resolved`);
        return c.json({ items: [await replayEntry(c.env, row, body.retry)] }, 202);
      },
    )
    .on(
      {
        method: "get",
        path: "/{id}",
        operationId: "getDlqEntry",
        summary: "Get a DLQ entry with its event and attempts",
        auth: "admin",
        params: dlqId,
        responses: { 200: { description: "The entry.", json: DlqDetail } },
        errors: [404],
      },
      async (c, { params }) => {
        const row = await getDlq(c.env.DB, params.id);
        if (!row || !visibleTo(c, row.tenantId)) throw notFound(`DLQ entry '${params.id}'`);
        return c.json(await dlqDetail(c.env, row));
      },
    )
    .on(
      {
        method: "post",
        path: "/{id}/resolve",
        operationId: "resolveDlqEntry",
        summary: "Resolve a DLQ entry",
        auth: "admin",
        params: dlqId,
        body: { ...named("DlqResolveRequest", dlqResolveBodySchema), optional: true },
        responses: { 200: { description: "The resolved entry.", json: DlqDetail } },
        errors: [404],
      },
      async (c, { params }) => {
        const row = await getDlq(c.env.DB, params.id);
        if (!row || !visibleTo(c, row.tenantId)) throw notFound(`DLQ entry '${params.id}'`);
        if (row.state !== "resolved") {
          await drizzle(c.env.DB)
            .update(dlqEntries)
            .set({ state: "resolved", resolvedAt: iso(Date.now()) })
            .where(eq(dlqEntries.id, row.id));
        }
        // Resolving is how an operator lets an ordering line go on past its failure (SPEC 9.7).
        await c.env.BINDING_GATE.getByName(row.bindingKey).unblockOrdering(row.dispatchId);
        const updated = await getDlq(c.env.DB, row.id);
        return c.json(await dlqDetail(c.env, updated ?? row));
      },
    );
}
