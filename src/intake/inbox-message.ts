/** The inbox message for an accepted event (SPEC 4.6: sent before the 202). */
import type { TriggerEvent } from "../contracts/events";
import type { InboxMessage } from "../contracts/messages";
import { utf8Length } from "./stored-size";

/**
 * Events up to this many bytes of JSON travel inside the message, so routing and attempt 1 need no D1
 * read. It keeps the message within one 64 KB billable queue operation; larger events go by id.
 */
export const INBOX_EVENT_MAX_BYTES = 48 * 1024;

export function inboxMessageFor(
  event: TriggerEvent,
  target: { binding_id: string; version: number | null } | null,
): InboxMessage {
  const json = JSON.stringify(event);
  // A UTF-16 code unit is at most three UTF-8 bytes: typical events fit without counting them.
  if (json.length * 3 > INBOX_EVENT_MAX_BYTES && utf8Length(json) > INBOX_EVENT_MAX_BYTES) {
    return { v: 1, event_id: event.id };
  }
  return { v: 1, event_id: event.id, event, target };
}
