/**
 * Queue messages carry an event along when it is small, so consumers need no D1 read for it. The
 * limit keeps a message within one 64 KB billable queue operation; larger events travel by id.
 */
import { utf8Length } from "../intake/stored-size";

export const CARRIED_EVENT_MAX_BYTES = 48 * 1024;

/** Whether `value`'s JSON fits in a queue message next to the message's own fields. */
export function fitsInMessage(value: unknown): boolean {
  const json = JSON.stringify(value) ?? "";
  // A UTF-16 code unit is at most three UTF-8 bytes: typical events fit without counting them.
  return json.length * 3 <= CARRIED_EVENT_MAX_BYTES || utf8Length(json) <= CARRIED_EVENT_MAX_BYTES;
}
