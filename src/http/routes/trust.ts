/**
 * `/v1/trust`: hash-chained trust records per binding id (SPEC 8) — list, verify, and tier
 * promotion/demotion, which changes the binding's effective autonomy tier for new dispatches.
 */
import type { Context } from "hono";
import { effectiveTier, type Tier, tierMoveProblem } from "../../autonomy/tiers";
import type { BindingSpec } from "../../contracts/binding-spec";
import { listVersions, loadControls } from "../../db/bindings-repo";
import { notifyRoutingChanged } from "../../dispatch/routing-notify";
import { AppError, notFound } from "../../lib/errors";
import { uuidv7 } from "../../lib/ids";
import { iso } from "../../lib/time";
import { appendTrust, chainRecords, verifyTrust } from "../../trust/trust-reader";
import { trustView } from "../../trust/trust-view";
import type { AppEnv } from "../app-env";
import { tenantScope, visibleTo } from "../auth";
import { TrustRecord } from "../openapi/components";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";
import { decodeCursor, page } from "../pagination";
import { visibleVersions } from "./bindings";

const TrustChange = named("TrustChangeRequest", s.trustChangeBodySchema);

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
  const [record] = await appendTrust(env, body.binding_id, [
    {
      record_key: `trust.${direction}:${uuidv7(now)}`,
      binding_id: body.binding_id,
      tenant_id: tenant,
      action: `trust.${direction}`,
      outcome: "succeeded",
      tier: body.tier,
      metadata: { from, to: body.tier, reason: body.reason ?? null },
      at: iso(now),
    },
  ]);
  if (!record) throw new AppError("conflict", `trust ${direction} of ${body.binding_id} was not recorded`);
  await env.DB.prepare("UPDATE binding_controls SET tier_override = ?, updated_at = ? WHERE id = ?")
    .bind(body.tier, iso(now), body.binding_id)
    .run();
  await notifyRoutingChanged(env);
  return trustView(record);
}

function decodeTrustCursor(cursor: string): (string | number)[] {
  try {
    return decodeCursor(cursor, 2) ?? [];
  } catch {
    return decodeCursor(cursor, 1) ?? [];
  }
}

export function trustRoutes() {
  const group = new RouteGroup("/v1/trust", "Trust").on(
    {
      method: "get",
      path: "/",
      operationId: "listTrustRecords",
      summary: "Trust records, oldest first",
      auth: "admin",
      query: s.trustListQuerySchema,
      responses: s.pageAnswer("A page of hash-chained records.", "TrustRecordPage", s.trustRecordSchema),
    },
    async (c, { query: q }) => {
      // `[binding_id, seq]`; a bare `[seq]` pages within the named binding id.
      const cursor = q.cursor?.length ? decodeTrustCursor(q.cursor) : null;
      const [afterId, afterSeq] = cursor
        ? cursor.length === 1
          ? [q.binding_id ?? "", Number(cursor[0])]
          : [String(cursor[0]), Number(cursor[1])]
        : ["", 0];
      if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
        throw new AppError("bad_request", "cursor is not valid: pass next_cursor from a previous page");
      }
      const scope = tenantScope(c);
      // One binding id's chain, or every visible binding id's in turn (ordered by id, then seq).
      const ids = q.binding_id
        ? [q.binding_id]
        : (
            await c.env.DB.prepare(
              `SELECT DISTINCT id FROM binding_versions ${scope ? "WHERE tenant_id = ?" : ""} ORDER BY id`,
            )
              .bind(...(scope ? [scope] : []))
              .all<{ id: string }>()
          ).results.map((r) => r.id);
      const rows = [];
      for (const id of ids) {
        if (id < afterId) continue;
        const { rows: chain } = await chainRecords(c.env, id, id === afterId ? afterSeq : 0, q.limit + 1 - rows.length);
        rows.push(...chain.filter((r) => scope === null || r.tenant_id === scope));
        if (rows.length > q.limit) break;
      }
      const result = page(rows, q.limit, (r) => [r.binding_id, r.seq]);
      return c.json({ items: result.items.map(trustView), next_cursor: result.next_cursor });
    },
  );

  for (const action of ["promote", "demote"] as const) {
    group.on(
      {
        method: "post",
        path: `/${action}`,
        operationId: `${action}Binding`,
        summary: `${action === "promote" ? "Promote" : "Demote"} a binding's autonomy tier`,
        description: "Changes the effective tier of new dispatches and appends a trust record.",
        auth: "admin",
        body: TrustChange,
        responses: { 200: { description: "The trust record of the transition.", json: TrustRecord } },
        errors: [404, 409],
      },
      async (c, { body }) => c.json(await changeTier(c, action, body)),
    );
  }

  return group.on(
    {
      method: "get",
      path: "/verify",
      operationId: "verifyTrustChain",
      summary: "Verify a binding's trust record chain",
      auth: "admin",
      query: s.trustVerifyQuerySchema,
      responses: {
        200: { description: "Whether the chain is intact.", json: named("TrustVerification", s.trustVerifySchema) },
      },
      errors: [404],
    },
    async (c, { query: q }) => {
      const versions = await listVersions(c.env.DB, q.binding_id);
      const { records, ...check } = await verifyTrust(c.env, q.binding_id);
      const latest = versions.at(-1);
      const hidden = latest ? !visibleTo(c, latest.tenantId) : tenantScope(c) !== null;
      if ((records === 0 && versions.length === 0) || hidden) throw notFound(`binding '${q.binding_id}'`);
      return c.json({ binding_id: q.binding_id, ...check });
    },
  );
}
