/**
 * Dispatch queue consumer: runs one attempt per message. The BindingGate grants each
 * (dispatch, attempt) once, so redelivered messages are acknowledged without a second call.
 */
import { type DispatchMessage, dispatchMessageSchema } from "../contracts/messages";
import { eventFromRow, getEventRow } from "../db/events-repo";
import { invokeHandler } from "../handlers/invoke";

export async function runAttempt(env: Env, message: DispatchMessage, now: () => number): Promise<string> {
  const stub = env.BINDING_GATE.getByName(message.binding_key);
  const begin = await stub.beginAttempt(message.dispatch_id, message.attempt);
  if (!begin.proceed) return begin.reason;
  // A cancel request for this attempt aborts the handler call in flight (SPEC 13.1).
  const abort = new AbortController();
  stub
    .watchCancel(message.dispatch_id, message.attempt)
    .then((signal) => {
      if (signal === "cancelled") abort.abort(new Error("cancelled"));
    })
    .catch(() => {});
  const row = await getEventRow(env.DB, begin.context.event_id);
  const result = row
    ? await invokeHandler({ env, now, signal: abort.signal }, begin.context, eventFromRow(row))
    : ({ kind: "invalid", error: `event ${begin.context.event_id} not found` } as const);
  const timing = { started_at: begin.started_at, completed_at: now() };
  // The result must reach the gate; a failure here leaves the lease timer to settle the attempt.
  for (let i = 0; ; i++) {
    try {
      await stub.completeAttempt(message.dispatch_id, message.attempt, result, timing);
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
