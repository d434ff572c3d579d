/** `/v1/sources`: named intake endpoints. Secrets are write-only. */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import {
  DEFAULT_DEDUPE_WINDOW_S,
  defaultProviderFor,
  sourceInputSchema,
  sourceNameRegex,
  sourceViewSchema,
} from "../../contracts/sources";
import { sources } from "../../db/schema";
import { getSource, listSources, readVerificationToken, type SourceRow, sourceView } from "../../db/sources-repo";
import { DEFAULT_TOLERANCE_S } from "../../intake/signatures";
import { forgetSource } from "../../intake/source-cache";
import { AppError, notFound } from "../../lib/errors";
import { open, requireSecretKeys, seal } from "../../lib/secret-box";
import { iso } from "../../lib/time";
import { ownTenant, tenantScope, visibleTo } from "../auth";
import { SourceView } from "../openapi/components";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";
import { limitSchema, page, stringKeyCursor } from "../pagination";
import { parseWith } from "../validate";

/** A source name in a path (also `POST /hooks/{source}`'s). */
export const sourceNameParamSchema = z
  .string()
  .regex(sourceNameRegex, "source name must match [a-z0-9][a-z0-9_-]{0,63}");

const listSourcesQuerySchema = z.object({ limit: limitSchema, cursor: z.string().optional() });
const sourceName = z.object({ name: sourceNameParamSchema });

/** A path's source name, else 400 with problems. */
const nameOf = (raw: string) => parseWith(sourceNameParamSchema, raw, "source name");

const base = (url: string) => new URL(url).origin;

/**
 * A Notion source written again without a secret keeps the token its verification request set (a
 * configuration re-applied must not undo the set-up; delete the source to start it over). Any other
 * write replaces the secret and forgets the set-up.
 */
function keptVerification(existing: SourceRow | null, style: string, secrets: string[]) {
  if (style === "notion" && secrets.length === 0 && existing?.style === "notion" && existing.verificationReceivedAt) {
    return {
      secrets: existing.secrets,
      verificationReceivedAt: existing.verificationReceivedAt,
      verificationReadAt: existing.verificationReadAt,
    };
  }
  return { verificationReceivedAt: null, verificationReadAt: null };
}

export function sourceRoutes() {
  return new RouteGroup("/v1/sources", "Sources")
    .on(
      {
        method: "get",
        path: "/",
        operationId: "listSources",
        summary: "List sources",
        auth: "admin",
        query: listSourcesQuerySchema,
        responses: s.pageAnswer("A page of sources.", "SourcePage", sourceViewSchema),
      },
      async (c, { query: q }) => {
        const after = stringKeyCursor(q.cursor);
        const rows = await listSources(c.env.DB, after, q.limit, tenantScope(c));
        const result = page(rows, q.limit, (r) => [r.name]);
        return c.json({
          items: result.items.map((r) => sourceView(r, base(c.req.url))),
          next_cursor: result.next_cursor,
        });
      },
    )
    .on(
      {
        method: "put",
        path: "/{name}",
        operationId: "putSource",
        summary: "Create or replace a source",
        description: "Secrets are write-only: answers show `secret_count`, never a secret.",
        auth: "admin",
        params: sourceName,
        // A bad name answers its 400 before the body is read, whatever the body.
        check: ({ name }) => nameOf(name),
        body: named("SourceInput", sourceInputSchema),
        responses: {
          201: { description: "The source was created.", json: SourceView },
          200: { description: "The source was replaced.", json: SourceView },
        },
        errors: [409],
      },
      async (c, { params, body: input }) => {
        const name = nameOf(params.name);
        const tenantId = ownTenant(c, input.tenant_id);
        const existing = await getSource(c.env.DB, name);
        // Source names are global: another tenant's name cannot be taken over (or seen).
        if (existing && !visibleTo(c, existing.tenantId)) {
          throw new AppError("conflict", `source name '${name}' is not available`);
        }
        const now = iso(Date.now());
        const plain = [...(input.verify.secret ? [input.verify.secret] : []), ...(input.verify.secrets ?? [])];
        // Secrets are stored sealed (SPEC 16): without the key nothing is written.
        const keys = plain.length > 0 ? requireSecretKeys(c.env) : null;
        const secrets = keys ? await Promise.all(plain.map((secret) => seal(secret, keys))) : [];
        const values = {
          name,
          provider: input.provider ?? defaultProviderFor(input.verify.style),
          style: input.verify.style,
          secrets: JSON.stringify(secrets),
          ...keptVerification(existing, input.verify.style, secrets),
          toleranceS: input.verify.tolerance_s ?? DEFAULT_TOLERANCE_S[input.verify.style],
          header: input.verify.header?.toLowerCase() ?? null,
          tenantId,
          dedupeWindowS: input.dedupe?.window_s ?? DEFAULT_DEDUPE_WINDOW_S,
          createdAt: now,
          updatedAt: now,
        };
        const db = drizzle(c.env.DB);
        // Insert-or-nothing decides "created" atomically, so concurrent PUTs of a new name answer one 201.
        const inserted = await db
          .insert(sources)
          .values(values)
          .onConflictDoNothing()
          .returning({ name: sources.name });
        const created = inserted.length > 0;
        if (!created) {
          const { createdAt: _created, ...update } = values;
          await db.update(sources).set(update).where(eq(sources.name, name));
        }
        forgetSource(name);
        const row = await getSource(c.env.DB, name);
        if (!row) throw new AppError("conflict", `source '${name}' was deleted while being written; retry`);
        return c.json(sourceView(row, base(c.req.url)), created ? 201 : 200);
      },
    )
    .on(
      {
        method: "get",
        path: "/{name}",
        operationId: "getSource",
        summary: "Get a source",
        auth: "admin",
        params: sourceName,
        responses: { 200: { description: "The source.", json: SourceView } },
        errors: [400, 404],
      },
      async (c, { params }) => {
        const name = nameOf(params.name);
        const row = await getSource(c.env.DB, name);
        if (!row || !visibleTo(c, row.tenantId)) throw notFound(`source '${name}'`);
        return c.json(sourceView(row, base(c.req.url)));
      },
    )
    .on(
      {
        method: "post",
        path: "/{name}/verification-token",
        operationId: "readSourceVerificationToken",
        summary: "Read a Notion source's verification token, once",
        description:
          "A Notion source created with no secret awaits Notion's verification request; its `verification_token` becomes the source's secret. Paste it back into Notion to finish the subscription. It is shown once: later calls answer 409, as do calls before the request arrived.",
        auth: "admin",
        params: sourceName,
        responses: {
          200: {
            description: "The token, marked read.",
            json: named(
              "SourceVerificationToken",
              z.object({ verification_token: z.string(), received_at: z.string() }),
            ),
          },
        },
        errors: [400, 404, 409],
      },
      // Notion's set-up: the token its verification request left, shown once (it is also the secret).
      async (c, { params }) => {
        const name = nameOf(params.name);
        const row = await getSource(c.env.DB, name);
        if (!row || !visibleTo(c, row.tenantId)) throw notFound(`source '${name}'`);
        const read = await readVerificationToken(c.env.DB, name, iso(Date.now()));
        if ("token" in read) {
          return c.json({
            verification_token: await open(read.token, requireSecretKeys(c.env)),
            received_at: read.received_at,
          });
        }
        throw new AppError("conflict", verificationRefusal(name, read.refused, read.read_at));
      },
    )
    .on(
      {
        method: "delete",
        path: "/{name}",
        operationId: "deleteSource",
        summary: "Delete a source",
        auth: "admin",
        params: sourceName,
        responses: { 204: { description: "Deleted." } },
        errors: [400, 404],
      },
      async (c, { params }) => {
        const name = nameOf(params.name);
        const scope = tenantScope(c);
        const deleted = await drizzle(c.env.DB)
          .delete(sources)
          .where(and(eq(sources.name, name), scope ? eq(sources.tenantId, scope) : undefined))
          .returning({ name: sources.name });
        if (deleted.length === 0) throw notFound(`source '${name}'`);
        forgetSource(name);
        return c.body(null, 204);
      },
    );
}

function verificationRefusal(name: string, refused: "awaiting" | "read" | "none", readAt: string | null): string {
  switch (refused) {
    case "awaiting":
      return `source '${name}' has not received Notion's verification request yet: create the subscription in Notion with /hooks/${name} as its URL, then read the token`;
    case "read":
      return `the verification token of source '${name}' was already read (${readAt}); it is shown once. To set the source up again, delete it, create it with no secret and have Notion send a new verification request`;
    case "none":
      return `source '${name}' has no verification token: only a Notion source created with no secret receives one`;
  }
}
