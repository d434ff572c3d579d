/** The inbox message for an accepted event (SPEC 4.6: sent before the 202). */
import type { TriggerEvent } from "../contracts/events";
import type { InboxMessage } from "../contracts/messages";
import { fitsInMessage } from "../lib/message-size";

/** The event travels inside the message when small, so routing and attempt 1 need no D1 read. */
export function inboxMessageFor(
  event: TriggerEvent,
  target: { binding_id: string; version: number | null } | null,
): InboxMessage {
  if (!fitsInMessage(event)) return { v: 1, event_id: event.id };
  return { v: 1, event_id: event.id, event, target };
}
