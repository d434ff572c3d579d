/** `/v1/approvals`: approval requests raised by autonomy budgets, approved or denied by a reviewer (SPEC 8). */
import type { Context } from "hono";
import { z } from "zod";
import { approvalView, getApproval, listApprovals } from "../../db/approvals-repo";
import { AppError, notFound } from "../../lib/errors";
import type { AppEnv } from "../app-env";
import { tenantScope, visibleTo } from "../auth";
import { Approval } from "../openapi/components";
import { named, RouteGroup } from "../openapi/route";
import * as s from "../openapi/schemas";
import { newestFirstPage } from "../pagination";

const ApprovalDecision = named("ApprovalDecisionRequest", s.approvalDecisionBodySchema);

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
  const group = new RouteGroup("/v1/approvals", "Approvals")
    .on(
      {
        method: "get",
        path: "/",
        operationId: "listApprovals",
        summary: "List approval requests",
        auth: "admin",
        query: s.approvalListQuerySchema,
        responses: s.pageAnswer("A page of approval requests.", "ApprovalPage", s.approvalSchema),
      },
      async (c, { query: q }) => {
        const filter = { ...q, tenant: tenantScope(c) };
        return c.json(await newestFirstPage(q, (after, n) => listApprovals(c.env.DB, filter, after, n), approvalView));
      },
    )
    .on(
      {
        method: "get",
        path: "/{id}",
        operationId: "getApproval",
        summary: "Get an approval request",
        auth: "admin",
        params: z.object({ id: z.string() }),
        responses: { 200: { description: "The approval.", json: Approval } },
        errors: [404],
      },
      async (c, { params }) => {
        const row = await getApproval(c.env.DB, params.id);
        if (!row || !visibleTo(c, row.tenantId)) throw notFound(`approval '${params.id}'`);
        return c.json(approvalView(row));
      },
    );

  for (const action of ["approve", "deny"] as const) {
    group.on(
      {
        method: "post",
        path: `/{id}/${action}`,
        operationId: `${action}Approval`,
        summary:
          action === "approve"
            ? "Approve: the dispatch resumes from flow control onward"
            : "Deny: the dispatch ends as failed",
        auth: "admin",
        params: z.object({ id: z.string() }),
        body: { ...ApprovalDecision, optional: true },
        responses: { 200: { description: "The approval.", json: Approval } },
        errors: [404, 409],
      },
      async (c, { params, body }) => c.json(await decide(c, params.id, action === "approve", body)),
    );
  }
  return group;
}
