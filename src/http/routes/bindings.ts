/** `/v1/bindings`: versioned trigger bindings, GitOps apply, pause/resume, signing secrets (SPEC 5, 12.1). */
import { and, asc, eq, gt, gte, lte } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Context } from "hono";
import { z } from "zod";
import {
  applyManifest,
  drainBinding,
  rotateSigningSecret,
  SIGNING_OVERLAP_DEFAULT_MS,
  setBindingPaused,
  upsertBinding,
  versionView,
} from "../../bindings/binding-service";
import {
  type BindingSpecValidation,
  bindingIdSchema,
  bindingSpecSchema,
  validateBindingSpec,
} from "../../contracts/binding-spec";
import { boundedDuration } from "../../contracts/duration";
import { type Problem, summarize } from "../../contracts/problems";
import { listVersions, previousSecretOf } from "../../db/bindings-repo";
import { bindingControls, bindingVersions } from "../../db/schema";
import { AppError, notFound } from "../../lib/errors";
import { open, requireSecretKeys } from "../../lib/secret-box";
import { iso } from "../../lib/time";
import type { AppEnv } from "../app-env";
import { ownTenant, tenantScope, visibleTo } from "../auth";
import { Binding, BindingVersion, SigningSecret } from "../openapi/components";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";
import { limitSchema, page, stringKeyCursor } from "../pagination";
import { parseWith } from "../validate";

/**
 * Stored specs travel with every dispatch (matching, gate admits) and in every listing, so they are
 * capped well below the request body limit.
 */
const MAX_SPEC_BYTES = 64 * 1024;

/** validateBindingSpec plus the storage size cap. */
function checkSpec(input: unknown): BindingSpecValidation {
  const result = validateBindingSpec(input);
  if (!result.ok) return result;
  const size = new TextEncoder().encode(JSON.stringify(result.spec)).byteLength;
  if (size > MAX_SPEC_BYTES) {
    return { ok: false, problems: [{ path: "", message: `spec is too large: ${size} bytes (max ${MAX_SPEC_BYTES})` }] };
  }
  return result;
}

/** A checked spec, else 400 with every problem. */
export function specOrThrow(input: unknown) {
  const result = checkSpec(input);
  if (result.ok) return result.spec;
  throw new AppError("validation_failed", `invalid binding spec: ${summarize(result.problems)}`, {
    problems: result.problems,
  });
}

/** `POST /v1/bindings:apply` body as read; each entry is then checked as `{id, …spec}` by `manifestEntries`. */
const applySchema = z.strictObject({ bindings: z.array(z.unknown()).max(1000) });

/** `bindings[i]` + a spec problem path, in the manifest's own notation. */
const entryPath = (i: number, path: string) => (path === "" ? `bindings[${i}]` : `bindings[${i}].${path}`);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A manifest's entries as `{id, spec}` with the caller's tenant set, else one 400 listing the
 * problems of every entry (bad or duplicate ids, spec problems, another tenant's `tenant_id`).
 */
function manifestEntries(c: Context<AppEnv>, bindings: unknown[]) {
  const problems: Problem[] = [];
  const entries: { id: string; spec: ReturnType<typeof specOrThrow> }[] = [];
  const seen = new Set<string>();
  bindings.forEach((entry, i) => {
    if (!isPlainObject(entry)) {
      problems.push({ path: entryPath(i, ""), message: "expected an object {id, …spec}" });
      return;
    }
    const { id, ...spec } = entry;
    const idResult = bindingIdSchema.safeParse(id);
    if (!idResult.success)
      problems.push({
        path: entryPath(i, "id"),
        message: id === undefined ? "required field is missing" : "must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}",
      });
    else if (seen.has(idResult.data))
      problems.push({ path: entryPath(i, "id"), message: `duplicate id '${idResult.data}'` });
    else seen.add(idResult.data);
    const result = checkSpec(spec);
    if (!result.ok) problems.push(...result.problems.map((p) => ({ path: entryPath(i, p.path), message: p.message })));
    else if (idResult.success) {
      try {
        entries.push({ id: idResult.data, spec: { ...result.spec, tenant_id: ownTenant(c, result.spec.tenant_id) } });
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        problems.push({ path: entryPath(i, "tenant_id"), message: error.message });
      }
    }
  });
  if (problems.length > 0) {
    throw new AppError("validation_failed", `invalid manifest: ${summarize(problems)}`, { problems });
  }
  return entries;
}

/**
 * The versions of a binding id the caller may see: a binding belongs to the tenant of its latest
 * version, and other tenants' bindings are not found (SPEC 16).
 */
export async function visibleVersions(c: Context<AppEnv>, id: string) {
  const versions = await listVersions(c.env.DB, id);
  const latest = versions.at(-1);
  if (!latest || !visibleTo(c, latest.tenantId)) throw notFound(`binding '${id}'`);
  return versions;
}

/** Binding ids are global: one held by another tenant cannot be taken over (or confirmed to exist). */
async function claimableId(c: Context<AppEnv>, id: string) {
  const latest = (await listVersions(c.env.DB, id)).at(-1);
  if (latest && !visibleTo(c, latest.tenantId)) throw new AppError("conflict", `binding id '${id}' is not available`);
}

async function bindingView(env: Env, id: string) {
  const versions = await listVersions(env.DB, id);
  if (versions.length === 0) return null;
  const control = (await drizzle(env.DB).select().from(bindingControls).where(eq(bindingControls.id, id)))[0];
  return {
    id,
    paused: control?.paused ?? false,
    versions: versions.map((v) => {
      const { id: _id, ...view } = versionView(v);
      return view;
    }),
  };
}

/** `POST /v1/bindings/{id}/signing-secret:rotate` body: how long the replaced secret keeps signing. */
const rotateSigningSecretSchema = z.strictObject({
  overlap: boundedDuration({ min: 0, max: 7 * 86_400_000 }).optional(),
});

const listBindingsQuerySchema = z.object({ limit: limitSchema, cursor: z.string().optional() });
const bindingId = z.object({ id: bindingIdSchema });

/** A path's binding id, else 400 with problems. */
const idParam = (raw: string) => parseWith(bindingIdSchema, raw, "binding id");

export function bindingRoutes() {
  const group = new RouteGroup("/v1", "Bindings");
  group
    .on(
      {
        method: "get",
        path: "/bindings",
        operationId: "listBindings",
        summary: "List bindings with their versions",
        auth: "admin",
        query: listBindingsQuerySchema,
        responses: s.pageAnswer("A page of bindings.", "BindingPage", s.bindingSchema),
      },
      async (c, { query: q }) => {
        const after = stringKeyCursor(q.cursor);
        const db = drizzle(c.env.DB);
        const scope = tenantScope(c);
        const ids = await db
          .selectDistinct({ id: bindingVersions.id })
          .from(bindingVersions)
          .where(
            and(
              after !== null ? gt(bindingVersions.id, after) : undefined,
              scope ? eq(bindingVersions.tenantId, scope) : undefined,
            ),
          )
          .orderBy(asc(bindingVersions.id))
          .limit(q.limit + 1);
        const result = page(ids, q.limit, (r) => [r.id]);
        const wanted = result.items.map((r) => r.id);
        // The page is a contiguous run of ids, so a range (two bound values) fetches its versions; an IN list
        // would exceed D1's limit of 100 bound parameters for pages over 100 ids.
        const first = wanted[0];
        const last = wanted.at(-1);
        const inPage = (column: typeof bindingVersions.id | typeof bindingControls.id) =>
          and(gte(column, first ?? ""), lte(column, last ?? ""));
        const rows =
          first === undefined
            ? []
            : await db
                .select()
                .from(bindingVersions)
                .where(and(inPage(bindingVersions.id), scope ? eq(bindingVersions.tenantId, scope) : undefined))
                .orderBy(asc(bindingVersions.id), asc(bindingVersions.version));
        const controls =
          first === undefined ? [] : await db.select().from(bindingControls).where(inPage(bindingControls.id));
        const paused = new Map(controls.map((x) => [x.id, x.paused]));
        const versionsById = new Map<string, Omit<ReturnType<typeof versionView>, "id">[]>();
        for (const r of rows) {
          const { id: _id, ...view } = versionView(r);
          const list = versionsById.get(r.id) ?? [];
          list.push(view);
          versionsById.set(r.id, list);
        }
        const items = wanted.map((id) => ({
          id,
          paused: paused.get(id) ?? false,
          versions: versionsById.get(id) ?? [],
        }));
        return c.json({ items, next_cursor: result.next_cursor });
      },
    )
    .on(
      {
        method: "post",
        path: "/bindings:apply",
        operationId: "applyBindings",
        summary: "Apply a manifest of bindings",
        description:
          "Each entry is `{id, …spec}`. Every problem of every entry is listed in one 400; otherwise changed specs become new versions and the versions they replace drain.",
        auth: "admin",
        body: {
          ...named(
            "ApplyRequest",
            z.strictObject({ bindings: z.array(bindingSpecSchema.extend({ id: bindingIdSchema })).max(1000) }),
          ),
          read: applySchema,
        },
        responses: {
          200: {
            description: "Binding keys by what happened to them.",
            json: named("ApplyResult", s.applyResultSchema),
          },
        },
      },
      async (c, { body }) => {
        const entries = manifestEntries(c, body.bindings);
        for (const entry of entries) await claimableId(c, entry.id);
        // A tenant's manifest reconciles that tenant's bindings only.
        return c.json(await applyManifest(c.env, entries, Date.now(), tenantScope(c)));
      },
    )
    .on(
      {
        method: "put",
        path: "/bindings/{id}",
        operationId: "putBinding",
        summary: "Create or update a binding",
        description: "A changed spec creates a new version; the previous active version drains.",
        auth: "admin",
        params: bindingId,
        // A bad id answers its 400 before the body is read, whatever the body.
        check: ({ id }) => idParam(id),
        // Read as any JSON, then checked with the storage size cap so every problem is listed.
        body: { ...named("BindingSpecInput", bindingSpecSchema), read: z.unknown() },
        responses: {
          201: { description: "A new version was created.", json: BindingVersion },
          200: { description: "The spec is unchanged; the current version.", json: BindingVersion },
        },
      },
      async (c, { params, body }) => {
        const id = idParam(params.id);
        const checked = specOrThrow(body);
        const spec = { ...checked, tenant_id: ownTenant(c, checked.tenant_id) };
        await claimableId(c, id);
        const result = await upsertBinding(c.env, id, spec, Date.now());
        return c.json({ ...versionView(result.row) }, result.change === "unchanged" ? 200 : 201);
      },
    )
    .on(
      {
        method: "get",
        path: "/bindings/{id}",
        operationId: "getBinding",
        summary: "Get a binding with every version",
        auth: "admin",
        params: bindingId,
        responses: { 200: { description: "The binding.", json: Binding } },
        errors: [400, 404],
      },
      async (c, { params }) => {
        const id = idParam(params.id);
        await visibleVersions(c, id);
        const view = await bindingView(c.env, id);
        if (!view) throw notFound(`binding '${id}'`);
        return c.json(view);
      },
    )
    .on(
      {
        method: "delete",
        path: "/bindings/{id}",
        operationId: "deleteBinding",
        summary: "Delete a binding (its versions drain)",
        auth: "admin",
        params: bindingId,
        responses: { 204: { description: "Draining." } },
        errors: [400, 404],
      },
      async (c, { params }) => {
        const id = idParam(params.id);
        await visibleVersions(c, id);
        await drainBinding(c.env, id, Date.now());
        return c.body(null, 204);
      },
    );

  for (const action of ["pause", "resume"] as const) {
    group.on(
      {
        method: "post",
        path: `/bindings/{id}/${action}`,
        operationId: `${action}Binding`,
        summary: action === "pause" ? "Pause a binding (new dispatches are held)" : "Resume a paused binding",
        auth: "admin",
        params: bindingId,
        responses: { 200: { description: "The binding.", json: Binding } },
        errors: [400, 404],
      },
      async (c, { params }) => {
        const id = idParam(params.id);
        await visibleVersions(c, id);
        await setBindingPaused(c.env, id, action === "pause", Date.now());
        return c.json(await bindingView(c.env, id));
      },
    );
  }

  return group
    .on(
      {
        method: "get",
        path: "/bindings/{id}/signing-secret",
        operationId: "getBindingSigningSecret",
        summary: "Get the secret handlers use to verify Switchyard's signature",
        auth: "admin",
        params: bindingId,
        responses: { 200: { description: "The Standard Webhooks secret.", json: SigningSecret } },
        errors: [400, 404],
      },
      async (c, { params }) => {
        const id = idParam(params.id);
        await visibleVersions(c, id);
        const control = (await drizzle(c.env.DB).select().from(bindingControls).where(eq(bindingControls.id, id)))[0];
        if (!control) throw notFound(`binding '${id}'`);
        const previous = previousSecretOf(control);
        const overlapping = previous !== null && Date.now() < previous.until;
        return c.json({
          id,
          signing_secret: await open(control.signingSecret, requireSecretKeys(c.env)),
          previous_valid_until: overlapping ? iso(previous.until) : null,
        });
      },
    )
    .on(
      {
        method: "post",
        path: "/bindings/{id}/signing-secret:rotate",
        operationId: "rotateBindingSigningSecret",
        summary: "Rotate the signing secret, signing with both while receivers switch",
        description:
          "A new secret signs every outbound call from now on. For `overlap` (default `24h`, `0` to stop at once, at most `7d`) the replaced secret signs too: `webhook-signature` carries both `v1,` signatures, so receivers verifying with either keep working.",
        auth: "admin",
        params: bindingId,
        check: ({ id }) => idParam(id),
        body: { ...named("RotateSigningSecret", rotateSigningSecretSchema), optional: true },
        responses: { 200: { description: "The new secret.", json: SigningSecret } },
        errors: [404, 409],
      },
      async (c, { params, body }) => {
        const id = idParam(params.id);
        await visibleVersions(c, id);
        const rotated = await rotateSigningSecret(c.env, id, body.overlap ?? SIGNING_OVERLAP_DEFAULT_MS, Date.now());
        if (!rotated) throw notFound(`binding '${id}'`);
        return c.json({ id, ...rotated });
      },
    );
}
