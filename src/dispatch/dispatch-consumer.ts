/**
 * Dispatch queue consumer: runs one attempt per message. The BindingGate grants each
 * (dispatch, attempt) once, so redelivered messages are acknowledged without a second call.
 */

import { type CircuitState, circuitOutcomeOf, reportChangesCircuit } from "../circuit/circuit-policy";
import type { TriggerEvent } from "../contracts/events";
import { type DispatchMessage, dispatchMessageSchema } from "../contracts/messages";
import { eventFromRow, getEventRow } from "../db/events-repo";
import { invokeHandler } from "../handlers/invoke";

type Circuit = NonNullable<DispatchMessage["circuit"]>;

/**
 * The event an attempt delivers (`carried` when the message brought it); a batch leader carries every
 * member as `event.batch` (SPEC 9.1).
 */
async function loadEvent(
  env: Env,
  eventId: string,
  batchIds: string[] | null,
  carried: TriggerEvent | undefined,
): Promise<TriggerEvent | null> {
  let event: TriggerEvent;
  if (carried?.id === eventId) {
    event = carried;
  } else {
    const row = await getEventRow(env.DB, eventId);
    if (!row) return null;
    event = eventFromRow(row);
  }
  if (!batchIds || batchIds.length === 0) return event;
  const members = await Promise.all(
    batchIds.map(async (id) => {
      if (id === eventId) return event;
      const member = await getEventRow(env.DB, id);
      return member ? eventFromRow(member) : null;
    }),
  );
  return { ...event, batch: members.filter((m): m is TriggerEvent => m !== null) };
}

/**
 * SPEC 10 before an attempt: ask the destination's circuit. Refused attempts go back to the gate
 * (dead-lettered or parked per mode) and never start. Returns whether this attempt is the probe.
 */
type CircuitGate =
  | { allowed: true; probe: boolean; state: CircuitState; failures: number }
  | { allowed: false; probe: false };

async function checkCircuit(env: Env, message: DispatchMessage, circuit: Circuit): Promise<CircuitGate> {
  const destination = env.DESTINATION.getByName(circuit.destination);
  const ref = { binding_key: message.binding_key, dispatch_id: message.dispatch_id, attempt: message.attempt };
  const check = await destination.check({ ...ref, settings: circuit, attempt_timeout_ms: circuit.timeout_ms });
  if (check.allow) return { allowed: true, probe: check.probe, state: check.state, failures: check.failures };
  const gate = env.BINDING_GATE.getByName(message.binding_key);
  const refused = await gate.circuitRefused(message.dispatch_id, message.attempt, {
    mode: circuit.mode,
    error: check.error,
  });
  if (refused.action === "parked") {
    const parked = await destination.park({ ...ref, attempt_timeout_ms: circuit.timeout_ms });
    // The circuit closed meanwhile: run it now.
    if (!parked.parked) await gate.releaseParked(message.dispatch_id, message.attempt);
  }
  return { allowed: false, probe: false };
}

/** Aborts `abort` when the gate's cancel signal yields; returns a stop function for when the call ends. */
function watchCancel(signal: ReadableStream<Uint8Array>, abort: AbortController): () => void {
  const reader = signal.getReader();
  reader
    .read()
    .then(({ done }) => {
      if (!done) abort.abort(new Error("cancelled"));
    })
    .catch(() => {});
  return () => {
    reader.cancel().catch(() => {});
  };
}

export async function runAttempt(env: Env, message: DispatchMessage, now: () => number): Promise<string> {
  const stub = env.BINDING_GATE.getByName(message.binding_key);
  const circuit = message.circuit;
  const gateOpen: CircuitGate = circuit
    ? await checkCircuit(env, message, circuit)
    : { allowed: true, probe: false, state: "closed", failures: 0 };
  if (!gateOpen.allowed) return "circuit_open";
  const begin = await stub.beginAttempt(message.dispatch_id, message.attempt);
  if (!begin.proceed) {
    // A probe permit nobody will use goes back (a duplicate still runs under the same probe).
    if (circuit && gateOpen.probe && begin.reason !== "duplicate") {
      await env.DESTINATION.getByName(circuit.destination)
        .abandon({ dispatch_id: message.dispatch_id, attempt: message.attempt })
        .catch(() => {});
    }
    return begin.reason;
  }
  // A cancel request for this attempt aborts the handler call in flight (SPEC 13.1).
  const abort = new AbortController();
  const stopWatching = watchCancel(begin.cancel, abort);
  const event = await loadEvent(env, begin.context.event_id, begin.context.batch_event_ids ?? null, message.event);
  const result = event
    ? await invokeHandler({ env, now, signal: abort.signal }, begin.context, event)
    : ({ kind: "invalid", error: `event ${begin.context.event_id} not found` } as const);
  const timing = { started_at: begin.started_at, completed_at: now() };
  stopWatching();
  let opened: { opened: boolean; error: string | null } | undefined;
  const outcome = circuitOutcomeOf(result, abort.signal.aborted);
  if (circuit && gateOpen.allowed && reportChangesCircuit(gateOpen, outcome)) {
    try {
      const report = await env.DESTINATION.getByName(circuit.destination).report({
        binding_key: message.binding_key,
        dispatch_id: message.dispatch_id,
        attempt: message.attempt,
        outcome,
        ...("error" in result ? { error: result.error } : {}),
        settings: circuit,
      });
      opened = { opened: report.opened, error: report.error ?? null };
    } catch (error) {
      // The breaker is advisory for this attempt's outcome; the attempt itself is recorded regardless.
      console.error(
        JSON.stringify({ msg: "circuit report failed", destination: circuit.destination, error: String(error) }),
      );
    }
  }
  // The result must reach the gate; a failure here leaves the lease timer to settle the attempt.
  for (let i = 0; ; i++) {
    try {
      await stub.completeAttempt(message.dispatch_id, message.attempt, result, timing, opened);
      return result.kind;
    } catch (error) {
      if (i >= 2) throw error;
      await new Promise((r) => setTimeout(r, 50 * 2 ** i));
    }
  }
}

export async function consumeDispatch(batch: MessageBatch<unknown>, env: Env, now: () => number): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = dispatchMessageSchema.safeParse(message.body);
      if (!parsed.success) {
        console.error(
          JSON.stringify({ msg: "dispatch message rejected", id: message.id, issues: parsed.error.issues }),
        );
        message.ack();
        return;
      }
      try {
        await runAttempt(env, parsed.data, now);
        message.ack();
      } catch (error) {
        console.error(JSON.stringify({ msg: "attempt failed to run", ...parsed.data, error: String(error) }));
        message.retry({ delaySeconds: Math.min(60, 2 ** message.attempts) });
      }
    }),
  );
}
