/**
 * The D1 control-plane rows a dispatch transition touches (SPEC 8, 13.5): its DLQ entry, its
 * approval request and decision, and the entry a successful DLQ replay resolves. Everything else a
 * transition means stays in the dispatch's own document. Pure: statements as `{sql, params}`.
 */
import type { DispatchDoc } from "../contracts/dispatch-doc";
import type { Transition } from "../contracts/transitions";
import { viewOf } from "../dispatch/dispatch-view";
import { newDlqId } from "../lib/ids";
import { iso } from "../lib/time";

export interface Statement {
  sql: string;
  params: (string | number | null)[];
}

function dlqEntry(
  doc: DispatchDoc,
  t: { attempt_count: number; error: string; error_class: string; reason: string },
  at: number,
): Statement {
  const attempts = viewOf(doc).attempts;
  return {
    sql: `INSERT INTO dlq_entries (id, dispatch_id, binding_key, binding_id, event_id, tenant_id, attempt_count, final_error,
            error_class, reason, state, created_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)
          ON CONFLICT (dispatch_id) DO NOTHING`,
    params: [
      newDlqId(at),
      doc.dispatch_id,
      doc.binding_key,
      doc.binding_id,
      doc.event_id,
      doc.tenant_id,
      t.attempt_count,
      t.error,
      t.error_class,
      t.reason,
      iso(at),
      JSON.stringify(attempts),
    ],
  };
}

function resolveDlq(doc: DispatchDoc, at: number): Statement[] {
  if (!doc.dlq_id) return [];
  return [
    {
      sql: "UPDATE dlq_entries SET state = 'resolved', resolved_at = ? WHERE id = ? AND state = 'pending'",
      params: [iso(at), doc.dlq_id],
    },
  ];
}

/** Statements for `t`, which was just appended to `doc.log`. */
export function controlWrites(doc: DispatchDoc, t: Transition): Statement[] {
  switch (t.op) {
    case "dead_lettered":
      return [dlqEntry(doc, t, t.at)];
    case "finished":
      if (t.decision.kind === "dlq") {
        return [
          dlqEntry(
            doc,
            {
              attempt_count: t.attempt,
              error: t.decision.error,
              error_class: t.decision.errorClass,
              reason: t.decision.reason,
            },
            t.completed_at,
          ),
        ];
      }
      return t.decision.kind === "succeeded" ? resolveDlq(doc, t.completed_at) : [];
    case "completed":
      return t.status === "succeeded" ? resolveDlq(doc, t.at) : [];
    case "approval_required":
      return [
        {
          sql: `INSERT INTO approvals (id, dispatch_id, binding_key, binding_id, event_id, tenant_id, reason, reviewers,
                  state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING`,
          params: [
            t.request.request_id,
            doc.dispatch_id,
            doc.binding_key,
            doc.binding_id,
            doc.event_id,
            doc.tenant_id,
            t.request.reason,
            JSON.stringify(t.request.reviewers),
            iso(t.at),
          ],
        },
      ];
    case "cancelled":
      // A cancel request ended an approval wait: the request is no longer anyone's to decide.
      if (doc.held_reason !== "approval" || !doc.approval_id) return [];
      return [
        {
          sql: `UPDATE approvals SET state = 'cancelled', decision_reason = ?, decided_at = ?
                WHERE id = ? AND state = 'pending'`,
          params: [t.error, iso(t.at), doc.approval_id],
        },
      ];
    case "approval_decided":
      return [
        {
          sql: `UPDATE approvals SET state = ?, reviewer = ?, decision_reason = ?, decided_at = ?
                WHERE id = ? AND state = 'pending'`,
          params: [t.approved ? "approved" : "denied", t.reviewer, t.reason, iso(t.at), t.request_id],
        },
      ];
    default:
      return [];
  }
}

/** Remembers a classifier verdict for the event, so replays reuse it at no cost (SPEC 7). */
export function verdictCached(
  eventId: string,
  classifier: string,
  v: { result: boolean; reason: string | null; cost_usd: number; tokens: number },
  at: number,
): Statement {
  return {
    sql: `INSERT INTO predicate_verdicts (event_id, classifier, pass, reason, cost_usd, tokens, created_at)
          VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    params: [eventId, classifier, v.result ? 1 : 0, v.reason, v.cost_usd, v.tokens, iso(at)],
  };
}
