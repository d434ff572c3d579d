/** `/v1/bindings`: versioned trigger bindings, GitOps apply, pause/resume (SPEC 5). */
import { asc, eq, gt, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { z } from "zod";
import { drainBinding, setBindingPaused, upsertBinding, versionView } from "../../bindings/binding-service";
import { bindingIdSchema, validateBindingSpec } from "../../contracts/binding-spec";
import { type Problem, summarize } from "../../contracts/problems";
import { listVersions } from "../../db/bindings-repo";
import { bindingControls, bindingVersions } from "../../db/schema";
import { AppError, notFound } from "../../lib/errors";
import type { AppEnv } from "../app";
import { decodeCursor, limitSchema, page } from "../pagination";
import { parseQuery, parseWith, readJson } from "../validate";

function specOrThrow(input: unknown, prefix = "") {
  const result = validateBindingSpec(input);
  if (result.ok) return result.spec;
  const problems: Problem[] = result.problems.map((p) => ({ path: prefix + p.path, message: p.message }));
  throw new AppError("validation_failed", `invalid binding spec: ${summarize(problems)}`, { problems });
}

async function bindingView(env: Env, id: string) {
  const versions = await listVersions(env.DB, id);
  if (versions.length === 0) return null;
  const control = (await drizzle(env.DB).select().from(bindingControls).where(eq(bindingControls.id, id)))[0];
  return {
    id,
    paused: control?.paused ?? false,
    versions: versions.map(({ id: _id, ...v }) => {
      const { id: _i, ...view } = versionView({ id: _id, ...v });
      return view;
    }),
  };
}

const applySchema = z.strictObject({ bindings: z.array(z.record(z.string(), z.unknown())).max(1000) });

export function bindingRoutes() {
  const app = new Hono<AppEnv>();
  const idParam = (raw: string) => parseWith(bindingIdSchema, raw, "binding id");

  // `POST /v1/bindings:apply` — the colon is part of the path segment, so match it explicitly.
  app.post("/:segment{bindings:apply}", async (c) => {
    const body = await readJson(c, applySchema);
    const problems: Problem[] = [];
    const entries: { id: string; spec: ReturnType<typeof specOrThrow> }[] = [];
    const seen = new Set<string>();
    body.bindings.forEach((entry, i) => {
      const { id, ...spec } = entry;
      const idResult = bindingIdSchema.safeParse(id);
      if (!idResult.success)
        problems.push({ path: `bindings[${i}].id`, message: "id must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}" });
      else if (seen.has(idResult.data))
        problems.push({ path: `bindings[${i}].id`, message: `duplicate id '${idResult.data}'` });
      else seen.add(idResult.data);
      const result = validateBindingSpec(spec);
      if (!result.ok)
        problems.push(...result.problems.map((p) => ({ path: `bindings[${i}].${p.path}`, message: p.message })));
      else if (idResult.success) entries.push({ id: idResult.data, spec: result.spec });
    });
    if (problems.length > 0) {
      throw new AppError("validation_failed", `invalid manifest: ${summarize(problems)}`, { problems });
    }
    const now = Date.now();
    const out = {
      created: [] as string[],
      updated: [] as string[],
      unchanged: [] as string[],
      drained: [] as string[],
    };
    for (const entry of entries) {
      const result = await upsertBinding(c.env, entry.id, entry.spec, now);
      out[result.change].push(result.row.bindingKey);
      if (result.change !== "unchanged") out.drained.push(...result.drained.map((d) => d.bindingKey));
    }
    const db = drizzle(c.env.DB);
    const live = await db
      .selectDistinct({ id: bindingVersions.id })
      .from(bindingVersions)
      .where(eq(bindingVersions.state, "active"));
    for (const { id } of live) {
      if (!seen.has(id)) out.drained.push(...(await drainBinding(c.env, id, now)).map((d) => d.bindingKey));
    }
    return c.json(out);
  });

  app.get("/bindings", async (c) => {
    const q = parseQuery(c, z.object({ limit: limitSchema, cursor: z.string().optional() }));
    const after = decodeCursor(q.cursor, 1)?.[0];
    const db = drizzle(c.env.DB);
    const base = db.selectDistinct({ id: bindingVersions.id }).from(bindingVersions);
    const ids = await (typeof after === "string" ? base.where(gt(bindingVersions.id, after)) : base)
      .orderBy(asc(bindingVersions.id))
      .limit(q.limit + 1);
    const result = page(ids, q.limit, (r) => [r.id]);
    const wanted = result.items.map((r) => r.id);
    const rows = wanted.length
      ? await db
          .select()
          .from(bindingVersions)
          .where(inArray(bindingVersions.id, wanted))
          .orderBy(asc(bindingVersions.version))
      : [];
    const controls = wanted.length
      ? await db.select().from(bindingControls).where(inArray(bindingControls.id, wanted))
      : [];
    const items = wanted.map((id) => ({
      id,
      paused: controls.find((x) => x.id === id)?.paused ?? false,
      versions: rows
        .filter((r) => r.id === id)
        .map((r) => {
          const { id: _id, ...view } = versionView(r);
          return view;
        }),
    }));
    return c.json({ items, next_cursor: result.next_cursor });
  });

  app.put("/bindings/:id", async (c) => {
    const id = idParam(c.req.param("id"));
    const body = await readJson(c, z.unknown());
    const spec = specOrThrow(body);
    const result = await upsertBinding(c.env, id, spec, Date.now());
    return c.json({ ...versionView(result.row) }, result.change === "unchanged" ? 200 : 201);
  });

  app.get("/bindings/:id", async (c) => {
    const id = idParam(c.req.param("id"));
    const view = await bindingView(c.env, id);
    if (!view) throw notFound(`binding '${id}'`);
    return c.json(view);
  });

  app.delete("/bindings/:id", async (c) => {
    const id = idParam(c.req.param("id"));
    const versions = await listVersions(c.env.DB, id);
    if (versions.length === 0) throw notFound(`binding '${id}'`);
    await drainBinding(c.env, id, Date.now());
    return c.body(null, 204);
  });

  for (const action of ["pause", "resume"] as const) {
    app.post(`/bindings/:id/${action}`, async (c) => {
      const id = idParam(c.req.param("id"));
      if ((await listVersions(c.env.DB, id)).length === 0) throw notFound(`binding '${id}'`);
      await setBindingPaused(c.env, id, action === "pause", Date.now());
      return c.json(await bindingView(c.env, id));
    });
  }

  /** The Standard Webhooks secret handlers use to verify Switchyard's signature (admin only). */
  app.get("/bindings/:id/signing-secret", async (c) => {
    const id = idParam(c.req.param("id"));
    const control = (await drizzle(c.env.DB).select().from(bindingControls).where(eq(bindingControls.id, id)))[0];
    if (!control) throw notFound(`binding '${id}'`);
    return c.json({ id, signing_secret: control.signingSecret });
  });
  return app;
}
