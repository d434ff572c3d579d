/**
 * The durable half of intake shared by `/hooks/:source` and `POST /v1/events` (SPEC 4.6): the event
 * goes to the EventLog of the current window, which stores it, claims its dedupe key in D1 and
 * answers. 202 is only answered once both are durable; routing happens after the answer.
 */
import type { AcceptAnswer, AcceptRequest } from "../history/event-log";
import { AppError } from "../lib/errors";
import { eventLogName, eventShards, partitionSpanMs, partitionStart } from "../lib/partitions";
import { API_SOURCE, countIntake } from "../observability/intake-counters";

export type AcceptOutcome = { status: "accepted"; event_id: string } | { status: "duplicate"; event_id: string };

/** FNV-1a of the dedupe scope and key: duplicates of one delivery meet in the same shard. */
function shardOf(key: string, shards: number): number {
  if (shards <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

export async function acceptEvent(env: Env, req: AcceptRequest, now: number): Promise<AcceptOutcome> {
  const span = partitionSpanMs(env);
  const shard = shardOf(`${req.dedupe_scope}\n${req.event.dedupe_key}`, eventShards(env));
  let at = now;
  let answer: AcceptAnswer = { status: "moved" };
  // A window that closed while the request was under way sends it on to the next one.
  for (let hop = 0; hop < 3 && answer.status === "moved"; hop++) {
    answer = await env.EVENT_LOG.getByName(eventLogName(partitionStart(at, span), shard)).accept(req);
    at = Math.max(Date.now(), partitionStart(at, span) + span);
  }
  switch (answer.status) {
    case "accepted":
      return { status: "accepted", event_id: answer.event_id };
    case "duplicate":
      await countIntake(env.DB, { source: req.source ?? API_SOURCE, outcome: "duplicate", reason: "" }, now);
      return answer;
    case "unavailable":
      // The event is stored and its EventLog settles the claim itself; a retry is answered as a duplicate.
      throw new AppError("unavailable", `${answer.message}; retry later`, undefined, { "retry-after": "1" });
    case "moved":
      throw new AppError(
        "unavailable",
        "the intake window moved on while the request was under way; retry",
        undefined,
        {
          "retry-after": "1",
        },
      );
  }
}

/** Where a rejected signature's audit record goes: the current window's first shard. */
export function auditLog(env: Env, now: number): DurableObjectStub<import("../history/event-log").EventLog> {
  return env.EVENT_LOG.getByName(eventLogName(partitionStart(now, partitionSpanMs(env)), 0));
}
