/**
 * The append-only `records` log (SPEC 14). Every write carries a `record_key` unique per logical
 * record, so a step replayed after a redelivered message or a retried RPC never duplicates it.
 */
import type { Db } from "../db/client";
import { records } from "../db/schema";

export const TOPICS = {
  inbox: "trigger.inbox.envelopes",
  outbox: "trigger.outbox",
  attempts: "trigger.attempts",
  dlq: "trigger.dlq",
  lifecycle: "triggers.lifecycle",
  cancel: "trigger.cancel.requests",
  actionGraph: "observability.action_graph",
  signature: "audit.signature_verify",
  approvals: "hitl.approvals",
  trust: "trust_graph",
} as const;

export interface RecordInput {
  key: string;
  topic: string;
  kind: string;
  tenant_id: string | null;
  event_id?: string | null;
  trace_id?: string | null;
  binding_key?: string | null;
  headers?: Record<string, string>;
  payload: unknown;
  at: string;
}

/** Tenant-scoped topic names: `tenant.<tenant_id>.<topic>`. */
export function scopedTopic(topic: string, tenantId: string | null): string {
  return tenantId ? `tenant.${tenantId}.${topic}` : topic;
}

export function insertRecord(db: Db, input: RecordInput) {
  return db
    .insert(records)
    .values({
      recordKey: input.key,
      topic: scopedTopic(input.topic, input.tenant_id),
      kind: input.kind,
      tenantId: input.tenant_id,
      eventId: input.event_id ?? null,
      traceId: input.trace_id ?? null,
      bindingKey: input.binding_key ?? null,
      headers: JSON.stringify(input.headers ?? {}),
      payload: JSON.stringify(input.payload ?? null),
      at: input.at,
    })
    .onConflictDoNothing();
}
