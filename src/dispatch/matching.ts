/** SPEC 5.3 / 4.7: which binding versions an event dispatches to. Pure. */
import type { BindingSpec } from "../contracts/binding-spec";

export interface CandidateBinding {
  bindingKey: string;
  id: string;
  version: number;
  state: "active" | "draining" | "terminated";
  spec: BindingSpec;
}

export interface RoutableEvent {
  provider: string;
  kind: string;
  tenant_id: string | null;
  payload: unknown;
  target: { binding_id: string; version: number | null } | null;
}

/** The binding id an event is aimed at: an explicit `target`, or a cron tick's `cron_id`. */
export function targetOf(event: RoutableEvent): { binding_id: string; version: number | null } | null {
  if (event.target) return event.target;
  if (event.provider === "cron" && typeof event.payload === "object" && event.payload !== null) {
    const cronId = (event.payload as Record<string, unknown>).cron_id;
    if (typeof cronId === "string" && cronId.length > 0) return { binding_id: cronId, version: null };
  }
  return null;
}

/** A tenant-scoped binding only ever sees its own tenant's events, targeted or not (SPEC 5.3, 16). */
function tenantAllows(binding: CandidateBinding, event: RoutableEvent): boolean {
  return binding.spec.tenant_id == null || binding.spec.tenant_id === event.tenant_id;
}

/**
 * Returns the matching versions in listing order (binding id, then version). A targeted event (explicit
 * `target` or cron `cron_id`) reaches only that binding — its active version, or the named version unless
 * terminated — and skips the provider and event-kind filters; tenant isolation still applies.
 */
export function matchBindings(event: RoutableEvent, candidates: readonly CandidateBinding[]): CandidateBinding[] {
  const target = targetOf(event);
  const matched = target
    ? candidates.filter(
        (b) =>
          b.id === target.binding_id &&
          tenantAllows(b, event) &&
          (target.version === null ? b.state === "active" : b.version === target.version && b.state !== "terminated"),
      )
    : candidates.filter(
        (b) =>
          b.state === "active" &&
          b.spec.provider === event.provider &&
          tenantAllows(b, event) &&
          (b.spec.events.length === 0 || b.spec.events.includes(event.kind)),
      );
  return matched.sort((a, b) => (a.id === b.id ? a.version - b.version : a.id < b.id ? -1 : 1));
}
