/**
 * Replays (SPEC 13.4, 13.5): a new dispatch of an accepted event to one binding version, with
 * `replay_of_event_id`, every gate applied, and one attempt unless the caller asks for retries.
 */
import { effectiveTier } from "../autonomy/tiers";
import type { BindingSpec } from "../contracts/binding-spec";
import type { BindingVersionRow } from "../db/bindings-repo";
import { loadControls, previousSecretOf } from "../db/bindings-repo";
import { cachedVerdictOf } from "../db/verdicts-repo";
import type { StoredEvent } from "../history/event-store";
import { uuidv7 } from "../lib/ids";
import { eventLogOf, PINNED_EVENT_LOG, partitionSpanMs } from "../lib/partitions";
import { dispatchIdOf } from "./dispatch-id";

export interface ReplayTarget {
  binding_key: string;
  event_id: string;
  replay_of_event_id: string;
}

/** Which version of a binding id a replay uses when none is named: the one that dispatched the
 * event, else the one active when the event was received, else the one active now. Pure. */
export function pickReplayVersion(
  versions: BindingVersionRow[],
  dispatchedVersions: number[],
  receivedAt: string,
): BindingVersionRow | null {
  const recorded = Math.max(-1, ...dispatchedVersions);
  const byRecord = versions.find((v) => v.version === recorded);
  if (byRecord) return byRecord;
  const atReceipt = versions.filter((v) => v.createdAt <= receivedAt).sort((a, b) => b.version - a.version)[0];
  if (atReceipt) return atReceipt;
  return versions.find((v) => v.state === "active") ?? null;
}

export async function replayTo(
  env: Env,
  stored: StoredEvent,
  version: BindingVersionRow,
  options: { retry: boolean; dlqId?: string | null },
): Promise<ReplayTarget> {
  const event = stored.event;
  const control = (await loadControls(env.DB, [version.id])).get(version.id);
  const spec = JSON.parse(version.spec) as BindingSpec;
  const now = Date.now();
  const dispatchId = dispatchIdOf(version.bindingKey, event.id, `r${uuidv7(now)}`);
  // The event names its replays first, so a replay is always found from its event.
  const pointer = { dispatch_id: dispatchId, binding_key: version.bindingKey, at: now };
  const log = eventLogOf(event.id, partitionSpanMs(env)) ?? PINNED_EVENT_LOG;
  if (!(await env.EVENT_LOG.getByName(log).addReplay(event.id, pointer))) {
    await env.EVENT_LOG.getByName(PINNED_EVENT_LOG).addReplay(event.id, pointer);
  }
  await env.BINDING_GATE.getByName(version.bindingKey).admit({
    dispatch_id: dispatchId,
    binding_key: version.bindingKey,
    binding_id: version.id,
    binding_version: version.version,
    event_id: event.id,
    trace_id: event.trace_id,
    tenant_id: event.tenant_id,
    replay_of_event_id: event.id,
    spec,
    signing_secret: control?.signingSecret ?? "",
    previous_signing_secret: control ? previousSecretOf(control) : null,
    paused: control?.paused ?? false,
    ...(options.retry ? {} : { max_attempts: 1 }),
    dlq_id: options.dlqId ?? null,
    autonomy_tier: effectiveTier(spec.autonomy?.tier, control?.tierOverride),
    cached_verdict:
      typeof spec.when === "object" ? await cachedVerdictOf(env.DB, event.id, spec.when.classifier) : null,
    event,
  });
  return { binding_key: version.bindingKey, event_id: event.id, replay_of_event_id: event.id };
}
