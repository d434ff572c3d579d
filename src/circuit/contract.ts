/**
 * RPC shapes of the Destination Durable Object (SPEC 10). Inputs are zod schemas so a caller with a
 * stale or hand-built request fails loudly instead of corrupting a shared circuit; answers are plain
 * types (they are built here, not parsed).
 */
import { z } from "zod";
import type { CheckDecision, CircuitState, ReportDecision } from "./circuit-policy";

const positiveInt = z.int().min(1);
/** Test hook: an explicit clock reading (epoch ms). Production callers leave it out. */
const nowField = z.number().int().min(0).optional();

/** The caller's binding settings; `mode` is accepted (callers pass their whole block) and ignored. */
export const circuitSettingsSchema = z.object({
  threshold: positiveInt,
  cooldown_ms: positiveInt,
  mode: z.enum(["dlq", "hold"]).optional(),
});

/** Names one attempt of one dispatch; `binding_key` addresses its BindingGate. */
const attemptFields = {
  binding_key: z.string().min(1),
  dispatch_id: z.string().min(1),
  attempt: positiveInt,
};

export const checkRequestSchema = z.object({
  ...attemptFields,
  settings: circuitSettingsSchema,
  /** The binding's handler timeout; the probe lease is this plus a grace period. Default 30 s. */
  attempt_timeout_ms: z.int().min(0).optional(),
  /**
   * The caller may skip checks for this long while the circuit is closed with no failure counted;
   * the Destination then tells its gate (`circuitChanged`) the moment that stops being true.
   */
  cache_ms: z.int().min(1).max(60_000).optional(),
  now: nowField,
});
export type CheckRequest = z.input<typeof checkRequestSchema>;

export const reportRequestSchema = z.object({
  ...attemptFields,
  outcome: z.enum(["success", "retryable_failure", "neutral"]),
  /** The attempt's error, quoted in the "circuit opened" text. */
  error: z.string().nullish(),
  settings: circuitSettingsSchema,
  now: nowField,
});
export type ReportRequest = z.input<typeof reportRequestSchema>;

export const parkRequestSchema = z.object({
  ...attemptFields,
  /** The binding's handler timeout, used for the probe lease if this dispatch is released as the probe. */
  attempt_timeout_ms: z.int().min(0).optional(),
  now: nowField,
});
export type ParkRequest = z.input<typeof parkRequestSchema>;

export const unparkRequestSchema = z.object({ dispatch_id: z.string().min(1) });
export type UnparkRequest = z.input<typeof unparkRequestSchema>;

export const abandonRequestSchema = z.object({ dispatch_id: z.string().min(1), attempt: positiveInt, now: nowField });
export type AbandonRequest = z.input<typeof abandonRequestSchema>;

export const transitionsRequestSchema = z.object({
  after: z.int().min(0).default(0),
  limit: z.int().min(1).max(500).default(100),
});
export type TransitionsRequest = z.input<typeof transitionsRequestSchema>;

export type CheckAnswer = CheckDecision & {
  destination: string;
  /** Set when `cache_ms` was asked for and granted: the circuit is closed with no failure counted. */
  clean_for_ms?: number;
};
export type ReportAnswer = ReportDecision & { destination: string };

export type ParkAnswer =
  /** Parked: the Destination calls the gate's `releaseParked(dispatch_id, attempt)` later, in order. */
  | { parked: true; state: "open" | "half_open"; position: number }
  /** The circuit is closed (again): run the attempt now instead. */
  | { parked: false; state: "closed" };

/** One item of `GET /v1/circuits` (SPEC 19); times are RFC 3339 or null. */
export interface CircuitItem {
  destination: string;
  state: CircuitState;
  failures: number;
  opened_at: string | null;
  next_probe_at: string | null;
}

export interface TransitionItem {
  seq: number;
  from: CircuitState;
  to: CircuitState;
  reason: string;
  failures: number;
  binding_key: string | null;
  error: string | null;
  at: string;
}

export interface CircuitStats {
  item: CircuitItem;
  /** Dispatches parked by mode `hold`, waiting for a successful probe. */
  parked: number;
  probe: { ref: string; until: string } | null;
  /** Cumulative transition counters (never pruned): Prometheus counters across isolates. */
  transitions_total: { from: CircuitState; to: CircuitState; count: number }[];
}
