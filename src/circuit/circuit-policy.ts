/**
 * Pure core of the destination circuit breaker (SPEC 10, SPEC 18 item 3). Every function takes the
 * stored circuit and an injected `now` and returns the next circuit, the state transitions it made
 * (for the transitions log and metrics) and an answer; the Destination DO only loads and stores.
 *
 * - closed → open after `threshold` consecutive retryable failures; open for `cooldown_ms`.
 * - open → half_open lazily: the first look at the circuit after the cooldown makes the transition.
 * - half_open admits one probe at a time, identified by its attempt ref (`<dispatch_id>#<attempt>`),
 *   so a redelivered check of the same attempt gets the same probe back. Other checks are treated as
 *   open. The probe holds a lease (attempt timeout + grace); past it, another probe may be admitted,
 *   so a probe whose runner died never wedges the circuit.
 * - The probe's success closes (failures 0); its failure re-opens for a full cooldown. A success at
 *   any time closes and resets. `neutral` (non-retryable) outcomes neither count nor reset; a neutral
 *   probe only frees the probe slot.
 * - Retryable failures while open, or from a non-probe while half_open (stragglers that started before
 *   the circuit opened, a probe whose lease already passed to another), change nothing.
 *
 * Shared circuit, per-binding settings: every check and report carries the caller's binding settings.
 * The failure counter is shared; a failure trips the circuit when the count reaches the threshold of
 * the binding that reports it, and the circuit stays open for the cooldown of that (tripping or
 * re-opening) report. Checks never change the cooldown of an open circuit. `mode` (dlq | hold) only
 * decides what the caller does with a refusal, so it is not part of the circuit at all.
 */
import type { CircuitSpec } from "../contracts/binding-spec";
import type { HandlerResult } from "../contracts/dispatch";

export type CircuitState = "closed" | "open" | "half_open";
export type CircuitMode = "dlq" | "hold";

/** One binding's circuit settings (SPEC 5.1 `circuit`, defaults applied). */
export interface CircuitSettings {
  threshold: number;
  cooldown_ms: number;
}

export const DEFAULT_CIRCUIT: Readonly<CircuitSettings & { mode: CircuitMode }> = {
  threshold: 5,
  cooldown_ms: 60_000,
  mode: "dlq",
};

/** Extra time past the attempt timeout before an unreported probe lets another probe in. */
export const PROBE_LEASE_GRACE_MS = 30_000;

/** A binding's settings with SPEC 10 defaults for a spec without a `circuit` block. */
export function circuitSettingsOf(spec: CircuitSpec | undefined): CircuitSettings & { mode: CircuitMode } {
  return spec ? { threshold: spec.threshold, cooldown_ms: spec.cooldown_ms, mode: spec.mode } : { ...DEFAULT_CIRCUIT };
}

/** Lease of a probe started with the given attempt timeout. */
export function probeLeaseMs(attemptTimeoutMs: number): number {
  return Math.max(0, attemptTimeoutMs) + PROBE_LEASE_GRACE_MS;
}

export interface Probe {
  /** `<dispatch_id>#<attempt>` of the attempt that holds the probe slot. */
  ref: string;
  /** Lease end (epoch ms): past it, another attempt may become the probe. */
  until: number;
}

/** The stored circuit. `state` is what was last written; `advanceCircuit` applies the lazy cooldown. */
export interface Circuit {
  state: CircuitState;
  /** Consecutive retryable failures (0 after any success). */
  failures: number;
  /** When the circuit last opened (epoch ms); null while closed. */
  opened_at: number | null;
  /** End of the current cooldown (epoch ms); null while closed. */
  next_probe_at: number | null;
  /** The admitted probe; only while half_open. */
  probe: Probe | null;
}

export const CLOSED_CIRCUIT: Readonly<Circuit> = {
  state: "closed",
  failures: 0,
  opened_at: null,
  next_probe_at: null,
  probe: null,
};

export type TransitionReason = "threshold" | "cooldown_elapsed" | "probe_failed" | "probe_succeeded" | "success";

export interface Transition {
  from: CircuitState;
  to: CircuitState;
  reason: TransitionReason;
  /** The failure count after the transition's cause (the count that tripped it, 0 on close). */
  failures: number;
  at: number;
}

export interface Step<A> {
  circuit: Circuit;
  transitions: Transition[];
  answer: A;
}

/** The ref that names one attempt of one dispatch (dispatch ids are unique across bindings). */
export function attemptRef(dispatchId: string, attempt: number): string {
  return `${dispatchId}#${attempt}`;
}

/** Whole seconds until `untilMs`, at least 1 (SPEC 10 `retry after <s>s`). */
export function retryAfterSeconds(untilMs: number, now: number): number {
  return Math.max(1, Math.ceil((untilMs - now) / 1000));
}

/** SPEC 10 error texts. */
export const circuitErrors = {
  opened: (destination: string, failures: number, error: string) =>
    `destination circuit opened for ${destination} after ${failures} consecutive failures: ${error}`,
  open: (destination: string, retryAfterS: number) =>
    `destination circuit open for ${destination}; retry after ${retryAfterS}s`,
};

/** Applies the lazy open → half_open transition once the cooldown has passed. */
export function advanceCircuit(c: Circuit, now: number): Step<null> {
  if (c.state === "open" && c.next_probe_at !== null && now >= c.next_probe_at) {
    return {
      circuit: { ...c, state: "half_open", probe: null },
      transitions: [{ from: "open", to: "half_open", reason: "cooldown_elapsed", failures: c.failures, at: now }],
      answer: null,
    };
  }
  return { circuit: c, transitions: [], answer: null };
}

export type CheckDecision =
  | {
      allow: true;
      probe: boolean;
      state: CircuitState;
      /** Consecutive failures counted when the attempt was allowed (see `reportChangesCircuit`). */
      failures: number;
    }
  | { allow: false; state: "open" | "half_open"; retry_after_s: number; error: string };

export interface CheckInput {
  destination: string;
  /** `attemptRef(dispatch_id, attempt)` of the attempt about to run. */
  ref: string;
  now: number;
  /** Lease granted if this check becomes the probe (see `probeLeaseMs`). */
  probe_lease_ms: number;
}

/**
 * May the attempt `ref` call the destination now? Closed: yes. Open: no. Half-open: yes as the probe
 * when the probe slot is free, its lease has passed, or `ref` already holds it (the lease restarts);
 * otherwise no, with the time left on the running probe's lease as the retry hint.
 */
export function decideCheck(stored: Circuit, input: CheckInput): Step<CheckDecision> {
  const { circuit: c, transitions } = advanceCircuit(stored, input.now);
  const refuse = (state: "open" | "half_open", until: number): Step<CheckDecision> => {
    const retry_after_s = retryAfterSeconds(until, input.now);
    return {
      circuit: c,
      transitions,
      answer: { allow: false, state, retry_after_s, error: circuitErrors.open(input.destination, retry_after_s) },
    };
  };
  if (c.state === "closed") {
    return { circuit: c, transitions, answer: { allow: true, probe: false, state: "closed", failures: c.failures } };
  }
  if (c.state === "open") return refuse("open", c.next_probe_at ?? input.now);
  const probe = c.probe;
  if (probe && probe.ref !== input.ref && probe.until > input.now) return refuse("half_open", probe.until);
  return {
    circuit: { ...c, probe: { ref: input.ref, until: input.now + input.probe_lease_ms } },
    transitions,
    answer: { allow: true, probe: true, state: "half_open", failures: c.failures },
  };
}

export type ReportOutcome = "success" | "retryable_failure" | "neutral";

export interface ReportInput {
  destination: string;
  ref: string;
  outcome: ReportOutcome;
  /** The attempt's error; quoted in the "opened" text. */
  error?: string | null;
  settings: CircuitSettings;
  now: number;
}

export interface ReportDecision {
  /** This report opened (or re-opened) the circuit: SPEC 10 sends the dispatch to `dlq` with `error`. */
  opened: boolean;
  error: string | null;
  /** The report came from the current probe. */
  probe: boolean;
  state: CircuitState;
  failures: number;
}

/** Applies one attempt's outcome to the circuit. */
export function applyReport(stored: Circuit, input: ReportInput): Step<ReportDecision> {
  const { circuit: c, transitions } = advanceCircuit(stored, input.now);
  const isProbe = c.state === "half_open" && c.probe?.ref === input.ref;
  const answer = (next: Circuit, opened: string | null): ReportDecision => ({
    opened: opened !== null,
    error: opened,
    probe: isProbe,
    state: next.state,
    failures: next.failures,
  });

  if (input.outcome === "success") {
    if (c.state === "closed") {
      const next = c.failures === 0 ? c : { ...c, failures: 0 };
      return { circuit: next, transitions, answer: answer(next, null) };
    }
    const next: Circuit = { ...CLOSED_CIRCUIT };
    const reason: TransitionReason = isProbe ? "probe_succeeded" : "success";
    return {
      circuit: next,
      transitions: [...transitions, { from: c.state, to: "closed", reason, failures: 0, at: input.now }],
      answer: answer(next, null),
    };
  }

  if (input.outcome === "neutral") {
    const next = isProbe ? { ...c, probe: null } : c;
    return { circuit: next, transitions, answer: answer(next, null) };
  }

  // retryable_failure
  const reopen = (reason: TransitionReason): Step<ReportDecision> => {
    const failures = c.failures + 1;
    const next: Circuit = {
      state: "open",
      failures,
      opened_at: input.now,
      next_probe_at: input.now + input.settings.cooldown_ms,
      probe: null,
    };
    const error = circuitErrors.opened(input.destination, failures, input.error || "retryable failure");
    return {
      circuit: next,
      transitions: [...transitions, { from: c.state, to: "open", reason, failures, at: input.now }],
      answer: answer(next, error),
    };
  };
  if (c.state === "closed") {
    if (c.failures + 1 >= input.settings.threshold) return reopen("threshold");
    const next = { ...c, failures: c.failures + 1 };
    return { circuit: next, transitions, answer: answer(next, null) };
  }
  if (isProbe) return reopen("probe_failed");
  return { circuit: c, transitions, answer: answer(c, null) };
}

/**
 * Whether an attempt's outcome must be reported to the circuit. A success of a non-probe attempt
 * allowed through a closed circuit with no failures, and a neutral outcome of a non-probe attempt,
 * leave the circuit as it was, so the caller saves the Destination request. (A failure reported by a
 * concurrent attempt in between is then reset by the next reported success rather than this one.)
 */
export function reportChangesCircuit(
  allowed: { probe: boolean; state: CircuitState; failures: number },
  outcome: ReportOutcome,
): boolean {
  if (allowed.probe || outcome === "retryable_failure") return true;
  if (outcome === "neutral") return false;
  return allowed.state !== "closed" || allowed.failures > 0;
}

/** Gives the probe slot back when the attempt `ref` will not run after all. */
export function abandonProbe(stored: Circuit, ref: string, now: number): Step<{ released: boolean }> {
  const { circuit: c, transitions } = advanceCircuit(stored, now);
  if (c.state !== "half_open" || c.probe?.ref !== ref) return { circuit: c, transitions, answer: { released: false } };
  return { circuit: { ...c, probe: null }, transitions, answer: { released: true } };
}

/** The circuit as `GET /v1/circuits` shows it (epoch ms; the route formats them). */
export interface CircuitView {
  state: CircuitState;
  failures: number;
  opened_at: number | null;
  /**
   * open: when the cooldown ends; half_open: when a probe may next be admitted (now when the slot
   * is free, the lease end of the running probe otherwise); closed: null.
   */
  next_probe_at: number | null;
}

export function viewCircuit(stored: Circuit, now: number): CircuitView {
  const { circuit: c } = advanceCircuit(stored, now);
  let nextProbeAt = c.next_probe_at;
  if (c.state === "half_open") nextProbeAt = c.probe && c.probe.until > now ? c.probe.until : now;
  return { state: c.state, failures: c.failures, opened_at: c.opened_at, next_probe_at: nextProbeAt };
}

/**
 * When the Destination should next look at its parked dispatches (mode hold), or null when nothing
 * is parked. `earliestRelease` is the earliest time a parked row may be handed back (release backoff).
 */
export function nextWakeAt(stored: Circuit, now: number, parked: number, earliestRelease: number): number | null {
  if (parked === 0) return null;
  const { circuit: c } = advanceCircuit(stored, now);
  const due = Math.max(now, earliestRelease);
  if (c.state === "open") return Math.max(due, c.next_probe_at ?? now);
  if (c.state === "half_open" && c.probe && c.probe.until > now) return Math.max(due, c.probe.until);
  return due;
}

/**
 * The circuit outcome of one handler result (SPEC 10, SPEC 11): success closes, retryable errors
 * count, everything else (waiting, denied, invalid, an attempt aborted by a cancel request) is
 * neutral. `aborted` is true when the runner aborted the call itself (cancel), which says nothing
 * about the destination.
 */
export function circuitOutcomeOf(result: HandlerResult, aborted = false): ReportOutcome {
  if (result.kind === "success") return "success";
  if (result.kind !== "retryable" || aborted) return "neutral";
  // Not the destination's doing: the breaker itself, or a runner that died (lease expiry).
  if (result.cause.kind === "circuit_open" || result.cause.kind === "lease_expired") return "neutral";
  return "retryable_failure";
}
