/** `/v1/dispatches`: list and detail with attempts (SPEC 19). */
import { type Context, Hono } from "hono";
import { z } from "zod";
import { parseBindingKey } from "../../contracts/binding-spec";
import { dispatchStatusSchema } from "../../contracts/dispatch";
import { boundedJsonSchema } from "../../contracts/events";
import { wellFormed } from "../../contracts/unicode";
import { attemptsOf, attemptView, getDispatch, listDispatches, outcomeFromRow } from "../../db/dispatches-repo";
import { dispatchIdOf } from "../../dispatch/dispatch-id";
import { AppError, notFound } from "../../lib/errors";
import type { AppEnv } from "../app";
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

/** With a tenant key, a dispatch must be that tenant's (and recorded) before the gate is asked. */
async function guardTenant(c: Context<AppEnv>, bindingKey: string, eventId: string): Promise<void> {
  if (tenantScope(c) === null) return;
  const row = await getDispatch(c.env.DB, bindingKey, eventId);
  if (!row || !visibleTo(c, row.tenantId)) throw notFound(`dispatch ${bindingKey}/${eventId}`);
}

async function dispatchDetail(c: Context<AppEnv>, bindingKey: string, eventId: string) {
  const env = c.env;
  const row = await getDispatch(env.DB, bindingKey, eventId);
  if (!row || !visibleTo(c, row.tenantId)) throw notFound(`dispatch ${bindingKey}/${eventId}`);
  const attempts = await attemptsOf(env.DB, row.dispatchId);
  return {
    ...outcomeFromRow(row),
    attempts: attempts.map(attemptView),
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    trace_id: row.traceId,
  };
}

export function dispatchRoutes() {
  const app = new Hono<AppEnv>();

  app.get("/", async (c) => {
    const q = parseQuery(c, listDispatchesQuerySchema);
    const cursor = decodeCursor(q.cursor, 2);
    const rows = await listDispatches(c.env.DB, {
      ...q,
      tenant: tenantScope(c),
      cursor: cursor ? [String(cursor[0]), String(cursor[1])] : null,
    });
    const result = page(rows, q.limit, (r) => [r.createdAt, r.dispatchId]);
    return c.json({
      items: result.items.map((r) => ({
        ...outcomeFromRow(r),
        trace_id: r.traceId,
        created_at: r.createdAt,
        updated_at: r.updatedAt,
      })),
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
      case "unknown":
        throw notFound(`dispatch ${bindingKey}/${eventId}`);
      case "terminal":
        throw new AppError("conflict", `dispatch ${bindingKey}/${eventId} is already ${answer.status}`);
      case "cancel_requested":
        return c.json({ status: "cancel_requested" }, 202);
      case "cancelled":
        await stub.flushNow();
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
    if (answer.state === "unknown") throw notFound(`dispatch ${bindingKey}/${eventId}`);
    if (answer.state === "not_waiting") {
      throw new AppError("conflict", `dispatch ${bindingKey}/${eventId} is ${answer.status}, not waiting`);
    }
    await stub.flushNow();
    return c.json(await dispatchDetail(c, bindingKey, eventId));
  });
  return app;
}
