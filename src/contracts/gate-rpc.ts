/**
 * What callers of the BindingGate Durable Object send and get back (SPEC 6, 13). Shared by the
 * EventLog (routing), replay, the dispatch routes and the gate itself.
 */
import type { Tier } from "../autonomy/tiers";
import type { BindingSpec } from "./binding-spec";
import type { DispatchStatus } from "./dispatch";
import type { DispatchDoc, DispatchKey } from "./dispatch-doc";
import type { TriggerEvent } from "./events";

export interface PreviousSigningSecret {
  secret: string;
  until: number;
}

/** The secrets to sign with at `now`: the current one, and the previous one while its overlap lasts. */
export function signingSecretsAt(current: string, previous: PreviousSigningSecret | null, now: number): string[] {
  return [
    current,
    ...(previous && now < previous.until && previous.secret !== current ? [previous.secret] : []),
  ].filter((s) => s !== "");
}

export interface AdmitRequest extends DispatchKey {
  spec: BindingSpec;
  signing_secret: string;
  /** The secret a rotation replaced, signed with too until `until` (epoch ms; SPEC 12.1). */
  previous_signing_secret?: PreviousSigningSecret | null;
  paused: boolean;
  /** The event: stages evaluate CEL over it and attempt 1 delivers it. */
  event: TriggerEvent;
  /** Manual replays run one attempt unless asked to retry. */
  max_attempts?: number;
  /** A DLQ replay resolves this entry when it succeeds. */
  dlq_id?: string | null;
  /** The binding's effective autonomy tier (spec tier or the latest trust promote/demote). */
  autonomy_tier?: Tier;
  /** A classifier verdict already reached for this event (replays reuse it at no cost). */
  cached_verdict?: { pass: boolean; reason: string | null } | null;
  /**
   * Sent again by a restarted EventLog: the dispatch may already have finished and left the gate,
   * so the gate looks in its History before creating it.
   */
  recovering?: boolean;
}

export type AdmitAnswer = { status: DispatchStatus; created: boolean };

export type CancelAnswer =
  | { state: "unknown" }
  | { state: "terminal"; status: DispatchStatus }
  | { state: "cancelled"; status: "cancelled" }
  | { state: "cancel_requested"; status: DispatchStatus };

export type CompleteAnswer =
  | { state: "unknown" }
  | { state: "not_waiting"; status: DispatchStatus }
  | { state: "completed"; status: "succeeded" | "failed" };

export type ApprovalAnswer =
  | { state: "unknown" }
  | { state: "not_pending"; status: DispatchStatus }
  | { state: "decided"; status: DispatchStatus };

/** Dispatches the gate still holds (live, or finished and not yet in its History partition). */
export type HeldDispatches = DispatchDoc[];
