/** `/v1/events`: publish (SPEC 4.7), list newest first, detail with dispatches. */
import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { type Context, Hono } from "hono";
import { z } from "zod";
import { MAX_PUBLISH_BATCH, type PublishEvent, publishEventSchema, type TriggerEvent } from "../../contracts/events";
import { listVersions } from "../../db/bindings-repo";
import { dispatchesOfEvent, outcomeFromRow } from "../../db/dispatches-repo";
import { eventFromRow, getEventRow } from "../../db/events-repo";
import { events } from "../../db/schema";
import { acceptAndEnqueue } from "../../intake/enqueue";
import { takeIntakeToken } from "../../intake/intake-limiter";
import { AppError, notFound } from "../../lib/errors";
import { newEventId, newTraceId } from "../../lib/ids";
import { iso } from "../../lib/time";
import { API_SOURCE, countRejections } from "../../observability/intake-counters";
import { TOPICS } from "../../observability/records";
import type { AppEnv } from "../app";
import { ownTenant, tenantScope, visibleTo } from "../auth";
import { decodeCursor, limitSchema, page } from "../pagination";
import { parseQuery, parseWith, readJson } from "../validate";

export const publishBodySchema = z.union([publishEventSchema, z.array(z.unknown())]);
const API_DEDUPE_WINDOW_S = 7 * 86_400;

/**
 * A targeted publish must name a binding that can take it: one of the event's tenant (or without a
 * tenant, for events published with the admin token). Other tenants' bindings are not found.
 */
async function checkTarget(c: Context<AppEnv>, target: PublishEvent["target"], tenant: string | null): Promise<void> {
  if (!target) return;
  const versions = (await listVersions(c.env.DB, target.binding_id)).filter(
    (v) => visibleTo(c, v.tenantId) && (v.tenantId === null || v.tenantId === tenant),
  );
  if (versions.length === 0) throw notFound(`binding '${target.binding_id}'`);
  if (target.version !== undefined) {
    const v = versions.find((x) => x.version === target.version);
    if (!v) throw notFound(`binding version '${target.binding_id}@v${target.version}'`);
    if (v.state === "terminated") throw new AppError("conflict", `binding version '${v.bindingKey}' is terminated`);
  } else if (!versions.some((v) => v.state === "active")) {
    throw new AppError("conflict", `binding '${target.binding_id}' has no active version`);
  }
}

async function publishOne(
  env: Env,
  input: PublishEvent,
  tenant: string | null,
  idempotencyKey: string | null,
  now: number,
) {
  const id = newEventId(now);
  const dedupeKey = input.dedupe_key ?? idempotencyKey ?? `evt:${id}`;
  const event: TriggerEvent = {
    id,
    provider: input.provider,
    kind: input.kind,
    received_at: iso(now),
    occurred_at: input.occurred_at ?? null,
    dedupe_key: dedupeKey,
    trace_id: input.trace_id ?? newTraceId(now),
    tenant_id: tenant,
    headers: Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    payload: input.payload,
    signature_status: { state: "unsigned" },
  };
  const outcome = await acceptAndEnqueue(
    env,
    {
      event,
      source: null,
      // `api` alone without a tenant: `api:_` would collide with a tenant named "_".
      dedupeScope: tenant === null ? "api" : `api:${tenant}`,
      dedupeWindowS: API_DEDUPE_WINDOW_S,
      target: input.target ? { binding_id: input.target.binding_id, version: input.target.version ?? null } : null,
      records: [
        {
          key: "accepted",
          topic: TOPICS.inbox,
          kind: "event_accepted",
          payload: { source: null, provider: event.provider, kind: event.kind, dedupe_key: dedupeKey },
        },
      ],
    },
    now,
  );
  return outcome.status === "duplicate"
    ? { status: "duplicate" as const, event_id: outcome.event_id }
    : { status: "accepted" as const, event_id: outcome.event_id, trace_id: event.trace_id };
}

export const listEventsQuerySchema = z.object({
  limit: limitSchema,
  cursor: z.string().optional(),
  provider: z.string().max(64).optional(),
  kind: z.string().max(256).optional(),
  source: z.string().max(64).optional(),
  trace_id: z.string().max(128).optional(),
});

export function eventRoutes() {
  const app = new Hono<AppEnv>();

  // Counts 4xx answers to a publish as intake rejections (SPEC 14 metrics).
  app.post(
    "/",
    countRejections(() => API_SOURCE),
  );
  app.post("/", async (c) => {
    const body = await readJson(c, publishBodySchema);
    const idempotencyKey = c.req.header("idempotency-key")?.trim() || null;
    if (idempotencyKey !== null && idempotencyKey.length > 512) {
      throw new AppError("bad_request", "Idempotency-Key must be at most 512 characters");
    }
    const now = Date.now();
    if (!Array.isArray(body)) {
      const tenant = ownTenant(c, body.tenant_id);
      await checkTarget(c, body.target, tenant);
      // A tenant's publishes share its intake bucket with its webhooks (SPEC 16).
      if (tenant !== null) await takeIntakeToken(c.env, API_SOURCE, tenant);
      const answer = await publishOne(c.env, body, tenant, idempotencyKey, now);
      return c.json(answer, answer.status === "duplicate" ? 200 : 202);
    }
    if (body.length === 0) throw new AppError("bad_request", "event array is empty");
    if (body.length > MAX_PUBLISH_BATCH) {
      throw new AppError("bad_request", `at most ${MAX_PUBLISH_BATCH} events per request, got ${body.length}`);
    }
    // Validate everything before writing anything, so a bad item leaves nothing half-published.
    const inputs = body.map((item, i) => {
      const input = parseWith(publishEventSchema, item, `event [${i}]`);
      return { input, tenant: ownTenant(c, input.tenant_id) };
    });
    for (const { input, tenant } of inputs) await checkTarget(c, input.target, tenant);
    for (const { tenant } of inputs) if (tenant !== null) await takeIntakeToken(c.env, API_SOURCE, tenant);
    const items = [];
    for (const [i, { input, tenant }] of inputs.entries()) {
      items.push(await publishOne(c.env, input, tenant, idempotencyKey ? `${idempotencyKey}:${i}` : null, now));
    }
    return c.json({ items }, 202);
  });

  app.get("/", async (c) => {
    const q = parseQuery(c, listEventsQuerySchema);
    const cursor = decodeCursor(q.cursor, 1);
    const conditions: SQL[] = [];
    if (q.provider) conditions.push(eq(events.provider, q.provider));
    if (q.kind) conditions.push(eq(events.kind, q.kind));
    if (q.source) conditions.push(eq(events.source, q.source));
    if (q.trace_id) conditions.push(eq(events.traceId, q.trace_id));
    if (cursor) conditions.push(lt(events.id, String(cursor[0])));
    const scope = tenantScope(c);
    if (scope) conditions.push(eq(events.tenantId, scope));
    const rows = await drizzle(c.env.DB)
      .select()
      .from(events)
      .where(conditions.length ? and(...conditions) : undefined)
      .orderBy(desc(events.id))
      .limit(q.limit + 1);
    const result = page(rows, q.limit, (r) => [r.id]);
    return c.json({ items: result.items.map(eventFromRow), next_cursor: result.next_cursor });
  });

  app.get("/:id", async (c) => {
    const row = await getEventRow(c.env.DB, c.req.param("id"));
    if (!row || !visibleTo(c, row.tenantId)) throw notFound(`event '${c.req.param("id")}'`);
    const rows = await dispatchesOfEvent(c.env.DB, row.id);
    return c.json({ event: eventFromRow(row), dispatches: rows.map(outcomeFromRow) });
  });
  return app;
}
