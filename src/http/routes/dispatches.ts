/** `/v1/dispatches`: list and detail with attempts (SPEC 19). */
import type { Context } from "hono";
import { z } from "zod";
import { parseBindingKey } from "../../contracts/binding-spec";
import { dispatchStatusSchema } from "../../contracts/dispatch";
import type { DispatchDoc } from "../../contracts/dispatch-doc";
import { boundedJsonSchema } from "../../contracts/events";
import { wellFormed } from "../../contracts/unicode";
import { listVersions } from "../../db/bindings-repo";
import { dispatchIdOf } from "../../dispatch/dispatch-id";
import { type DispatchView, outcomeView, viewOf } from "../../dispatch/dispatch-view";
import { cursorOf, findDispatch, findDispatches, listBindingDispatches } from "../../history/dispatch-queries";
import { dispatchesOfEvent, listEvents } from "../../history/event-queries";
import { loadStoredEvent } from "../../history/event-reader";
import { AppError, notFound } from "../../lib/errors";
import type { AppEnv } from "../app-env";
import { tenantScope, visibleTo } from "../auth";
import { DispatchDetail } from "../openapi/components";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";
import { decodeCursor, limitSchema, page } from "../pagination";

// Free text that ends up in D1 text columns must be well-formed (see contracts/unicode).
const cancelBodySchema = z.strictObject({
  requested_by: wellFormed(z.string().max(256)).optional(),
  reason: wellFormed(z.string().max(2048)).optional(),
});

const completeBodySchema = z.strictObject({
  status: z.enum(["succeeded", "failed"]),
  result: boundedJsonSchema("result").optional(),
  error: wellFormed(z.string().max(4096)).optional(),
});

const listDispatchesQuerySchema = z.object({
  limit: limitSchema,
  cursor: z.string().optional(),
  event_id: z.string().max(128).optional(),
  binding_key: z.string().max(160).optional(),
  binding_id: z.string().max(128).optional(),
  status: dispatchStatusSchema.optional(),
  replay_of_event_id: z.string().max(128).optional(),
});

const dispatchAddress = z.object({ binding_key: z.string(), event_id: z.string() });
const dispatchAddressDocs = {
  binding_key: "`<binding id>@v<version>`; `@` may be sent raw or as `%40`.",
  event_id: "The event id.",
};

/**
 * `@` may arrive raw or as `%40`: route parameters are already percent-decoded, so decoding again
 * would misread a literal `%` (and throw on one not followed by two hex digits). A key that cannot
 * be a binding key names no dispatch.
 */
function addressOf(bindingKey: string, eventId: string) {
  if (!parseBindingKey(bindingKey) || eventId.length > 128) {
    throw notFound(`dispatch ${bindingKey.slice(0, 200)}/${eventId.slice(0, 200)}`);
  }
  return { bindingKey, eventId };
}

/** The original dispatch of a (binding_key, event_id) pair, else its first replay. */
async function getDispatch(env: Env, bindingKey: string, eventId: string): Promise<DispatchDoc | null> {
  const original = await findDispatch(env, dispatchIdOf(bindingKey, eventId));
  if (original) return original;
  const stored = await loadStoredEvent(env, eventId);
  const replays = (stored?.replays ?? []).filter((r) => r.binding_key === bindingKey);
  if (replays.length === 0) return null;
  const found = await findDispatches(
    env,
    replays.map((r) => r.dispatch_id),
  );
  return replays.map((r) => found.get(r.dispatch_id)).find((d) => d !== undefined) ?? null;
}

/** With a tenant key, a dispatch must be that tenant's before the gate is asked. */
async function guardTenant(c: Context<AppEnv>, bindingKey: string, eventId: string): Promise<void> {
  if (tenantScope(c) === null) return;
  const doc = await getDispatch(c.env, bindingKey, eventId);
  if (!doc || !visibleTo(c, doc.tenant_id)) throw notFound(`dispatch ${bindingKey}/${eventId}`);
}

function detail(view: DispatchView) {
  const { next_attempt_at: _next, terminal_at: _terminal, ...rest } = view;
  return rest;
}

async function dispatchDetail(c: Context<AppEnv>, bindingKey: string, eventId: string) {
  const doc = await getDispatch(c.env, bindingKey, eventId);
  if (!doc || !visibleTo(c, doc.tenant_id)) throw notFound(`dispatch ${bindingKey}/${eventId}`);
  return detail(viewOf(doc));
}

type ListQuery = z.infer<typeof listDispatchesQuerySchema>;

/** The dispatches a list request names, newest first by (creation, id), one past the page. */
async function listFor(c: Context<AppEnv>, q: ListQuery, cursor: [number, string] | null): Promise<DispatchDoc[]> {
  const env = c.env;
  const tenant = tenantScope(c);
  const keep = (d: DispatchDoc) =>
    (q.status === undefined || d.status === q.status) &&
    (q.binding_key === undefined || d.binding_key === q.binding_key) &&
    (q.binding_id === undefined || d.binding_id === q.binding_id) &&
    (q.event_id === undefined || d.event_id === q.event_id) &&
    (q.replay_of_event_id === undefined || d.replay_of_event_id === q.replay_of_event_id) &&
    (tenant === null || d.tenant_id === tenant) &&
    (cursor === null || cursorOf(d)[0] < cursor[0] || (cursorOf(d)[0] === cursor[0] && d.dispatch_id < cursor[1]));
  const eventId = q.event_id ?? q.replay_of_event_id;
  if (eventId !== undefined) {
    const stored = await loadStoredEvent(env, eventId);
    return stored ? (await dispatchesOfEvent(env, stored)).filter(keep) : [];
  }
  const bindingId = q.binding_id ?? (q.binding_key ? q.binding_key.slice(0, q.binding_key.lastIndexOf("@v")) : null);
  if (bindingId) {
    const keys = q.binding_key ? [q.binding_key] : (await listVersions(env.DB, bindingId)).map((v) => v.bindingKey);
    const filter = { binding_id: bindingId, binding_key: q.binding_key, status: q.status, tenant_id: tenant };
    return (await listBindingDispatches(env, filter, keys, cursor, q.limit)).filter(keep);
  }
  // No binding or event named: the dispatches of the newest events.
  const out: DispatchDoc[] = [];
  let before: string | null = null;
  for (let round = 0; round < 10 && out.length <= q.limit; round++) {
    const { rows: events, resume } = await listEvents(env, { tenant_id: tenant }, before, 100);
    for (const e of events.slice(0, 100)) out.push(...(await dispatchesOfEvent(env, e)).filter(keep));
    before = events.length > 100 ? (events[99]?.event.id ?? null) : resume;
    if (before === null) break;
  }
  return out.sort((a, b) => cursorOf(b)[0] - cursorOf(a)[0] || (a.dispatch_id < b.dispatch_id ? 1 : -1));
}

/** An address that names no dispatch answers 404 before the body is read, whatever the body. */
const addressFirst = (params: { binding_key: string; event_id: string }) => {
  addressOf(params.binding_key, params.event_id);
};

export function dispatchRoutes() {
  return new RouteGroup("/v1/dispatches", "Dispatches")
    .on(
      {
        method: "get",
        path: "/",
        operationId: "listDispatches",
        summary: "List dispatches",
        auth: "admin",
        query: listDispatchesQuerySchema,
        responses: s.pageAnswer("A page of dispatches.", "DispatchPage", s.dispatchListItemSchema),
      },
      async (c, { query: q }) => {
        const raw = decodeCursor(q.cursor, 2);
        const cursor: [number, string] | null = raw ? [Number(raw[0]), String(raw[1])] : null;
        const docs = await listFor(c, q, cursor);
        const result = page(docs, q.limit, cursorOf);
        return c.json({
          items: result.items.map((d) => {
            const view = viewOf(d);
            return {
              ...outcomeView(view),
              trace_id: view.trace_id,
              created_at: view.created_at,
              updated_at: view.updated_at,
            };
          }),
          next_cursor: result.next_cursor,
        });
      },
    )
    .on(
      {
        method: "get",
        path: "/{binding_key}/{event_id}",
        operationId: "getDispatch",
        summary: "Get a dispatch with its attempts",
        auth: "admin",
        params: dispatchAddress,
        paramDocs: dispatchAddressDocs,
        responses: { 200: { description: "The dispatch.", json: DispatchDetail } },
        errors: [404],
      },
      async (c, { params }) => {
        const { bindingKey, eventId } = addressOf(params.binding_key, params.event_id);
        return c.json(await dispatchDetail(c, bindingKey, eventId));
      },
    )
    .on(
      {
        method: "post",
        path: "/{binding_key}/{event_id}/cancel",
        operationId: "cancelDispatch",
        summary: "Cancel a dispatch",
        description:
          "In-flight attempts are aborted; flow-control leases are released. A `waiting` dispatch (a handler's waiting answer, an approval, a budget deferral, a followed A2A task) ends `cancelled` at once; a followed A2A task is also cancelled at the agent (`CancelTask`). A final dispatch answers 409.",
        auth: "admin",
        params: dispatchAddress,
        paramDocs: dispatchAddressDocs,
        check: addressFirst,
        body: { ...named("CancelRequest", cancelBodySchema), optional: true },
        responses: {
          202: {
            description: "Cancellation requested; it completes when the running attempt stops.",
            json: named("CancelRequested", s.cancelRequestedSchema),
          },
          200: { description: "Cancelled at once: the final outcome.", json: DispatchDetail },
        },
        errors: [404, 409],
      },
      async (c, { params, body }) => {
        const { bindingKey, eventId } = addressOf(params.binding_key, params.event_id);
        await guardTenant(c, bindingKey, eventId);
        const stub = c.env.BINDING_GATE.getByName(bindingKey);
        const answer = await stub.cancel(dispatchIdOf(bindingKey, eventId), {
          requested_by: body.requested_by ?? null,
          reason: body.reason ?? null,
        });
        switch (answer.state) {
          case "unknown": {
            // Finished and handed to History: the gate no longer holds it.
            const done = await findDispatch(c.env, dispatchIdOf(bindingKey, eventId));
            if (done) throw new AppError("conflict", `dispatch ${bindingKey}/${eventId} is already ${done.status}`);
            throw notFound(`dispatch ${bindingKey}/${eventId}`);
          }
          case "terminal":
            throw new AppError("conflict", `dispatch ${bindingKey}/${eventId} is already ${answer.status}`);
          case "cancel_requested":
            return c.json({ status: "cancel_requested" }, 202);
          case "cancelled":
            return c.json(await dispatchDetail(c, bindingKey, eventId));
        }
      },
    )
    .on(
      {
        method: "post",
        path: "/{binding_key}/{event_id}/complete",
        operationId: "completeDispatch",
        summary: "Complete a waiting dispatch",
        auth: "admin",
        params: dispatchAddress,
        paramDocs: dispatchAddressDocs,
        check: addressFirst,
        body: named("CompleteRequest", completeBodySchema),
        responses: { 200: { description: "The outcome.", json: DispatchDetail } },
        errors: [404, 409],
      },
      async (c, { params, body }) => {
        const { bindingKey, eventId } = addressOf(params.binding_key, params.event_id);
        await guardTenant(c, bindingKey, eventId);
        const stub = c.env.BINDING_GATE.getByName(bindingKey);
        const answer = await stub.complete(dispatchIdOf(bindingKey, eventId), {
          status: body.status,
          result: body.result,
          error: body.error ?? null,
        });
        if (answer.state === "unknown") {
          const done = await findDispatch(c.env, dispatchIdOf(bindingKey, eventId));
          if (done) throw new AppError("conflict", `dispatch ${bindingKey}/${eventId} is ${done.status}, not waiting`);
          throw notFound(`dispatch ${bindingKey}/${eventId}`);
        }
        if (answer.state === "not_waiting") {
          throw new AppError("conflict", `dispatch ${bindingKey}/${eventId} is ${answer.status}, not waiting`);
        }
        return c.json(await dispatchDetail(c, bindingKey, eventId));
      },
    );
}
