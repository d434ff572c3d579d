/** `/v1/sources`: named intake endpoints. Secrets are write-only. */
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import {
  DEFAULT_DEDUPE_WINDOW_S,
  defaultProviderFor,
  sourceInputSchema,
  sourceNameRegex,
} from "../../contracts/sources";
import { sources } from "../../db/schema";
import { getSource, listSources, readVerificationToken, type SourceRow, sourceView } from "../../db/sources-repo";
import { DEFAULT_TOLERANCE_S } from "../../intake/signatures";
import { forgetSource } from "../../intake/source-cache";
import { AppError, notFound } from "../../lib/errors";
import { open, requireSecretKeys, seal } from "../../lib/secret-box";
import { iso } from "../../lib/time";
import type { AppEnv } from "../app-env";
import { ownTenant, tenantScope, visibleTo } from "../auth";
import { decodeCursor, limitSchema, page } from "../pagination";
import { parseQuery, parseWith, readJson } from "../validate";

export const sourceNameParamSchema = z
  .string()
  .regex(sourceNameRegex, "source name must match [a-z0-9][a-z0-9_-]{0,63}");

export const listSourcesQuerySchema = z.object({ limit: limitSchema, cursor: z.string().optional() });

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
  const app = new Hono<AppEnv>();
  const base = (url: string) => new URL(url).origin;

  app.get("/", async (c) => {
    const q = parseQuery(c, listSourcesQuerySchema);
    const after = decodeCursor(q.cursor, 1)?.[0] ?? null;
    if (typeof after === "number")
      throw new AppError("bad_request", "cursor is not valid: pass next_cursor from a previous page");
    const rows = await listSources(c.env.DB, after, q.limit, tenantScope(c));
    const result = page(rows, q.limit, (r) => [r.name]);
    return c.json({ items: result.items.map((r) => sourceView(r, base(c.req.url))), next_cursor: result.next_cursor });
  });

  app.get("/:name", async (c) => {
    const name = parseWith(sourceNameParamSchema, c.req.param("name"), "source name");
    const row = await getSource(c.env.DB, name);
    if (!row || !visibleTo(c, row.tenantId)) throw notFound(`source '${name}'`);
    return c.json(sourceView(row, base(c.req.url)));
  });

  app.put("/:name", async (c) => {
    const name = parseWith(sourceNameParamSchema, c.req.param("name"), "source name");
    const input = await readJson(c, sourceInputSchema);
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
    const secrets = keys ? await Promise.all(plain.map((s) => seal(s, keys))) : [];
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
    const inserted = await db.insert(sources).values(values).onConflictDoNothing().returning({ name: sources.name });
    const created = inserted.length > 0;
    if (!created) {
      const { createdAt: _created, ...update } = values;
      await db.update(sources).set(update).where(eq(sources.name, name));
    }
    forgetSource(name);
    const row = await getSource(c.env.DB, name);
    if (!row) throw new AppError("conflict", `source '${name}' was deleted while being written; retry`);
    return c.json(sourceView(row, base(c.req.url)), created ? 201 : 200);
  });

  // Notion's set-up: the token its verification request left, shown once (it is also the secret).
  app.post("/:name/verification-token", async (c) => {
    const name = parseWith(sourceNameParamSchema, c.req.param("name"), "source name");
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
  });

  app.delete("/:name", async (c) => {
    const name = parseWith(sourceNameParamSchema, c.req.param("name"), "source name");
    const scope = tenantScope(c);
    const deleted = await drizzle(c.env.DB)
      .delete(sources)
      .where(and(eq(sources.name, name), scope ? eq(sources.tenantId, scope) : undefined))
      .returning({ name: sources.name });
    if (deleted.length === 0) throw notFound(`source '${name}'`);
    forgetSource(name);
    return c.body(null, 204);
  });
  return app;
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
