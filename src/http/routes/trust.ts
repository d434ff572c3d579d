/**
 * `/v1/trust`: hash-chained trust records per binding id (SPEC 8) — list, verify, and tier
 * promotion/demotion, which changes the binding's effective autonomy tier for new dispatches.
 */
import { type Context, Hono } from "hono";
import { effectiveTier, type Tier, tierMoveProblem } from "../../autonomy/tiers";
import type { BindingSpec } from "../../contracts/binding-spec";
import { listTrustQuerySchema, tierChangeBodySchema, verifyTrustQuerySchema } from "../../contracts/trust";
import { listVersions, loadControls } from "../../db/bindings-repo";
import { chainOf, listTrust } from "../../db/trust-repo";
import { AppError, notFound } from "../../lib/errors";
import { uuidv7 } from "../../lib/ids";
import { verifyChain } from "../../trust/trust-chain";
import { trustView } from "../../trust/trust-view";
import type { AppEnv } from "../app";
import { tenantScope, visibleTo } from "../auth";
import { decodeCursor, page } from "../pagination";
import { parseQuery, readJson } from "../validate";
import { visibleVersions } from "./bindings";

/** The tier new dispatches of a binding id get (live version's spec tier or the trust override), and its tenant. */
async function currentTier(c: Context<AppEnv>, bindingId: string): Promise<{ tier: Tier; tenant: string | null }> {
  const versions = await visibleVersions(c, bindingId);
  const live = versions.filter((v) => v.state === "active").at(-1) ?? versions.at(-1);
  const spec = JSON.parse(live?.spec ?? "{}") as BindingSpec;
  const control = (await loadControls(c.env.DB, [bindingId])).get(bindingId);
  return { tier: effectiveTier(spec.autonomy?.tier, control?.tierOverride), tenant: versions.at(-1)?.tenantId ?? null };
}

async function changeTier(
  c: Context<AppEnv>,
  direction: "promote" | "demote",
  body: { binding_id: string; tier: Tier; reason?: string | undefined },
) {
  const env = c.env;
  const { tier: from, tenant } = await currentTier(c, body.binding_id);
  const problem = tierMoveProblem(direction, from, body.tier);
  if (problem) throw new AppError("conflict", problem);
  const now = Date.now();
  const [record] = await env.TRUST_LEDGER.getByName(body.binding_id).append(
    [
      {
        record_key: `trust.${direction}:${uuidv7(now)}`,
        binding_id: body.binding_id,
        tenant_id: tenant,
        action: `trust.${direction}`,
        outcome: "succeeded",
        tier: body.tier,
        metadata_json: JSON.stringify({ from, to: body.tier, reason: body.reason ?? null }),
        at: now,
      },
    ],
    body.tier,
  );
  if (!record) throw new AppError("conflict", `trust ${direction} of ${body.binding_id} was not recorded`);
  return trustView(record);
}

export function trustRoutes() {
  const app = new Hono<AppEnv>();

  app.get("/", async (c) => {
    const q = parseQuery(c, listTrustQuerySchema);
    const after = decodeCursor(q.cursor, 1)?.[0] ?? 0;
    // Cursors carry a record seq; anything else (NaN once bound) would silently answer an empty page.
    if (typeof after !== "number" || !Number.isSafeInteger(after) || after < 0) {
      throw new AppError("bad_request", "cursor is not valid: pass next_cursor from a previous page");
    }
    const rows = await listTrust(c.env.DB, q.binding_id, after, q.limit, tenantScope(c));
    const result = page(rows, q.limit, (r) => [r.seq]);
    return c.json({ items: result.items.map(trustView), next_cursor: result.next_cursor });
  });

  app.get("/verify", async (c) => {
    const q = parseQuery(c, verifyTrustQuerySchema);
    const [rows, versions] = await Promise.all([chainOf(c.env.DB, q.binding_id), listVersions(c.env.DB, q.binding_id)]);
    const latest = versions.at(-1);
    const hidden = latest ? !visibleTo(c, latest.tenantId) : tenantScope(c) !== null;
    if ((rows.length === 0 && versions.length === 0) || hidden) throw notFound(`binding '${q.binding_id}'`);
    const head = await c.env.TRUST_LEDGER.getByName(q.binding_id).head();
    const check = await verifyChain(rows.map(trustView), head);
    return c.json({ binding_id: q.binding_id, ...check });
  });

  app.post("/promote", async (c) => c.json(await changeTier(c, "promote", await readJson(c, tierChangeBodySchema))));
  app.post("/demote", async (c) => c.json(await changeTier(c, "demote", await readJson(c, tierChangeBodySchema))));
  return app;
}
