/**
 * The binding versions an EventLog routes to, cached in the object (SPEC 5.3). Reading them from D1
 * for every event would cost a statement per event; instead the table is loaded once, reloaded in
 * the background after `ttlMs`, and dropped at once when the binding service says something changed
 * (`notifyRoutingChanged`), so a binding created before an event is accepted always sees it.
 */
import { effectiveTier } from "../autonomy/tiers";
import type { TriggerEvent } from "../contracts/events";
import type { AdmitRequest, PreviousSigningSecret } from "../contracts/gate-rpc";
import type { Clock } from "../lib/time";
import { dispatchIdOf } from "./dispatch-id";
import { type CandidateBinding, matchBindings, type RoutableEvent } from "./matching";

export interface BindingControl {
  paused: boolean;
  signing_secret: string;
  previous_signing_secret: PreviousSigningSecret | null;
  tier_override: string | null;
}

export interface RoutingTable {
  /** Every version that is not terminated. */
  candidates: CandidateBinding[];
  controls: Map<string, BindingControl>;
}

export class RoutingCache {
  private table: RoutingTable | null = null;
  private loadedAt = 0;
  private loading: Promise<RoutingTable> | null = null;
  private generation = 0;

  constructor(
    private readonly load: () => Promise<RoutingTable>,
    private readonly clock: Clock,
    private readonly ttlMs = 30_000,
  ) {}

  async get(): Promise<RoutingTable> {
    if (this.table) {
      if (this.clock() - this.loadedAt > this.ttlMs) void this.refresh().catch(() => {});
      return this.table;
    }
    return this.refresh();
  }

  invalidate(): void {
    this.table = null;
    this.loading = null;
    this.generation++;
  }

  private refresh(): Promise<RoutingTable> {
    if (!this.loading) {
      const generation = this.generation;
      const started = this.clock();
      this.loading = this.load()
        .then((table) => {
          // A change announced while this load ran makes it stale: keep it out.
          if (generation === this.generation) {
            this.table = table;
            this.loadedAt = started;
          }
          return table;
        })
        .finally(() => {
          if (generation === this.generation) this.loading = null;
        });
    }
    return this.loading;
  }
}

export function routableOf(event: TriggerEvent, target: RoutableEvent["target"]): RoutableEvent {
  return { provider: event.provider, kind: event.kind, tenant_id: event.tenant_id, payload: event.payload, target };
}

/** The matching versions of `event`, in listing order. */
export function routesOf(
  table: RoutingTable,
  event: TriggerEvent,
  target: RoutableEvent["target"],
): CandidateBinding[] {
  return matchBindings(routableOf(event, target), table.candidates);
}

/** The admit request of an original dispatch of `event` to `binding`. */
export function admitRequestOf(
  event: TriggerEvent,
  binding: CandidateBinding,
  control: BindingControl | undefined,
  recovering = false,
): AdmitRequest {
  return {
    dispatch_id: dispatchIdOf(binding.bindingKey, event.id),
    binding_key: binding.bindingKey,
    binding_id: binding.id,
    binding_version: binding.version,
    event_id: event.id,
    trace_id: event.trace_id,
    tenant_id: event.tenant_id,
    replay_of_event_id: null,
    spec: binding.spec,
    signing_secret: control?.signing_secret ?? "",
    previous_signing_secret: control?.previous_signing_secret ?? null,
    paused: control?.paused ?? false,
    autonomy_tier: effectiveTier(binding.spec.autonomy?.tier, control?.tier_override),
    event,
    ...(recovering ? { recovering: true } : {}),
  };
}
