/**
 * The durable half of intake shared by `/hooks/:source` and `POST /v1/events`: the atomic accept
 * in D1, then the inbox message. 202 is only answered once both are durable.
 */
import type { InboxMessage } from "../contracts/messages";
import { type AcceptOutcome, acceptEvent, type NewEvent } from "../db/events-repo";
import { AppError } from "../lib/errors";
import { API_SOURCE, countIntake } from "../observability/intake-counters";
import { inboxMessageFor } from "./inbox-message";

export async function acceptAndEnqueue(env: Env, input: NewEvent, now: number): Promise<AcceptOutcome> {
  const outcome = await acceptEvent(env.DB, input, now);
  if (outcome.status === "duplicate") {
    await countIntake(env.DB, { source: input.source ?? API_SOURCE, outcome: "duplicate", reason: "" }, now);
    return outcome;
  }
  try {
    const message = inboxMessageFor(input.event, input.target);
    await env.INBOX_QUEUE.send(message, { contentType: "json" });
  } catch (error) {
    // The event row is durable and the sweep re-enqueues unrouted events; a retry by the sender
    // is answered as a duplicate of this event.
    console.error(JSON.stringify({ msg: "inbox send failed", event_id: outcome.event_id, error: String(error) }));
    throw new AppError("unavailable", "event stored but could not be queued yet; retry later", undefined, {
      "retry-after": "1",
    });
  }
  return outcome;
}

export async function sendInboxBatch(env: Env, eventIds: string[]): Promise<void> {
  for (let i = 0; i < eventIds.length; i += 100) {
    const chunk = eventIds
      .slice(i, i + 100)
      .map((id) => ({ body: { v: 1, event_id: id } satisfies InboxMessage, contentType: "json" as const }));
    await env.INBOX_QUEUE.sendBatch(chunk);
  }
}
