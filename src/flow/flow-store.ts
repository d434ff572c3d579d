/**
 * The storage contract of the flow-control engine (src/flow/flow-control.ts). Every operation is
 * synchronous so the engine can run between DO SQLite writes with no `await` in between (no
 * interleaving between a check and its write). Implementations: `SqlFlowStore` (DO SQLite, production)
 * and `MemoryFlowStore` (tests, benchmarks).
 *
 * Three kinds of state, all keyed by `(primitive, gate)` where gate = `<binding_key>:<key|_global>`:
 * - sliding logs (rate_limit, throttle): the times of admissions;
 * - leases (singleton, concurrency): which dispatches hold the gate;
 * - waits: one row per dispatch held in flow control (batch member, debounce latest, throttle,
 *   ordering or concurrency waiter), ordered by (rank, seq); an ordering waiter's rank is its event's
 *   `received_at`;
 * - ordering lines: per key, the sequence number of the last start and whether a failure blocks it. A debounce gate has at most one wait (its latest);
 *   a batch gate's waits are the open group's members, the first being the leader, whose `due` is the
 *   group deadline.
 */
import type { FLOW_PRIMITIVE_NAMES } from "../contracts/binding-spec";

export type FlowPrimitive = (typeof FLOW_PRIMITIVE_NAMES)[number];
export type LogPrimitive = "rate_limit" | "throttle";
export type LeasePrimitive = "ordering" | "singleton" | "concurrency";
export type WaitPrimitive = "batch" | "debounce" | "throttle" | "ordering" | "concurrency";

export interface FlowLease {
  primitive: LeasePrimitive;
  gate: string;
}

/** Gates a dispatch will pass after the one it waits at, resolved from its event on arrival. */
export interface FlowPlan {
  gates: Partial<Record<FlowPrimitive, string>>;
  /** Priority rank at the concurrency gate (0 without priority). */
  rank: number;
  /** The windows of a stacked `rate_limit`/`throttle` list, one gate per entry in list order. */
  windows?: Partial<Record<LogPrimitive, string[]>>;
  /** The event's `received_at` (ms): its place in an ordering line (SPEC 9.7). */
  received_at?: number;
}

/** One ordering line (SPEC 9.7): a key's dispatches run one at a time in `received_at` order. */
export interface OrderingLine {
  /** Sequence number of the line's last started dispatch (the envelope's `ordering.seq`). */
  seq: number;
  /** The latest `received_at` started so far: an earlier one starting after it is late. */
  last_rank: number;
  /** A failed predecessor holding the line (`on_failure: "block"`), until resolved or replayed. */
  blocked_by: string | null;
}

export interface FlowWait {
  dispatch_id: string;
  primitive: WaitPrimitive;
  gate: string;
  /** Queue order is (rank, seq); rank is 0 except at a concurrency gate with priority. */
  rank: number;
  /** Assigned by the store on insert, increasing. */
  seq: number;
  arrived_at: number;
  /** When the gate must call `onTimer` for this dispatch; null: another call will move it on. */
  due: number | null;
  /** Best estimate of when it moves on (reporting only). */
  eta: number | null;
  event_id: string;
  plan: FlowPlan;
  /** What the wait carries besides its place (a debounce burst, a batch on its way); null: nothing. */
  carry?: WaitCarry | null;
}

/** A flushed batch as seen by its leader: members in order, leader first. */
export interface FlowBatch {
  gate: string;
  members: Array<{ dispatch_id: string; event_id: string }>;
}

export interface WaitCarry {
  /** Debounce (SPEC 9.2): the burst so far; `members` only with `deliver: "all"`. */
  burst?: { first_at: number; count: number; members?: FlowBatch["members"] };
  /** A batch (or a delivered burst) that waits at a later primitive with its dispatch. */
  batch?: FlowBatch;
  /** Its place in an ordering line, taken before it waits at a later primitive. */
  ordering?: { key: string; seq: number };
}

/** A lease to take if the gate has room (`leaseTryAcquire`). */
export interface LeaseRequest {
  primitive: LeasePrimitive;
  gate: string;
  dispatch_id: string;
  at: number;
  /** Holders the gate allows. */
  max: number;
  /** Refuse while a wait is queued at the same gate (concurrency: nobody overtakes the queue). */
  unless_waiters: boolean;
}

export interface FlowStoreSummary {
  /** Entries inside the current window, per gate. */
  logs: Array<{ primitive: LogPrimitive; gate: string; count: number }>;
  /** Holders in acquisition order (at most `holderLimit` listed; `count` is exact). */
  leases: Array<{ primitive: LeasePrimitive; gate: string; count: number; holders: string[] }>;
  waits: Array<{ primitive: WaitPrimitive; gate: string; count: number; head: FlowWait }>;
}

export interface FlowStore {
  // ---- sliding logs ----
  logAdd(primitive: LogPrimitive, gate: string, at: number): void;
  /** Entries with `at > since` (`count`) and at or before it (`stale`, not yet pruned), in one read. */
  logWindow(primitive: LogPrimitive, gate: string, since: number): { count: number; stale: number };
  /** Time of the `index`-th oldest (0-based) entry with `at > since`, or null. */
  logNth(primitive: LogPrimitive, gate: string, since: number, index: number): number | null;
  /** Deletes one gate's entries with `at <= before`. */
  logPrune(primitive: LogPrimitive, gate: string, before: number): void;
  /** Retention: deletes every gate's entries with `at <= before`. */
  logRetain(primitive: LogPrimitive, before: number): void;
  /** Oldest entry of any gate, or null. */
  logOldest(primitive: LogPrimitive): number | null;

  // ---- leases ----
  leaseAdd(primitive: LeasePrimitive, gate: string, dispatchId: string, at: number): void;
  /**
   * Acquires a lease only if the gate has fewer than `max` holders and, with `unlessWaiters`, no wait
   * queued at the same (primitive, gate). True when acquired. One statement in SQL.
   */
  leaseTryAcquire(request: LeaseRequest): boolean;
  leaseRemove(primitive: LeasePrimitive, gate: string, dispatchId: string): void;
  /** Removes every lease of a dispatch and returns them. */
  leaseReleaseAll(dispatchId: string): FlowLease[];
  leaseCount(primitive: LeasePrimitive, gate: string): number;
  /** Holders in acquisition order. */
  leaseHolders(primitive: LeasePrimitive, gate: string): string[];
  leasesOf(dispatchId: string): FlowLease[];

  // ---- waits ----
  waitAdd(wait: Omit<FlowWait, "seq">): FlowWait;
  waitGet(dispatchId: string): FlowWait | null;
  waitSetDue(dispatchId: string, due: number | null, eta: number | null): void;
  waitRemove(dispatchId: string): void;
  /** The `index`-th wait of a gate in (rank, seq) order; 0 is the head. */
  waitAt(primitive: WaitPrimitive, gate: string, index: number): FlowWait | null;
  waitCount(primitive: WaitPrimitive, gate: string): number;
  /** Waits ahead of this one in its queue. */
  waitPosition(wait: FlowWait): number;
  /** All waits of a gate in (rank, seq) order. */
  waitList(primitive: WaitPrimitive, gate: string): FlowWait[];

  // ---- ordering lines ----
  lineGet(gate: string): OrderingLine | null;
  lineSet(gate: string, line: OrderingLine): void;
  /** The line a dispatch blocks, if any. */
  lineBlockedBy(dispatchId: string): string | null;
  /** Blocked lines: gate and the dispatch holding each. */
  linesBlocked(): Array<{ gate: string; blocked_by: string }>;
  /** Gates where dispatches wait at a primitive. */
  waitGates(primitive: WaitPrimitive): string[];

  // ---- maintenance and stats ----
  /** True when the dispatch holds a lease or a wait. */
  tracks(dispatchId: string): boolean;
  /** Every dispatch that holds a lease or a wait. */
  dispatchIds(): string[];
  /** Waits that carry other dispatches' events (a debounce burst, a batch on its way). */
  carries(): WaitCarry[];
  summary(windows: Record<LogPrimitive, number>, holderLimit: number): FlowStoreSummary;
}
