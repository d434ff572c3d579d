/**
 * Faults injected while events flow: dispatches admitted again (what a restarted EventLog does for
 * everything after its routing watermark), EventLog windows restarted with their watermark lost,
 * and BindingGate objects evicted from memory. Each goes through the real objects and runtime,
 * never by writing dispatch state directly.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { loadRoutingTable } from "../../src/db/bindings-repo";
import { admitRequestOf } from "../../src/dispatch/routing-table";
import { loadStoredEvents } from "../../src/history/event-reader";
import { eventLogName, partitionSpanMs, partitionStart } from "../../src/lib/partitions";
import { int, pick, type Rand } from "./plan";

export interface LiveBinding {
  bindingKey: string;
  handlerUrl: string;
  timeoutMs: number;
}

export interface FaultCounts {
  /** Admits sent again for dispatches that already exist (or finished). */
  readmits: number;
  /** EventLog windows evicted with their routing watermark lost, then asked to recover. */
  windowRestarts: number;
  evictions: number;
  /** Evictions asked for while the object was not in memory (nothing to evict). */
  evictionsIdle: number;
  /**
   * Evictions (and window restarts) the runtime declined because a request was still under way in
   * the object: it evicts only between requests, so the fault did not happen.
   */
  evictionsBusy: number;
  consumerErrors: string[];
}

export function emptyFaultCounts(): FaultCounts {
  return { readmits: 0, windowRestarts: 0, evictions: 0, evictionsIdle: 0, evictionsBusy: 0, consumerErrors: [] };
}

/**
 * Admits a few accepted events again at every binding they were routed to, as an EventLog that lost
 * its watermark does (its first admit of an event is the only one that is not `recovering`).
 */
export async function readmit(r: Rand, eventIds: string[], counts: FaultCounts) {
  if (eventIds.length === 0) return;
  const ids = Array.from({ length: int(r, 1, 4) }, () => pick(r, eventIds));
  try {
    const [table, stored] = await Promise.all([loadRoutingTable(env.DB), loadStoredEvents(env, ids)]);
    for (const id of ids) {
      const e = stored.get(id);
      if (!e) continue;
      for (const key of e.routes) {
        const binding = table.candidates.find((c) => c.bindingKey === key);
        if (!binding) continue;
        counts.readmits += 1;
        const request = admitRequestOf(e.event, binding, table.controls.get(binding.id), true);
        await env.BINDING_GATE.getByName(key).admit(request);
      }
    }
  } catch (error) {
    counts.consumerErrors.push(`readmit: ${String(error)}`);
  }
}

/** The current window forgets its watermark and restarts: it routes everything it holds again. */
export async function restartWindow(counts: FaultCounts) {
  const log = env.EVENT_LOG.getByName(eventLogName(partitionStart(Date.now(), partitionSpanMs(env)), 0));
  try {
    await runInDurableObject(log, (_o, state) => {
      state.storage.sql.exec("DELETE FROM meta WHERE k = 'progress'");
    });
    await evictDurableObject(log);
    await log.tick();
    counts.windowRestarts += 1;
  } catch (error) {
    if (busy(error)) counts.evictionsBusy += 1;
    else counts.consumerErrors.push(`restart window: ${String(error)}`);
  }
}

const busy = (error: unknown) => /still has active references/.test(String(error));

/** Evicts one BindingGate from memory; its state must come back from its SQLite. */
export async function evictGate(bindingKey: string, counts: FaultCounts) {
  try {
    await evictDurableObject(env.BINDING_GATE.getByName(bindingKey));
    counts.evictions += 1;
  } catch (error) {
    if (/not currently running/.test(String(error))) counts.evictionsIdle += 1;
    else if (busy(error)) counts.evictionsBusy += 1;
    else counts.consumerErrors.push(`evict ${bindingKey}: ${String(error)}`);
  }
}

/**
 * Injects faults until `stop()` says so: every 80–250 ms one of a re-admit (45%), a window restart
 * (10%) or an eviction of a random gate (45%, at most one in flight per gate). Faults run in the
 * background so a re-admit that does run an attempt does not hold up the loop.
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
  let restarting = false;
  const track = (p: Promise<void>) => {
    running.add(p);
    void p.finally(() => running.delete(p));
  };
  const keys = [...bindings.keys()];
  while (!stop()) {
    await new Promise((res) => setTimeout(res, int(r, 80, 250)));
    if (running.size >= 6) continue;
    const x = r();
    if (x < 0.45) track(readmit(r, eventIds(), counts));
    else if (x < 0.55) {
      if (restarting) continue;
      restarting = true;
      track(
        restartWindow(counts).finally(() => {
          restarting = false;
        }),
      );
    } else {
      const key = pick(r, keys);
      if (evicting.has(key)) continue;
      evicting.add(key);
      track(evictGate(key, counts).finally(() => evicting.delete(key)));
    }
  }
  await Promise.all(running);
}
