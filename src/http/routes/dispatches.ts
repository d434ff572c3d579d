/** `/v1/dispatches`: list and detail with attempts (SPEC 19). */
import { type Context, Hono } from "hono";
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
import { decodeCursor, limitSchema, page } from "../pagination";
import { parseQuery, readJson } from "../validate";

// Free text that ends up in D1 text columns must be well-formed (see contracts/unicode).
export const cancelBodySchema = z.strictObject({
  requested_by: wellFormed(z.string().max(256)).optional(),
  reason: wellFormed(z.string().max(2048)).optional(),
});

export const completeBodySchema = z.strictObject({
  status: z.enum(["succeeded", "failed"]),
  result: boundedJsonSchema("result").optional(),
  error: wellFormed(z.string().max(4096)).optional(),
});

export const listDispatchesQuerySchema = z.object({
  limit: limitSchema,
  cursor: z.string().optional(),
  event_id: z.string().max(128).optional(),
  binding_key: z.string().max(160).optional(),
  binding_id: z.string().max(128).optional(),
  status: dispatchStatusSchema.optional(),
  replay_of_event_id: z.string().max(128).optional(),
});

/**
 * `@` may arrive raw or as `%40`: route parameters are already percent-decoded, so decoding again
 * would misread a literal `%` (and throw on one not followed by two hex digits). A key that cannot
 * be a binding key names no dispatch.
 */
function dispatchAddress(bindingKey: string, eventId: string) {
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

export function dispatchRoutes() {
  const app = new Hono<AppEnv>();

  app.get("/", async (c) => {
    const q = parseQuery(c, listDispatchesQuerySchema);
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
  });

  app.get("/:binding_key/:event_id", async (c) => {
    const { bindingKey, eventId } = dispatchAddress(c.req.param("binding_key"), c.req.param("event_id"));
    return c.json(await dispatchDetail(c, bindingKey, eventId));
  });

  app.post("/:binding_key/:event_id/cancel", async (c) => {
    const { bindingKey, eventId } = dispatchAddress(c.req.param("binding_key"), c.req.param("event_id"));
    const body = await readJson(c, cancelBodySchema, { optional: true });
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
  });

  app.post("/:binding_key/:event_id/complete", async (c) => {
    const { bindingKey, eventId } = dispatchAddress(c.req.param("binding_key"), c.req.param("event_id"));
    const body = await readJson(c, completeBodySchema);
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
  });
  return app;
}
