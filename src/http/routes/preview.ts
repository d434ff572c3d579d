/**
 * `POST /v1/bindings:preview` (SPEC 5.4): runs a binding spec against stored events with no side
 * effects. This module picks the events (explicit ids, or the latest `limit` in `[since, until)`,
 * the caller's tenant only) and answers what `bindings/binding-preview.ts` decides for them.
 */

import type { Context } from "hono";
import { type PreviewEvent, previewSpec } from "../../bindings/binding-preview";
import {
  PREVIEW_MAX_EVENTS,
  previewAnswerSchema,
  previewReadSchema,
  previewRequestSchema,
} from "../../contracts/binding-preview";
import { listEvents } from "../../history/event-queries";
import { loadStoredEvents } from "../../history/event-reader";
import type { StoredEvent } from "../../history/event-store";
import { AppError, notFound } from "../../lib/errors";
import { idBoundAt } from "../../lib/partitions";
import type { AppEnv } from "../app-env";
import { ownTenant, tenantScope, visibleTo } from "../auth";
import { named, RouteGroup } from "../openapi/route";
import { specOrThrow } from "./bindings";

const toPreview = (stored: StoredEvent): PreviewEvent => ({ event: stored.event, target: stored.target });

/** The events named by id, in any order; an id the caller cannot see is a 404. */
async function eventsById(c: Context<AppEnv>, ids: string[]): Promise<PreviewEvent[]> {
  const unique = [...new Set(ids)];
  const found = await loadStoredEvents(c.env, unique);
  return unique.map((id) => {
    const stored = found.get(id);
    if (!stored || !visibleTo(c, stored.event.tenant_id)) throw notFound(`event '${id}'`);
    return toPreview(stored);
  });
}

/** The latest `limit` events received in `[since, until)`, newest first. */
async function latestEvents(c: Context<AppEnv>, since: number | null, until: number | null, limit: number) {
  const out: PreviewEvent[] = [];
  let before = until === null ? null : idBoundAt("evt", until);
  while (out.length < limit) {
    const want = limit - out.length;
    const { rows, resume } = await listEvents(c.env, { tenant_id: tenantScope(c) }, before, want);
    for (const stored of rows.slice(0, want)) {
      const at = Date.parse(stored.event.received_at);
      if (since !== null && at < since) return out;
      if (until === null || at < until) out.push(toPreview(stored));
    }
    const last = rows.slice(0, want).at(-1)?.event.id;
    if (rows.length > want && last) before = last;
    else if (resume) before = resume;
    else break;
  }
  return out;
}

export function previewRoutes() {
  return new RouteGroup("/v1", "Bindings").on(
    {
      method: "post",
      path: "/bindings:preview",
      operationId: "previewBinding",
      summary: "Preview a spec against stored events, with no side effects",
      description: `Runs the spec over stored events in \`received_at\` order: matching, the CEL predicate, autonomy limits and flow control (simulated on the events' own times from empty gate state, each dispatch assumed to run \`assume_duration_ms\`). Nothing is dispatched, recorded or called; a classifier predicate answers \`unknown\`. Without \`event_ids\` the latest \`limit\` events (at most ${PREVIEW_MAX_EVENTS}) received in \`[since, until)\` are scanned. An invalid spec is the 400 \`PUT /v1/bindings/{id}\` answers.`,
      auth: "admin",
      body: { ...named("PreviewRequest", previewRequestSchema), read: previewReadSchema },
      responses: {
        200: {
          description: "One item per scanned event, and a summary.",
          json: named("PreviewAnswer", previewAnswerSchema),
        },
      },
      errors: [404],
    },
    async (c, { body }) => {
      const checked = specOrThrow(body.spec);
      const spec = { ...checked, tenant_id: ownTenant(c, checked.tenant_id) };
      const since = body.since ? Date.parse(body.since) : null;
      const until = body.until ? Date.parse(body.until) : null;
      if (since !== null && until !== null && since >= until) {
        throw new AppError("bad_request", `since (${body.since}) must be before until (${body.until})`);
      }
      const events = body.event_ids
        ? await eventsById(c, body.event_ids)
        : await latestEvents(c, since, until, body.limit);
      const answer = previewSpec(spec, events, {
        assumeDurationMs: body.assume_duration_ms,
        endAt: until ?? Date.now(),
      });
      return c.json(answer);
    },
  );
}
