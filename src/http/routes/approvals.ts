/** `/v1/approvals`: approval requests raised by autonomy budgets, approved or denied by a reviewer (SPEC 8). */
import { type Context, Hono } from "hono";
import { approvalDecisionBodySchema, listApprovalsQuerySchema } from "../../contracts/approvals";
import { approvalView, getApproval, listApprovals } from "../../db/approvals-repo";
import { AppError, notFound } from "../../lib/errors";
import type { AppEnv } from "../app-env";
import { tenantScope, visibleTo } from "../auth";
import { decodeCursor, page } from "../pagination";
import { parseQuery, readJson } from "../validate";

async function decide(c: Context<AppEnv>, id: string, approved: boolean, body: { reviewer?: string; reason?: string }) {
  const env = c.env;
  const row = await getApproval(env.DB, id);
  if (!row || !visibleTo(c, row.tenantId)) throw notFound(`approval '${id}'`);
  if (row.state !== "pending") throw new AppError("conflict", `approval ${id} is already ${row.state}`);
  const gate = env.BINDING_GATE.getByName(row.bindingKey);
  const answer = await gate.decideApproval(row.dispatchId, row.id, {
    approved,
    reviewer: body.reviewer ?? null,
    reason: body.reason ?? null,
  });
  if (answer.state === "unknown") {
    throw new AppError("conflict", `approval ${id}: dispatch ${row.bindingKey}/${row.eventId} has no such request`);
  }
  if (answer.state === "not_pending") {
    throw new AppError(
      "conflict",
      `approval ${id}: dispatch ${row.bindingKey}/${row.eventId} is ${answer.status}, no longer waiting for approval`,
    );
  }
  // The gate writes the decision through its outbox; wait for it so the answer shows the new state.
  await gate.flushNow();
  const updated = await getApproval(env.DB, id);
  return approvalView(updated ?? row);
}

export function approvalRoutes() {
  const app = new Hono<AppEnv>();

  app.get("/", async (c) => {
    const q = parseQuery(c, listApprovalsQuerySchema);
    const cursor = decodeCursor(q.cursor, 2);
    const rows = await listApprovals(
      c.env.DB,
      { ...q, tenant: tenantScope(c) },
      cursor ? [String(cursor[0]), String(cursor[1])] : null,
      q.limit,
    );
    const result = page(rows, q.limit, (r) => [r.createdAt, r.id]);
    return c.json({ items: result.items.map(approvalView), next_cursor: result.next_cursor });
  });

  app.get("/:id", async (c) => {
    const row = await getApproval(c.env.DB, c.req.param("id"));
    if (!row || !visibleTo(c, row.tenantId)) throw notFound(`approval '${c.req.param("id")}'`);
    return c.json(approvalView(row));
  });

  app.post("/:id/approve", async (c) => {
    const body = await readJson(c, approvalDecisionBodySchema, { optional: true });
    return c.json(await decide(c, c.req.param("id"), true, body));
  });

  app.post("/:id/deny", async (c) => {
    const body = await readJson(c, approvalDecisionBodySchema, { optional: true });
    return c.json(await decide(c, c.req.param("id"), false, body));
  });
  return app;
}
