/**
 * Replays (SPEC 13.4, 13.5): a new dispatch of an accepted event to one binding version, with
 * `replay_of_event_id`, every gate applied, and one attempt unless the caller asks for retries.
 */
import { effectiveTier } from "../autonomy/tiers";
import type { BindingSpec } from "../contracts/binding-spec";
import type { BindingVersionRow } from "../db/bindings-repo";
import { loadControls } from "../db/bindings-repo";
import { type EventRow, eventFromRow } from "../db/events-repo";
import { cachedVerdictOf } from "../db/verdicts-repo";
import { uuidv7 } from "../lib/ids";
import { dispatchIdOf, stagesNeedEvent } from "./dispatch-id";

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
  event: EventRow,
  version: BindingVersionRow,
  options: { retry: boolean; dlqId?: string | null },
): Promise<ReplayTarget> {
  const control = (await loadControls(env.DB, [version.id])).get(version.id);
  const stub = env.BINDING_GATE.getByName(version.bindingKey);
  const spec = JSON.parse(version.spec) as BindingSpec;
  await stub.admit({
    dispatch_id: dispatchIdOf(version.bindingKey, event.id, `r${uuidv7()}`),
    binding_key: version.bindingKey,
    binding_id: version.id,
    binding_version: version.version,
    event_id: event.id,
    trace_id: event.traceId,
    tenant_id: event.tenantId,
    replay_of_event_id: event.id,
    spec,
    signing_secret: control?.signingSecret ?? "",
    paused: control?.paused ?? false,
    ...(options.retry ? {} : { max_attempts: 1 }),
    dlq_id: options.dlqId ?? null,
    autonomy_tier: effectiveTier(spec.autonomy?.tier, control?.tierOverride),
    cached_verdict:
      typeof spec.when === "object" ? await cachedVerdictOf(env.DB, event.id, spec.when.classifier) : null,
    ...(stagesNeedEvent(spec) ? { event: eventFromRow(event) } : {}),
  });
  return { binding_key: version.bindingKey, event_id: event.id, replay_of_event_id: event.id };
}
