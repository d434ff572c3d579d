/** Approval requests in D1 (SPEC 8): listing newest first with a cursor, and the wire view. */
import { and, desc, eq, lt, or, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { ApprovalView } from "../contracts/approvals";
import { approvals } from "./schema";

export type ApprovalRow = typeof approvals.$inferSelect;

export async function getApproval(d1: D1Database, id: string): Promise<ApprovalRow | null> {
  const rows = await drizzle(d1).select().from(approvals).where(eq(approvals.id, id)).limit(1);
  return rows[0] ?? null;
}

/** Newest first; `after` is the (created_at, id) of the last item of the previous page. */
export async function listApprovals(
  d1: D1Database,
  filter: { state?: string | undefined; binding_id?: string | undefined; tenant?: string | null },
  after: [string, string] | null,
  limit: number,
): Promise<ApprovalRow[]> {
  const where: SQL[] = [];
  if (filter.state) where.push(eq(approvals.state, filter.state as ApprovalRow["state"]));
  if (filter.binding_id) where.push(eq(approvals.bindingId, filter.binding_id));
  if (filter.tenant) where.push(eq(approvals.tenantId, filter.tenant));
  if (after) {
    const older = or(
      lt(approvals.createdAt, after[0]),
      and(eq(approvals.createdAt, after[0]), lt(approvals.id, after[1])),
    );
    if (older) where.push(older);
  }
  return drizzle(d1)
    .select()
    .from(approvals)
    .where(and(...where))
    .orderBy(desc(approvals.createdAt), desc(approvals.id))
    .limit(limit + 1);
}

export function approvalView(row: ApprovalRow): ApprovalView {
  return {
    id: row.id,
    binding_key: row.bindingKey,
    event_id: row.eventId,
    reason: row.reason,
    reviewers: JSON.parse(row.reviewers) as string[],
    state: row.state,
    created_at: row.createdAt,
    reviewer: row.reviewer,
    decision_reason: row.decisionReason,
    decided_at: row.decidedAt,
  };
}
