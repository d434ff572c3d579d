/**
 * The durable half of intake shared by `/hooks/:source` and `POST /v1/events` (SPEC 4.6): the event
 * goes to the EventLog of the current window, which stores it, claims its dedupe key in D1 and
 * answers. 202 is only answered once both are durable; routing happens after the answer.
 */
import type { AcceptAnswer, AcceptRequest } from "../contracts/event-log-rpc";
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
  const [outcome] = await acceptEvents(env, [req], now);
  if (!outcome) throw new Error("no answer for an accepted event");
  return outcome;
}

/**
 * Accepts events in order (a publish array): one `acceptMany` per EventLog shard they go to. Throws
 * 503 when any of them could not be made durable; the ones that were stay accepted, and a retry of
 * a keyed one is answered as their duplicate.
 */
export async function acceptEvents(env: Env, reqs: AcceptRequest[], now: number): Promise<AcceptOutcome[]> {
  const span = partitionSpanMs(env);
  const shards = eventShards(env);
  const answers: AcceptAnswer[] = reqs.map(() => ({ status: "moved" }));
  const byShard = new Map<number, number[]>();
  reqs.forEach((req, i) => {
    const shard = shardOf(`${req.dedupe_scope}\n${req.event.dedupe_key}`, shards);
    byShard.set(shard, [...(byShard.get(shard) ?? []), i]);
  });
  await Promise.all(
    [...byShard].map(async ([shard, indexes]) => {
      let at = now;
      let left = indexes;
      // A window that closed while the request was under way sends it on to the next one.
      for (let hop = 0; hop < 3 && left.length > 0; hop++) {
        const log = env.EVENT_LOG.getByName(eventLogName(partitionStart(at, span), shard));
        const got = await log.acceptMany(left.map((i) => reqs[i] as AcceptRequest));
        left.forEach((i, n) => {
          answers[i] = got[n] ?? { status: "moved" };
        });
        left = left.filter((i) => answers[i]?.status === "moved");
        at = Math.max(Date.now(), partitionStart(at, span) + span);
      }
    }),
  );
  const outcomes: AcceptOutcome[] = [];
  for (const [i, answer] of answers.entries()) {
    switch (answer.status) {
      case "accepted":
        outcomes.push({ status: "accepted", event_id: answer.event_id });
        break;
      case "duplicate": {
        const source = reqs[i]?.source ?? API_SOURCE;
        await countIntake(env.DB, { source, outcome: "duplicate", reason: "" }, now);
        outcomes.push(answer);
        break;
      }
      case "unavailable":
        // The event is stored and its EventLog settles the claim itself; a retry is answered as a duplicate.
        throw new AppError("unavailable", `${answer.message}; retry later`, undefined, { "retry-after": "1" });
      case "moved":
        throw new AppError(
          "unavailable",
          "the intake window moved on while the request was under way; retry",
          undefined,
          { "retry-after": "1" },
        );
    }
  }
  return outcomes;
}

/** Where a rejected signature's audit record goes: the current window's first shard. */
export function auditLog(env: Env, now: number): DurableObjectStub<import("../history/event-log").EventLog> {
  return env.EVENT_LOG.getByName(eventLogName(partitionStart(now, partitionSpanMs(env)), 0));
}
