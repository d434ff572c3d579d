/** Record topics of SPEC 14 and their tenant-scoped names. Pure. */
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

/** Tenant-scoped topic names: `tenant.<tenant_id>.<topic>`. */
export function scopedTopic(topic: string, tenantId: string | null): string {
  return tenantId ? `tenant.${tenantId}.${topic}` : topic;
}
