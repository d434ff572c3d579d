/** `POST /v1/events/{id}/replay` (SPEC 13.4). */
import { z } from "zod";
import { bindingIdSchema } from "../../contracts/binding-spec";
import { type BindingVersionRow, listVersions } from "../../db/bindings-repo";
import { pickReplayVersion, replayTo } from "../../dispatch/replay";
import { bindingIdOf } from "../../history/dispatch-queries";
import { loadStoredEvent } from "../../history/event-reader";
import { AppError, notFound } from "../../lib/errors";
import { visibleTo } from "../auth";
import { ReplayAnswer } from "../openapi/components";
import { named, RouteGroup } from "../openapi/route";

const replayBodySchema = z
  .strictObject({
    binding_id: bindingIdSchema.optional(),
    version: z.int().min(1).optional(),
    retry: z.boolean().default(false),
  })
  .refine((b) => b.version === undefined || b.binding_id !== undefined, {
    path: ["version"],
    message: "version requires binding_id",
  });

export function replayRoutes() {
  return new RouteGroup("/v1/events", "Events").on(
    {
      method: "post",
      path: "/{id}/replay",
      operationId: "replayEvent",
      summary: "Replay an event",
      description: "Without `binding_id` the event is replayed on every binding that dispatched it.",
      auth: "admin",
      params: z.object({ id: z.string() }),
      body: { ...named("ReplayRequest", replayBodySchema), optional: true },
      responses: { 202: { description: "The replay dispatches.", json: ReplayAnswer } },
      errors: [404, 409],
    },
    async (c, { params, body }) => {
      const stored = await loadStoredEvent(c.env, params.id);
      if (!stored || !visibleTo(c, stored.event.tenant_id)) throw notFound(`event '${params.id}'`);
      const event = stored.event;
      // The versions that dispatched the event originally: its routes.
      const originals = stored.routes.map((key) => ({
        bindingId: bindingIdOf(key),
        bindingVersion: Number(key.slice(key.lastIndexOf("@v") + 2)),
      }));

      const targets: BindingVersionRow[] = [];
      if (body.binding_id) {
        const versions = (await listVersions(c.env.DB, body.binding_id)).filter((v) => visibleTo(c, v.tenantId));
        if (versions.length === 0) throw notFound(`binding '${body.binding_id}'`);
        const chosen =
          body.version !== undefined
            ? versions.find((v) => v.version === body.version)
            : pickReplayVersion(
                versions,
                originals.filter((d) => d.bindingId === body.binding_id).map((d) => d.bindingVersion),
                event.received_at,
              );
        if (!chosen) {
          throw notFound(
            body.version !== undefined
              ? `binding version '${body.binding_id}@v${body.version}'`
              : `a version of '${body.binding_id}' to replay on`,
          );
        }
        targets.push(chosen);
      } else {
        if (originals.length === 0) {
          throw new AppError(
            "conflict",
            `event ${event.id} was not dispatched to any binding; name a binding_id to replay it`,
          );
        }
        const keys = [...new Set(originals.map((d) => d.bindingId))];
        for (const id of keys) {
          const versions = await listVersions(c.env.DB, id);
          const dispatched = originals.filter((d) => d.bindingId === id).map((d) => d.bindingVersion);
          const chosen = pickReplayVersion(versions, dispatched, event.received_at);
          if (chosen) targets.push(chosen);
        }
      }
      const items = [];
      for (const version of targets) items.push(await replayTo(c.env, stored, version, { retry: body.retry }));
      return c.json({ items }, 202);
    },
  );
}
