/** `/v1/events`: publish (SPEC 4.7), list newest first, detail with dispatches. */
import { type Context, Hono } from "hono";
import { z } from "zod";
import type { AcceptRequest } from "../../contracts/event-log-rpc";
import { MAX_PUBLISH_BATCH, type PublishEvent, publishEventSchema } from "../../contracts/events";
import { listVersions } from "../../db/bindings-repo";
import { outcomeView, viewOf } from "../../dispatch/dispatch-view";
import { dispatchesOfEvent, listEvents } from "../../history/event-queries";
import { loadStoredEvent } from "../../history/event-reader";
import { acceptEvents } from "../../intake/accept";
import { takeIntakeToken } from "../../intake/intake-limiter";
import { AppError, notFound } from "../../lib/errors";
import { newTraceId } from "../../lib/ids";
import { API_SOURCE, countRejections } from "../../observability/intake-counters";
import type { AppEnv } from "../app-env";
import { ownTenant, tenantScope, visibleTo } from "../auth";
import { decodeCursor, encodeCursor, limitSchema, page } from "../pagination";
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

/** What the EventLog is asked to accept for one published event, and its trace id. */
function publishRequest(
  input: PublishEvent,
  tenant: string | null,
  idempotencyKey: string | null,
  now: number,
): { request: AcceptRequest; traceId: string } {
  const traceId = input.trace_id ?? newTraceId(now);
  // Without a key of its own a published event is unique: its EventLog names it `evt:<event id>`.
  const dedupeKey = input.dedupe_key ?? idempotencyKey ?? "";
  const request: AcceptRequest = {
    event: {
      provider: input.provider,
      kind: input.kind,
      occurred_at: input.occurred_at ?? null,
      dedupe_key: dedupeKey,
      trace_id: traceId,
      tenant_id: tenant,
      headers: Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
      payload: input.payload,
      signature_status: { state: "unsigned" },
    },
    source: null,
    style: null,
    // `api` alone without a tenant: `api:_` would collide with a tenant named "_".
    dedupe_scope: tenant === null ? "api" : `api:${tenant}`,
    dedupe_window_s: API_DEDUPE_WINDOW_S,
    target: input.target ? { binding_id: input.target.binding_id, version: input.target.version ?? null } : null,
  };
  return { request, traceId };
}

/** Accepts published events in order (one EventLog call per shard), answering each as SPEC 4.6 says. */
async function publish(env: Env, items: { request: AcceptRequest; traceId: string }[], now: number) {
  const outcomes = await acceptEvents(
    env,
    items.map((i) => i.request),
    now,
  );
  return outcomes.map((outcome, i) =>
    outcome.status === "duplicate"
      ? { status: "duplicate" as const, event_id: outcome.event_id }
      : { status: "accepted" as const, event_id: outcome.event_id, trace_id: items[i]?.traceId ?? "" },
  );
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
      const [answer] = await publish(c.env, [publishRequest(body, tenant, idempotencyKey, now)], now);
      if (!answer) throw new Error("no answer for a published event");
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
    const requests = inputs.map(({ input, tenant }, i) =>
      publishRequest(input, tenant, idempotencyKey ? `${idempotencyKey}:${i}` : null, now),
    );
    return c.json({ items: await publish(c.env, requests, now) }, 202);
  });

  app.get("/", async (c) => {
    const q = parseQuery(c, listEventsQuerySchema);
    const cursor = decodeCursor(q.cursor, 1);
    const { rows, resume } = await listEvents(
      c.env,
      { provider: q.provider, kind: q.kind, source: q.source, trace_id: q.trace_id, tenant_id: tenantScope(c) },
      cursor ? String(cursor[0]) : null,
      q.limit,
    );
    const result = page(rows, q.limit, (r) => [r.event.id]);
    // A page cut short by the window budget goes on below the windows it read.
    const next = result.next_cursor ?? (resume ? encodeCursor([resume]) : null);
    return c.json({ items: result.items.map((r) => r.event), next_cursor: next });
  });

  app.get("/:id", async (c) => {
    const stored = await loadStoredEvent(c.env, c.req.param("id"));
    if (!stored || !visibleTo(c, stored.event.tenant_id)) throw notFound(`event '${c.req.param("id")}'`);
    const docs = await dispatchesOfEvent(c.env, stored);
    return c.json({ event: stored.event, dispatches: docs.map((d) => outcomeView(viewOf(d))) });
  });
  return app;
}
