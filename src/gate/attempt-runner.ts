/**
 * One handler attempt as the BindingGate runs it (SPEC 6 step 7, 10, 12): the destination circuit
 * before it, the event it delivers (carried, or read from its EventLog; a batch leader's members as
 * `event.batch`), the handler call with its cancel signal, and the circuit report after it. The
 * gate's state machine decides what the result means.
 */
import { type CircuitState, circuitOutcomeOf, reportChangesCircuit } from "../circuit/circuit-policy";
import type { CheckAnswer } from "../circuit/contract";
import type { HandlerResult } from "../contracts/dispatch";
import type { TriggerEvent } from "../contracts/events";
import type { AttemptContext } from "../handlers/envelope";
import { invokeHandler } from "../handlers/invoke";
import { loadStoredEvents } from "../history/event-reader";

export interface CircuitRef {
  destination: string;
  threshold: number;
  cooldown_ms: number;
  mode: "dlq" | "hold";
  timeout_ms: number;
}

export interface AttemptRef {
  binding_key: string;
  dispatch_id: string;
  attempt: number;
}

/**
 * How long a gate skips `Destination.check` after one found the circuit closed with no failure
 * counted. The Destination tells the gate at once when that changes (a failure counted, the circuit
 * opened), so the window only bounds how long a lost notice could matter.
 */
export const CLEAN_CIRCUIT_CACHE_MS = 5_000;

/** The circuit's answer before an attempt; refused attempts never start. */
export async function checkCircuit(env: Env, circuit: CircuitRef, ref: AttemptRef): Promise<CheckAnswer> {
  return env.DESTINATION.getByName(circuit.destination).check({
    ...ref,
    settings: circuit,
    attempt_timeout_ms: circuit.timeout_ms,
    cache_ms: CLEAN_CIRCUIT_CACHE_MS,
  });
}

/** The event an attempt delivers, with `batch` for a batch leader; null when it cannot be read. */
export async function attemptEvent(
  env: Env,
  eventId: string,
  batchIds: readonly string[] | null,
  carried: TriggerEvent | null,
): Promise<TriggerEvent | null> {
  const wanted = [...(carried?.id === eventId ? [] : [eventId]), ...(batchIds ?? []).filter((id) => id !== eventId)];
  const found = wanted.length > 0 ? await loadStoredEvents(env, wanted) : new Map();
  const event = carried?.id === eventId ? carried : (found.get(eventId)?.event ?? null);
  if (!event) return null;
  if (!batchIds || batchIds.length === 0) return event;
  const members = batchIds.map((id) => (id === eventId ? event : (found.get(id)?.event ?? null)));
  return { ...event, batch: members.filter((m): m is TriggerEvent => m !== null) };
}

export async function callHandler(
  env: Env,
  ctx: AttemptContext,
  event: TriggerEvent | null,
  signal: AbortSignal,
): Promise<HandlerResult> {
  if (!event) return { kind: "invalid", error: `event ${ctx.event_id} not found` };
  return invokeHandler({ env, now: () => Date.now(), signal }, ctx, event);
}

/**
 * Reports the attempt's outcome when it can change the circuit (SPEC 10). Returns the "opened" text
 * when this failure opened it.
 */
export async function reportCircuit(
  env: Env,
  circuit: CircuitRef,
  ref: AttemptRef,
  allowed: { probe: boolean; state: CircuitState; failures: number },
  result: HandlerResult,
  aborted: boolean,
): Promise<string | null> {
  const outcome = circuitOutcomeOf(result, aborted);
  if (!reportChangesCircuit(allowed, outcome)) return null;
  try {
    const report = await env.DESTINATION.getByName(circuit.destination).report({
      ...ref,
      outcome,
      ...("error" in result ? { error: result.error } : {}),
      settings: circuit,
    });
    return report.opened ? (report.error ?? null) : null;
  } catch (error) {
    // The breaker is advisory for this attempt's outcome; the attempt itself is recorded regardless.
    console.error(
      JSON.stringify({ msg: "circuit report failed", destination: circuit.destination, error: String(error) }),
    );
    return null;
  }
}
