/** The `/v1/stats` view of flow control (SPEC 15): per-gate state, busiest gates first. */
import type { FlowControlSpec } from "../contracts/binding-spec";
import type { FlowPrimitive, FlowStore, LogPrimitive } from "./flow-store";
import { type FlowGateSnapshot, type FlowSnapshot, primitiveIndex } from "./flow-types";
import { limitOfGate, longestPeriod } from "./primitives/windows";

const SNAPSHOT_HOLDERS = 20;

/** The gate's limit as the snapshot shows it: max, batch size, 1 for singleton, null for debounce. */
function limitOf(flow: FlowControlSpec, p: FlowPrimitive): number | null {
  switch (p) {
    case "batch":
      return flow.batch?.size ?? null;
    case "rate_limit":
    case "throttle": {
      // A stacked list's window gates get their limit from their log rows below; its throttle queue
      // gates (a combination of windows) have no single one.
      const spec = flow[p];
      return spec === undefined || Array.isArray(spec) ? null : spec.max;
    }
    case "concurrency":
      return flow.concurrency?.max ?? null;
    case "ordering":
    case "singleton":
      return 1;
    case "debounce":
      return null;
  }
}

export function flowSnapshot(flow: FlowControlSpec, store: FlowStore, now: number, limit: number): FlowSnapshot {
  const since = (p: LogPrimitive) => now - (longestPeriod(flow, p) ?? 0);
  const summary = store.summary({ rate_limit: since("rate_limit"), throttle: since("throttle") }, SNAPSHOT_HOLDERS);
  const gates = new Map<string, FlowGateSnapshot>();
  const entry = (primitive: FlowPrimitive, gate: string): FlowGateSnapshot => {
    const key = `${primitive}\u0000${gate}`;
    let row = gates.get(key);
    if (!row) {
      row = {
        primitive,
        gate,
        limit: limitOf(flow, primitive),
        window: primitive === "rate_limit" || primitive === "throttle" ? 0 : null,
        active: primitive === "singleton" || primitive === "concurrency" ? 0 : null,
        holders: [],
        waiting: 0,
        head: null,
        due: null,
        blocked_by: null,
      };
      gates.set(key, row);
    }
    return row;
  };
  for (const log of summary.logs) {
    // Windows of a stacked list have periods of their own: count each over its own.
    const row = entry(log.primitive, log.gate);
    const own = Array.isArray(flow[log.primitive]) ? limitOfGate(flow, log.primitive, log.gate) : null;
    row.window = own ? store.logWindow(log.primitive, log.gate, now - own.period).count : log.count;
    if (own) row.limit = own.max;
  }
  for (const lease of summary.leases) {
    const row = entry(lease.primitive, lease.gate);
    row.active = lease.count;
    row.holders = lease.holders;
  }
  for (const wait of summary.waits) {
    const row = entry(wait.primitive, wait.gate);
    row.waiting = wait.count;
    row.head = wait.head.dispatch_id;
    row.due = wait.head.due;
  }
  for (const line of store.linesBlocked()) entry("ordering", line.gate).blocked_by = line.blocked_by;
  const load = (g: FlowGateSnapshot) => g.waiting + (g.active ?? 0) + (g.window ?? 0);
  const all = [...gates.values()].sort(
    (a, b) =>
      load(b) - load(a) ||
      primitiveIndex(a.primitive) - primitiveIndex(b.primitive) ||
      (a.gate < b.gate ? -1 : a.gate > b.gate ? 1 : 0),
  );
  return { gates: all.slice(0, limit), total: all.length, truncated: all.length > limit };
}
