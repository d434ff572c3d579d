/**
 * Faults injected while events flow: queue messages delivered again (the same dispatch message, or
 * the same inbox message, as an at-least-once queue may do) and BindingGate objects evicted from
 * memory. Each runs through the real consumer or the runtime, never by touching state directly.
 */
import { createExecutionContext, createMessageBatch, evictDurableObject, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { DispatchMessage, InboxMessage } from "../../src/contracts/messages";
import worker from "../../src/index";
import { int, NEVER_OPEN_CIRCUIT, pick, type Rand } from "./plan";

export interface LiveBinding {
  bindingKey: string;
  handlerUrl: string;
  timeoutMs: number;
}

export interface FaultCounts {
  dispatchRedeliveries: number;
  inboxRedeliveries: number;
  evictions: number;
  /** Evictions asked for while the object was not in memory (nothing to evict). */
  evictionsIdle: number;
  consumerErrors: string[];
}

export function emptyFaultCounts(): FaultCounts {
  return { dispatchRedeliveries: 0, inboxRedeliveries: 0, evictions: 0, evictionsIdle: 0, consumerErrors: [] };
}

/** The message the gate itself sends for attempt `attempt` (SPEC 10 circuit block included). */
export function dispatchMessage(b: LiveBinding, dispatchId: string, attempt: number): DispatchMessage {
  const url = new URL(b.handlerUrl);
  return {
    v: 1,
    binding_key: b.bindingKey,
    dispatch_id: dispatchId,
    attempt,
    circuit: {
      destination: `https:${url.origin}${url.pathname}`,
      threshold: NEVER_OPEN_CIRCUIT.threshold,
      cooldown_ms: NEVER_OPEN_CIRCUIT.cooldown_ms,
      mode: NEVER_OPEN_CIRCUIT.mode,
      timeout_ms: b.timeoutMs,
    },
  };
}

/** Runs the real queue handler on a hand-made batch of redelivered messages. */
async function deliver(queue: string, bodies: unknown[], counts: FaultCounts): Promise<void> {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, i) => ({ id: `again-${i}-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 2, body })),
  );
  const ctx = createExecutionContext();
  try {
    await worker.queue(batch as MessageBatch<unknown>, env, ctx);
    const result = await getQueueResult(batch, ctx);
    // A consumer asks for a retry only when it could not process a message; note it for the report.
    if (result.retryMessages.length > 0) counts.consumerErrors.push(`${queue}: ${result.retryMessages.length} retried`);
  } catch (error) {
    counts.consumerErrors.push(`${queue}: ${String(error)}`);
  }
}

type DispatchRow = { dispatch_id: string; binding_key: string; status: string; attempt_count: number };

/**
 * Redelivers messages of attempts already sent: any attempt up to the count D1 shows (D1 lags the
 * gate, so those were sent), or attempt 1 of an admitted dispatch (the same message the gate is
 * sending). Sometimes the same message twice in one batch.
 */
export async function redeliverDispatches(r: Rand, bindings: Map<string, LiveBinding>, counts: FaultCounts) {
  const total = (await env.DB.prepare("SELECT count(*) AS n FROM dispatches").first<{ n: number }>())?.n ?? 0;
  if (total === 0) return;
  const rows = (
    await env.DB.prepare(
      "SELECT dispatch_id, binding_key, status, attempt_count FROM dispatches ORDER BY rowid LIMIT 6 OFFSET ?",
    )
      .bind(Math.floor(r() * Math.max(0, total - 6)))
      .all<DispatchRow>()
  ).results;
  const messages: DispatchMessage[] = [];
  for (const row of rows) {
    const b = bindings.get(row.binding_key);
    if (!b) continue;
    let attempt = 0;
    if (row.attempt_count >= 1) attempt = int(r, 1, row.attempt_count);
    else if (row.status === "admitted") attempt = 1;
    if (attempt === 0) continue;
    const message = dispatchMessage(b, row.dispatch_id, attempt);
    messages.push(message);
    if (r() < 0.2) messages.push(message);
  }
  if (messages.length === 0) return;
  counts.dispatchRedeliveries += messages.length;
  await deliver("switchyard-dispatch", messages, counts);
}

/** Redelivers inbox messages of events already accepted (routing must create nothing twice). */
export async function redeliverInbox(r: Rand, eventIds: string[], counts: FaultCounts) {
  if (eventIds.length === 0) return;
  const bodies: InboxMessage[] = Array.from({ length: int(r, 1, 5) }, () => ({ v: 1, event_id: pick(r, eventIds) }));
  counts.inboxRedeliveries += bodies.length;
  await deliver("switchyard-inbox", bodies, counts);
}

/** Evicts one BindingGate from memory; its state must come back from its SQLite. */
export async function evictGate(bindingKey: string, counts: FaultCounts) {
  try {
    await evictDurableObject(env.BINDING_GATE.getByName(bindingKey));
    counts.evictions += 1;
  } catch (error) {
    if (/not currently running/.test(String(error))) counts.evictionsIdle += 1;
    else counts.consumerErrors.push(`evict ${bindingKey}: ${String(error)}`);
  }
}

/**
 * Injects faults until `stop()` says so: every 80–250 ms one of a dispatch redelivery (45%), an
 * inbox redelivery (30%) or an eviction of a random gate (25%, at most one in flight per gate).
 * Faults run in the background so a redelivered attempt that does run does not hold up the loop.
 */
export async function injectFaults(
  r: Rand,
  bindings: Map<string, LiveBinding>,
  eventIds: () => string[],
  counts: FaultCounts,
  stop: () => boolean,
): Promise<void> {
  const running = new Set<Promise<void>>();
  const evicting = new Set<string>();
  const track = (p: Promise<void>) => {
    running.add(p);
    void p.finally(() => running.delete(p));
  };
  const keys = [...bindings.keys()];
  while (!stop()) {
    await new Promise((res) => setTimeout(res, int(r, 80, 250)));
    if (running.size >= 6) continue;
    const x = r();
    if (x < 0.45) track(redeliverDispatches(r, bindings, counts));
    else if (x < 0.75) track(redeliverInbox(r, eventIds(), counts));
    else {
      const key = pick(r, keys);
      if (evicting.has(key)) continue;
      evicting.add(key);
      track(evictGate(key, counts).finally(() => evicting.delete(key)));
    }
  }
  await Promise.all(running);
}
