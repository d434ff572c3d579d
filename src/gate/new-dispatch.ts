/** The document of a dispatch the gate has just been asked to admit (status `pending`, no attempt yet). */
import { DEFAULT_TIER } from "../autonomy/tiers";
import type { DispatchDoc } from "../contracts/dispatch-doc";
import type { AdmitRequest } from "../contracts/gate-rpc";
import { handlerKindOf } from "../contracts/handler-uri";
import { effectiveMaxAttempts } from "../dispatch/retry-policy";

export function newDispatchDoc(req: AdmitRequest, now: number): DispatchDoc {
  return {
    dispatch_id: req.dispatch_id,
    binding_key: req.binding_key,
    binding_id: req.binding_id,
    binding_version: req.binding_version,
    event_id: req.event_id,
    trace_id: req.trace_id,
    tenant_id: req.tenant_id,
    replay_of_event_id: req.replay_of_event_id,
    handler_kind: handlerKindOf(req.spec.handler),
    target_uri: req.spec.handler,
    dlq_id: req.dlq_id ?? null,
    status: "pending",
    attempt: 0,
    attempt_running: false,
    attempt_started_at: null,
    max_attempts: req.max_attempts ?? effectiveMaxAttempts(req.spec.retry.max_attempts),
    cancel_requested: false,
    held_reason: null,
    batch_event_ids: null,
    tier: req.autonomy_tier ?? req.spec.autonomy?.tier ?? DEFAULT_TIER,
    decision: null,
    approval_id: null,
    created_at: now,
    updated_at: now,
    terminal_at: null,
    timer: null,
    log: [],
  };
}
