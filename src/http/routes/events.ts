/** `/v1/events`: publish (SPEC 4.7), list newest first, detail with dispatches. */
import type { Context } from "hono";
import { z } from "zod";
import type { AcceptRequest } from "../../contracts/event-log-rpc";
import { MAX_PUBLISH_BATCH, type PublishEvent, publishEventSchema, triggerEventSchema } from "../../contracts/events";
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
import { IntakeDuplicate } from "../openapi/components";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";
import { decodeCursor, encodeCursor, limitSchema, page } from "../pagination";
import { parseWith } from "../validate";

/** What a publish is read with: an array's items are validated one by one (`event [i]`). */
const publishBodySchema = z.union([publishEventSchema, z.array(z.unknown())]);
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

const listEventsQuerySchema = z.object({
  limit: limitSchema,
  cursor: z.string().optional(),
  provider: z.string().max(64).optional(),
  kind: z.string().max(256).optional(),
  source: z.string().max(64).optional(),
  trace_id: z.string().max(128).optional(),
});

export function eventRoutes() {
  const group = new RouteGroup("/v1/events", "Events");
  // Counts 4xx answers to a publish as intake rejections (SPEC 14 metrics).
  group.app.post(
    "/",
    countRejections(() => API_SOURCE),
  );
  return group
    .on(
      {
        method: "post",
        path: "/",
        operationId: "publishEvents",
        summary: "Publish one event or an array of events",
        description: `An array (1–${MAX_PUBLISH_BATCH} events) is validated as a whole before anything is written.`,
        auth: "admin",
        headers: z.object({ "idempotency-key": z.string().max(512).optional() }),
        paramDocs: {
          "idempotency-key":
            "Dedupe key for a single event (`<key>:<index>` for array items) unless `dedupe_key` is given.",
        },
        body: {
          ...named(
            "PublishRequest",
            z.union([publishEventSchema, z.array(publishEventSchema).min(1).max(MAX_PUBLISH_BATCH)]),
          ),
          read: publishBodySchema,
        },
        responses: {
          202: {
            description: "Accepted (one event), or the answer for each event of an array in input order.",
            json: named("PublishAnswer", z.union([s.intakeAcceptedSchema, s.publishBatchAnswerSchema])),
          },
          200: { description: "A duplicate (`dedupe_key` or `Idempotency-Key` seen before).", json: IntakeDuplicate },
        },
        errors: [404, 409, 503],
      },
      async (c, { body }) => {
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
      },
    )
    .on(
      {
        method: "get",
        path: "/",
        operationId: "listEvents",
        summary: "List events, newest first",
        auth: "admin",
        query: listEventsQuerySchema,
        responses: s.pageAnswer("A page of events.", "EventPage", triggerEventSchema),
      },
      async (c, { query: q }) => {
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
      },
    )
    .on(
      {
        method: "get",
        path: "/{id}",
        operationId: "getEvent",
        summary: "Get an event with its dispatches",
        description:
          "Dispatches are in binding id, then version order; replays are included with `replay_of_event_id`.",
        auth: "admin",
        params: z.object({ id: z.string() }),
        responses: {
          200: { description: "The event and its dispatches.", json: named("EventDetail", s.eventDetailSchema) },
        },
        errors: [404],
      },
      async (c, { params }) => {
        const stored = await loadStoredEvent(c.env, params.id);
        if (!stored || !visibleTo(c, stored.event.tenant_id)) throw notFound(`event '${params.id}'`);
        const docs = await dispatchesOfEvent(c.env, stored);
        return c.json({ event: stored.event, dispatches: docs.map((d) => outcomeView(viewOf(d))) });
      },
    );
}
