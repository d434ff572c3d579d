/**
 * Inbox queue consumer: routes each accepted event to its matching binding versions, one
 * BindingGate admit per (binding, event). Idempotent on event id: admits are keyed by dispatch id.
 */
import { effectiveTier } from "../autonomy/tiers";
import { type InboxMessage, inboxMessageSchema } from "../contracts/messages";
import { loadCandidates, loadControls } from "../db/bindings-repo";
import { eventFromRow, getEventRow, markRouted } from "../db/events-repo";
import { dispatchIdOf, stagesNeedEvent } from "./dispatch-id";
import { matchBindings, targetOf } from "./matching";

/** The event and its publish target: from the message when intake sent them along, else from D1. */
async function eventOf(env: Env, message: InboxMessage) {
  if (message.event && message.event.id === message.event_id) {
    return { event: message.event, target: message.target ?? null };
  }
  const row = await getEventRow(env.DB, message.event_id);
  if (!row) return null;
  return {
    event: eventFromRow(row),
    target: row.targetBindingId ? { binding_id: row.targetBindingId, version: row.targetVersion } : null,
  };
}

export async function routeEvent(
  env: Env,
  message: InboxMessage,
  now: () => number,
): Promise<{ dispatches: string[] }> {
  const found = await eventOf(env, message);
  if (!found) return { dispatches: [] };
  const { event } = found;
  const routable = {
    provider: event.provider,
    kind: event.kind,
    tenant_id: event.tenant_id,
    payload: event.payload,
    target: found.target,
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
  await markRouted(env.DB, event.id, now());
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
        await routeEvent(env, parsed.data, now);
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
