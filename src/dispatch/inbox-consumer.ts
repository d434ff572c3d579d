/**
 * Inbox queue consumer: routes each accepted event to its matching binding versions, one
 * BindingGate admit per (binding, event). Idempotent on event id: admits are keyed by dispatch id.
 */
import { effectiveTier } from "../autonomy/tiers";
import { inboxMessageSchema } from "../contracts/messages";
import { loadCandidates, loadControls } from "../db/bindings-repo";
import { eventFromRow, getEventRow, markRouted } from "../db/events-repo";
import { dispatchIdOf, stagesNeedEvent } from "./dispatch-id";
import { matchBindings, targetOf } from "./matching";

export async function routeEvent(env: Env, eventId: string, now: () => number): Promise<{ dispatches: string[] }> {
  const row = await getEventRow(env.DB, eventId);
  if (!row) return { dispatches: [] };
  const event = eventFromRow(row);
  const routable = {
    provider: event.provider,
    kind: event.kind,
    tenant_id: event.tenant_id,
    payload: event.payload,
    target: row.targetBindingId ? { binding_id: row.targetBindingId, version: row.targetVersion } : null,
  };
  const target = targetOf(routable);
  const matched = matchBindings(routable, await loadCandidates(env.DB, event.provider, target?.binding_id ?? null));
  const controls = await loadControls(env.DB, [...new Set(matched.map((b) => b.id))]);
  await Promise.all(
    matched.map(async (binding) => {
      const control = controls.get(binding.id);
      const stub = env.BINDING_GATE.getByName(binding.bindingKey);
      await stub.admit({
        dispatch_id: dispatchIdOf(binding.bindingKey, event.id),
        binding_key: binding.bindingKey,
        binding_id: binding.id,
        binding_version: binding.version,
        event_id: event.id,
        trace_id: event.trace_id,
        tenant_id: event.tenant_id,
        replay_of_event_id: null,
        spec: binding.spec,
        signing_secret: control?.signingSecret ?? "",
        paused: control?.paused ?? false,
        autonomy_tier: effectiveTier(binding.spec.autonomy?.tier, control?.tierOverride),
        ...(stagesNeedEvent(binding.spec) ? { event } : {}),
      });
    }),
  );
  if (!row.routedAt) await markRouted(env.DB, event.id, now());
  return { dispatches: matched.map((b) => b.bindingKey) };
}

export async function consumeInbox(batch: MessageBatch<unknown>, env: Env, now: () => number): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = inboxMessageSchema.safeParse(message.body);
      if (!parsed.success) {
        console.error(JSON.stringify({ msg: "inbox message rejected", id: message.id, issues: parsed.error.issues }));
        message.ack();
        return;
      }
      try {
        await routeEvent(env, parsed.data.event_id, now);
        message.ack();
      } catch (error) {
        console.error(
          JSON.stringify({ msg: "inbox routing failed", event_id: parsed.data.event_id, error: String(error) }),
        );
        message.retry({ delaySeconds: Math.min(60, 2 ** message.attempts) });
      }
    }),
  );
}
