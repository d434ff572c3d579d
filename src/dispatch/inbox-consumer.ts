/**
 * Inbox queue consumer: routes each accepted event to its matching binding versions, one
 * BindingGate admit per (binding, event). Idempotent on event id: admits are keyed by dispatch id.
 * A batch shares its reads and writes: candidates once per (provider, target), binding controls once,
 * and one `routed_at` update for every event it routed.
 */
import { effectiveTier } from "../autonomy/tiers";
import type { TriggerEvent } from "../contracts/events";
import { type InboxMessage, inboxMessageSchema } from "../contracts/messages";
import { type BindingControlRow, loadCandidates, loadControls } from "../db/bindings-repo";
import { eventFromRow, getEventRow, markRouted } from "../db/events-repo";
import { dispatchIdOf } from "./dispatch-id";
import { type CandidateBinding, matchBindings, type RoutableEvent, targetOf } from "./matching";

interface Found {
  event: TriggerEvent;
  routable: RoutableEvent;
}

/** The event and its publish target: from the message when intake sent them along, else from D1. */
async function eventOf(env: Env, message: InboxMessage): Promise<Found | null> {
  let event: TriggerEvent;
  let target: RoutableEvent["target"];
  if (message.event && message.event.id === message.event_id) {
    event = message.event;
    target = message.target ?? null;
  } else {
    const row = await getEventRow(env.DB, message.event_id);
    if (!row) return null;
    event = eventFromRow(row);
    target = row.targetBindingId ? { binding_id: row.targetBindingId, version: row.targetVersion } : null;
  }
  const routable = {
    provider: event.provider,
    kind: event.kind,
    tenant_id: event.tenant_id,
    payload: event.payload,
    target,
  };
  return { event, routable };
}

/** Candidate versions per (provider, target id), each read once for the whole batch. */
function candidateReader(env: Env) {
  const reads = new Map<string, Promise<CandidateBinding[]>>();
  return (routable: RoutableEvent) => {
    const targetId = targetOf(routable)?.binding_id ?? null;
    const key = JSON.stringify([routable.provider, targetId]);
    let read = reads.get(key);
    if (!read) {
      read = loadCandidates(env.DB, routable.provider, targetId);
      reads.set(key, read);
    }
    return read;
  };
}

async function admitAll(
  env: Env,
  event: TriggerEvent,
  matched: CandidateBinding[],
  controls: Map<string, BindingControlRow>,
): Promise<void> {
  await Promise.all(
    matched.map(async (binding) => {
      const control = controls.get(binding.id);
      await env.BINDING_GATE.getByName(binding.bindingKey).admit({
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
        // Also when no stage needs it: the gate hands it on to attempt 1, which then reads no event row.
        event,
      });
    }),
  );
}

export type RouteOutcome = { ok: true; dispatches: string[] } | { ok: false; error: unknown };

/**
 * Routes the events of `messages` (one outcome per message, in order). A message whose event cannot be
 * read or admitted fails alone; the others are routed and marked routed together.
 */
export async function routeEvents(env: Env, messages: InboxMessage[], now: () => number): Promise<RouteOutcome[]> {
  const candidatesOf = candidateReader(env);
  const found = await Promise.all(
    messages.map(async (message) => {
      try {
        const f = await eventOf(env, message);
        if (!f) return { ok: true as const, found: null };
        return { ok: true as const, found: f, matched: matchBindings(f.routable, await candidatesOf(f.routable)) };
      } catch (error) {
        return { ok: false as const, error };
      }
    }),
  );
  const bindingIds = found.flatMap((f) => (f.ok && f.matched ? f.matched.map((b) => b.id) : []));
  const controls = bindingIds.length > 0 ? await loadControls(env.DB, bindingIds) : new Map();
  const outcomes = await Promise.all(
    found.map(async (f): Promise<RouteOutcome> => {
      if (!f.ok) return f;
      if (!f.found || !f.matched) return { ok: true, dispatches: [] };
      try {
        await admitAll(env, f.found.event, f.matched, controls);
        return { ok: true, dispatches: f.matched.map((b) => b.bindingKey) };
      } catch (error) {
        return { ok: false, error };
      }
    }),
  );
  const routed = found.flatMap((f, i) => (f.ok && f.found && outcomes[i]?.ok ? [f.found.event.id] : []));
  if (routed.length > 0) await markRouted(env.DB, routed, now());
  return outcomes;
}

export async function consumeInbox(batch: MessageBatch<unknown>, env: Env, now: () => number): Promise<void> {
  const valid: { message: Message<unknown>; body: InboxMessage }[] = [];
  for (const message of batch.messages) {
    const parsed = inboxMessageSchema.safeParse(message.body);
    if (parsed.success) {
      valid.push({ message, body: parsed.data });
      continue;
    }
    console.error(JSON.stringify({ msg: "inbox message rejected", id: message.id, issues: parsed.error.issues }));
    message.ack();
  }
  if (valid.length === 0) return;
  const retry = (message: Message<unknown>, eventId: string, error: unknown) => {
    console.error(JSON.stringify({ msg: "inbox routing failed", event_id: eventId, error: String(error) }));
    message.retry({ delaySeconds: Math.min(60, 2 ** message.attempts) });
  };
  let outcomes: RouteOutcome[];
  try {
    outcomes = await routeEvents(
      env,
      valid.map((v) => v.body),
      now,
    );
  } catch (error) {
    // The shared reads or the routed_at update failed: every message comes back (admits are idempotent).
    for (const v of valid) retry(v.message, v.body.event_id, error);
    return;
  }
  valid.forEach((v, i) => {
    const outcome = outcomes[i];
    if (outcome?.ok) v.message.ack();
    else retry(v.message, v.body.event_id, outcome?.error);
  });
}
