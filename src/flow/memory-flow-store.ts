/**
 * In-memory `FlowStore` for unit tests and benchmarks. Same contract as `SqlFlowStore`; nothing here
 * survives a restart, so production code uses the SQL store.
 */
import type {
  FlowLease,
  FlowStore,
  FlowStoreSummary,
  FlowWait,
  LeasePrimitive,
  LeaseRequest,
  LogPrimitive,
  OrderingLine,
  WaitCarry,
  WaitPrimitive,
} from "./flow-store";

const keyOf = (primitive: string, gate: string) => `${primitive}\u0000${gate}`;

/** First index whose value is > `value` in an ascending array. */
function upperBound(values: number[], value: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((values[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const waitBefore = (a: FlowWait, b: FlowWait) => a.rank < b.rank || (a.rank === b.rank && a.seq < b.seq);

export class MemoryFlowStore implements FlowStore {
  private readonly logs = new Map<string, number[]>();
  private readonly leases = new Map<string, Map<string, number>>();
  private readonly leasesByDispatch = new Map<string, FlowLease[]>();
  private readonly waits = new Map<string, FlowWait>();
  private readonly queues = new Map<string, FlowWait[]>();
  private seq = 0;
  private readonly lines = new Map<string, OrderingLine>();

  // ---- sliding logs ----

  logAdd(primitive: LogPrimitive, gate: string, at: number): void {
    const key = keyOf(primitive, gate);
    let log = this.logs.get(key);
    if (!log) {
      log = [];
      this.logs.set(key, log);
    }
    if (log.length === 0 || (log[log.length - 1] as number) <= at) log.push(at);
    else log.splice(upperBound(log, at), 0, at);
  }

  logWindow(primitive: LogPrimitive, gate: string, since: number): { count: number; stale: number } {
    const log = this.logs.get(keyOf(primitive, gate));
    if (!log) return { count: 0, stale: 0 };
    const stale = upperBound(log, since);
    return { count: log.length - stale, stale };
  }

  logNth(primitive: LogPrimitive, gate: string, since: number, index: number): number | null {
    const log = this.logs.get(keyOf(primitive, gate));
    if (!log || index < 0) return null;
    return log[upperBound(log, since) + index] ?? null;
  }

  logPrune(primitive: LogPrimitive, gate: string, before: number): void {
    const key = keyOf(primitive, gate);
    const log = this.logs.get(key);
    if (!log) return;
    const cut = upperBound(log, before);
    if (cut === log.length) this.logs.delete(key);
    else if (cut > 0) log.splice(0, cut);
  }

  logRetain(primitive: LogPrimitive, before: number): void {
    const prefix = `${primitive}\u0000`;
    for (const key of [...this.logs.keys()]) {
      if (key.startsWith(prefix)) this.logPrune(primitive, key.slice(prefix.length), before);
    }
  }

  logOldest(primitive: LogPrimitive): number | null {
    const prefix = `${primitive}\u0000`;
    let oldest: number | null = null;
    for (const [key, log] of this.logs) {
      const first = log[0];
      if (key.startsWith(prefix) && first !== undefined && (oldest === null || first < oldest)) oldest = first;
    }
    return oldest;
  }

  // ---- leases ----

  leaseAdd(primitive: LeasePrimitive, gate: string, dispatchId: string, at: number): void {
    const key = keyOf(primitive, gate);
    let holders = this.leases.get(key);
    if (!holders) {
      holders = new Map();
      this.leases.set(key, holders);
    }
    if (holders.has(dispatchId)) return;
    holders.set(dispatchId, at);
    const mine = this.leasesByDispatch.get(dispatchId) ?? [];
    mine.push({ primitive, gate });
    this.leasesByDispatch.set(dispatchId, mine);
  }

  leaseTryAcquire({ primitive, gate, dispatch_id: dispatchId, at, max, unless_waiters }: LeaseRequest): boolean {
    const holders = this.leases.get(keyOf(primitive, gate));
    if (holders?.has(dispatchId)) return false;
    if ((holders?.size ?? 0) >= max) return false;
    if (unless_waiters && primitive === "concurrency" && this.waitCount(primitive, gate) > 0) return false;
    this.leaseAdd(primitive, gate, dispatchId, at);
    return true;
  }

  leaseRemove(primitive: LeasePrimitive, gate: string, dispatchId: string): void {
    const key = keyOf(primitive, gate);
    const holders = this.leases.get(key);
    if (!holders?.delete(dispatchId)) return;
    if (holders.size === 0) this.leases.delete(key);
    const mine = (this.leasesByDispatch.get(dispatchId) ?? []).filter(
      (l) => l.primitive !== primitive || l.gate !== gate,
    );
    if (mine.length === 0) this.leasesByDispatch.delete(dispatchId);
    else this.leasesByDispatch.set(dispatchId, mine);
  }

  leaseReleaseAll(dispatchId: string): FlowLease[] {
    const mine = this.leasesOf(dispatchId);
    for (const lease of mine) this.leaseRemove(lease.primitive, lease.gate, dispatchId);
    return mine;
  }

  leaseCount(primitive: LeasePrimitive, gate: string): number {
    return this.leases.get(keyOf(primitive, gate))?.size ?? 0;
  }

  leaseHolders(primitive: LeasePrimitive, gate: string): string[] {
    return [...(this.leases.get(keyOf(primitive, gate))?.keys() ?? [])];
  }

  leasesOf(dispatchId: string): FlowLease[] {
    return (this.leasesByDispatch.get(dispatchId) ?? []).map((l) => ({ ...l }));
  }

  // ---- waits ----

  waitAdd(wait: Omit<FlowWait, "seq">): FlowWait {
    if (this.waits.has(wait.dispatch_id)) throw new Error(`dispatch ${wait.dispatch_id} already waits`);
    const row: FlowWait = { ...wait, seq: ++this.seq };
    this.waits.set(row.dispatch_id, row);
    const key = keyOf(row.primitive, row.gate);
    let queue = this.queues.get(key);
    if (!queue) {
      queue = [];
      this.queues.set(key, queue);
    }
    // Binary search for the first entry after `row` (new rows usually go last).
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (waitBefore(queue[mid] as FlowWait, row)) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, row);
    return { ...row };
  }

  waitGet(dispatchId: string): FlowWait | null {
    const row = this.waits.get(dispatchId);
    return row ? { ...row } : null;
  }

  waitSetDue(dispatchId: string, due: number | null, eta: number | null): void {
    const row = this.waits.get(dispatchId);
    if (row) {
      row.due = due;
      row.eta = eta;
    }
  }

  waitRemove(dispatchId: string): void {
    const row = this.waits.get(dispatchId);
    if (!row) return;
    this.waits.delete(dispatchId);
    const key = keyOf(row.primitive, row.gate);
    const queue = this.queues.get(key);
    if (!queue) return;
    const index = queue.indexOf(row);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length === 0) this.queues.delete(key);
  }

  waitAt(primitive: WaitPrimitive, gate: string, index: number): FlowWait | null {
    const row = this.queues.get(keyOf(primitive, gate))?.[index];
    return row ? { ...row } : null;
  }

  waitCount(primitive: WaitPrimitive, gate: string): number {
    return this.queues.get(keyOf(primitive, gate))?.length ?? 0;
  }

  waitPosition(wait: FlowWait): number {
    const queue = this.queues.get(keyOf(wait.primitive, wait.gate)) ?? [];
    return queue.filter((w) => waitBefore(w, wait)).length;
  }

  waitList(primitive: WaitPrimitive, gate: string): FlowWait[] {
    return (this.queues.get(keyOf(primitive, gate)) ?? []).map((w) => ({ ...w }));
  }

  // ---- maintenance and stats ----

  // ---- ordering lines ----

  lineGet(gate: string): OrderingLine | null {
    const line = this.lines.get(gate);
    return line ? { ...line } : null;
  }

  lineSet(gate: string, line: OrderingLine): void {
    this.lines.set(gate, { ...line });
  }

  lineBlockedBy(dispatchId: string): string | null {
    for (const [gate, line] of this.lines) if (line.blocked_by === dispatchId) return gate;
    return null;
  }

  linesBlocked(): Array<{ gate: string; blocked_by: string }> {
    const out: Array<{ gate: string; blocked_by: string }> = [];
    for (const [gate, line] of this.lines)
      if (line.blocked_by !== null) out.push({ gate, blocked_by: line.blocked_by });
    return out;
  }

  waitGates(primitive: WaitPrimitive): string[] {
    const prefix = keyOf(primitive, "");
    return [...this.queues.entries()]
      .filter(([key, queue]) => key.startsWith(prefix) && queue.length > 0)
      .map(([key]) => key.slice(prefix.length));
  }

  tracks(dispatchId: string): boolean {
    return this.waits.has(dispatchId) || this.leasesByDispatch.has(dispatchId);
  }

  carries(): WaitCarry[] {
    return [...this.waits.values()].flatMap((w) => (w.carry ? [w.carry] : []));
  }

  dispatchIds(): string[] {
    return [...new Set([...this.waits.keys(), ...this.leasesByDispatch.keys()])];
  }

  summary(windows: Record<LogPrimitive, number>, holderLimit: number): FlowStoreSummary {
    const split = (key: string) => {
      const at = key.indexOf("\u0000");
      return [key.slice(0, at), key.slice(at + 1)] as const;
    };
    const logs: FlowStoreSummary["logs"] = [];
    for (const [key, log] of this.logs) {
      const [primitive, gate] = split(key) as [LogPrimitive, string];
      const count = log.length - upperBound(log, windows[primitive]);
      if (count > 0) logs.push({ primitive, gate, count });
    }
    const leases: FlowStoreSummary["leases"] = [];
    for (const [key, holders] of this.leases) {
      const [primitive, gate] = split(key) as [LeasePrimitive, string];
      leases.push({ primitive, gate, count: holders.size, holders: [...holders.keys()].slice(0, holderLimit) });
    }
    const waits: FlowStoreSummary["waits"] = [];
    for (const [key, queue] of this.queues) {
      const [primitive, gate] = split(key) as [WaitPrimitive, string];
      const head = queue[0];
      if (head) waits.push({ primitive, gate, count: queue.length, head: { ...head } });
    }
    return { logs, leases, waits };
  }
}
