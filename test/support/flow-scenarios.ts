/**
 * SPEC 9 scenarios, shared by the in-memory run (flow-control.test.ts) and the DO SQLite run
 * (sql-flow-store.test.ts): both stores must produce identical decisions.
 */
import { expect } from "vitest";
import type { FlowControlSpec } from "../../src/contracts/binding-spec";
import { flowTopic, gateKeyPart } from "../../src/flow/flow-keys";
import { BINDING_KEY, type Harness } from "./flow-harness";

export type Scenario = [name: string, flow: FlowControlSpec | null, run: (h: Harness) => void];

const g = (key: string) => `${BINDING_KEY}:${key}`;

export const scenarios: Scenario[] = [
  // ---- rate_limit ----
  [
    "rate_limit: keyed sliding window skips at count ≥ max and admits again as entries age out",
    { rate_limit: { key: "event.payload.customer", period: 1000, max: 2 } },
    (h) => {
      const acme = { customer: "acme" };
      h.arrive("a1", acme, 0);
      h.arrive("a2", acme, 100);
      h.arrive("a3", acme, 200);
      h.arrive("b1", { customer: "beta" }, 300); // another key, its own window
      h.arrive("a4", acme, 999);
      h.arrive("a5", acme, 1000); // the entry at 0 is exactly one period old: out of the window
      h.arrive("a6", acme, 1050);
      h.arrive("a7", acme, 1100);
      expect(h.snapshotStates()).toEqual({
        a1: "admitted",
        a2: "admitted",
        a3: "skipped:rate_limited",
        b1: "admitted",
        a4: "skipped:rate_limited",
        a5: "admitted",
        a6: "skipped:rate_limited",
        a7: "admitted",
      });
      expect(h.outcomes.get("a3")).toEqual({
        kind: "skip",
        reason: "rate_limited",
        primitive: "rate_limit",
        gate: g("acme"),
        error: null,
      });
      // Skipped dispatches are not logged: only admissions count.
      const acmeGate = h.engine.snapshot(1100).gates.find((s) => s.gate === g("acme"));
      expect(acmeGate).toMatchObject({ primitive: "rate_limit", window: 2, limit: 2 });
      expect(h.audit.filter((a) => a.dispatch_id === "a3")).toEqual([
        {
          topic: "trigger.rate_limit.triage_v1_acme",
          kind: "rate_limit_blocked",
          dispatch_id: "a3",
          payload: { gate: g("acme"), dispatch_id: "a3", count: 2, max: 2, period_ms: 1000 },
        },
      ]);
    },
  ],

  [
    "rate_limit: expired entries are pruned as the gate is used, so a busy gate's log stays small",
    { rate_limit: { period: 100, max: 1000 } },
    (h) => {
      for (let i = 0; i < 400; i++) h.arrive(`d${i}`, {}, i * 10);
      expect(Object.values(h.snapshotStates()).every((s) => s === "admitted")).toBe(true);
      const log = h.store.logWindow("rate_limit", g("_global"), 3990 - 100);
      expect(log.count).toBe(10); // 3900 < at ≤ 3990
      expect(log.stale).toBeLessThan(17);
      h.engine.sweep(10_000);
      expect(h.store.logWindow("rate_limit", g("_global"), 0)).toEqual({ count: 0, stale: 0 });
    },
  ],

  [
    "rate_limit list: admitted only when every window has room; a skip names the full one and counts against none",
    {
      rate_limit: [
        { key: "event.payload.user", period: 1000, max: 2 },
        { key: "event.payload.project", period: 10_000, max: 3 },
      ],
    },
    (h) => {
      h.arrive("a1", { user: "u1", project: "p1" }, 0);
      h.arrive("a2", { user: "u1", project: "p1" }, 100);
      h.arrive("a3", { user: "u1", project: "p1" }, 200); // u1's window is full
      h.arrive("b1", { user: "u2", project: "p1" }, 300); // the project's third
      h.arrive("c1", { user: "u3", project: "p1" }, 400); // the project is full
      h.arrive("a4", { user: "u1", project: "p2" }, 1200); // u1's window has aged out; p2 is another project
      expect(h.snapshotStates()).toEqual({
        a1: "admitted",
        a2: "admitted",
        a3: "skipped:rate_limited",
        b1: "admitted",
        c1: "skipped:rate_limited",
        a4: "admitted",
      });
      expect(h.outcomes.get("a3")).toEqual({
        kind: "skip",
        reason: "rate_limited",
        primitive: "rate_limit",
        gate: g("u1#0"),
        error: null,
        limit_index: 0,
      });
      expect(h.outcomes.get("c1")).toMatchObject({ gate: g("p1#1"), limit_index: 1 });
      // The skipped a3 did not count against the project, nor c1 against its user.
      expect(h.store.logWindow("rate_limit", g("p1#1"), -1).count).toBe(3);
      expect(h.store.logWindow("rate_limit", g("u3#0"), -1).count).toBe(0);
      // Each window audits on its own gate.
      expect(
        h.audit.filter((a) => a.dispatch_id === "a1").map((a) => [a.topic, a.kind, a.payload.limit_index]),
      ).toEqual([
        [flowTopic("rate_limit", g("u1#0")), "rate_limit_allowed", 0],
        [flowTopic("rate_limit", g("p1#1")), "rate_limit_allowed", 1],
      ]);
      expect(h.audit.filter((a) => a.dispatch_id === "c1")).toEqual([
        {
          topic: flowTopic("rate_limit", g("p1#1")),
          kind: "rate_limit_blocked",
          dispatch_id: "c1",
          payload: { gate: g("p1#1"), dispatch_id: "c1", count: 3, max: 3, period_ms: 10_000, limit_index: 1 },
        },
      ]);
      // The snapshot counts each window over its own period, with its own limit.
      const gates = h.engine.snapshot(1200).gates;
      expect(gates.find((s) => s.gate === g("u1#0"))).toMatchObject({ window: 1, limit: 2 }); // a4 only
      expect(gates.find((s) => s.gate === g("p1#1"))).toMatchObject({ window: 3, limit: 3 });
      // Retention keeps what the longest period still needs.
      h.engine.sweep(5000);
      expect(h.store.logWindow("rate_limit", g("p1#1"), -1).count).toBe(3);
    },
  ],
  [
    "rate_limit list: a failing key of one entry names the entry",
    {
      rate_limit: [
        { period: 1000, max: 1 },
        { key: "event.payload.project.id", period: 1000, max: 1 },
      ],
    },
    (h) => {
      h.arrive("a", {}, 0);
      expect(h.outcomes.get("a")).toMatchObject({ kind: "skip", reason: "key_error", primitive: "rate_limit" });
      const outcome = h.outcomes.get("a") as { error: string };
      expect(outcome.error).toMatch(/^flow_control\.rate_limit\[1\]\.key: /);
      expect(h.store.logWindow("rate_limit", g("_global#0"), -1).count).toBe(0);
    },
  ],

  // ---- throttle ----
  [
    "throttle: excess waits FIFO until a slot frees (until = oldest entry + period) instead of dropping",
    { throttle: { period: 1000, max: 2 } },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", {}, 100);
      const c = h.arrive("c", {}, 200);
      expect(c).toMatchObject({ kind: "wait", primitive: "throttle", gate: g("_global"), until: 1000, eta: 1000 });
      const d = h.arrive("d", {}, 300);
      // Not the head: no timer of its own, an estimate of its slot (when b's entry expires).
      expect(d).toMatchObject({ kind: "wait", primitive: "throttle", until: null, eta: 1100 });
      const e = h.arrive("e", {}, 400);
      expect(e).toMatchObject({ kind: "wait", until: null, eta: 2000 }); // after c's slot (1000) expires
      expect(h.snapshotStates(["c", "d", "e"])).toEqual({
        c: "wait:throttle@1000",
        d: "wait:throttle",
        e: "wait:throttle",
      });

      h.tick(1000);
      expect(h.snapshotStates(["c", "d", "e"])).toEqual({ c: "admitted", d: "wait:throttle@1100", e: "wait:throttle" });
      h.tick(1100);
      expect(h.snapshotStates(["d", "e"])).toEqual({ d: "admitted", e: "wait:throttle@2000" });
      h.tick(5000);
      expect(h.admitted).toEqual([
        { id: "a", at: 0 },
        { id: "b", at: 100 },
        { id: "c", at: 1000 },
        { id: "d", at: 1100 },
        { id: "e", at: 2000 },
      ]);
      // Never more than max admissions in any window of one period.
      const times = h.admitted.map((a) => a.at);
      for (const t of times) expect(times.filter((x) => x > t - 1000 && x <= t).length).toBeLessThanOrEqual(2);
      expect(h.auditKinds("c")).toEqual(["throttle_wait", "throttle_acquired"]);
    },
  ],
  [
    "throttle list: a waiter goes once every window has a slot, FIFO per combination of keys",
    {
      throttle: [
        { key: "event.payload.user", period: 1000, max: 1 },
        { key: "event.payload.project", period: 1000, max: 2 },
      ],
    },
    (h) => {
      h.arrive("a", { user: "u1", project: "p1" }, 0);
      h.arrive("b", { user: "u2", project: "p1" }, 10); // the project's second slot
      const c = h.arrive("c", { user: "u3", project: "p1" }, 20); // its user is free, the project is not
      expect(c).toMatchObject({ kind: "wait", primitive: "throttle", gate: g("u3#0+p1#1"), until: 1000 });
      const d = h.arrive("d", { user: "u1", project: "p1" }, 30); // both full
      expect(d).toMatchObject({ kind: "wait", gate: g("u1#0+p1#1"), until: 1000 });
      const e = h.arrive("e", { user: "u1", project: "p1" }, 40); // behind d in its queue
      expect(e).toMatchObject({ kind: "wait", gate: g("u1#0+p1#1"), until: null });
      // At 1000 a's entries expire: one project slot. c's timer fires first and takes it; d waits for b's.
      h.tick(1000);
      expect(h.snapshotStates(["c", "d", "e"])).toEqual({ c: "admitted", d: "wait:throttle@1010", e: "wait:throttle" });
      h.tick(5000);
      expect(h.admitted).toEqual([
        { id: "a", at: 0 },
        { id: "b", at: 10 },
        { id: "c", at: 1000 },
        { id: "d", at: 1010 },
        { id: "e", at: 2010 }, // u1's window: d's slot at 1010 + 1000
      ]);
      // Every window held: never more than its max admissions in one period.
      const within = (ids: string[], max: number) => {
        const times = h.admitted.filter((x) => ids.includes(x.id)).map((x) => x.at);
        for (const t of times) expect(times.filter((x) => x > t - 1000 && x <= t).length).toBeLessThanOrEqual(max);
      };
      within(["a", "d", "e"], 1);
      within(["a", "b", "c", "d", "e"], 2);
      expect(h.audit.filter((x) => x.dispatch_id === "c").map((x) => [x.topic, x.kind])).toEqual([
        [flowTopic("throttle", g("u3#0+p1#1")), "throttle_wait"],
        [flowTopic("throttle", g("u3#0")), "throttle_acquired"],
        [flowTopic("throttle", g("p1#1")), "throttle_acquired"],
      ]);
      const gates = h.engine.snapshot(2010).gates;
      expect(gates.find((s) => s.gate === g("p1#1"))).toMatchObject({ primitive: "throttle", limit: 2 });
    },
  ],
  // ---- ordering ----
  [
    "ordering: one dispatch at a time per key, in received_at order, other keys in parallel, numbered per key",
    { ordering: { key: "event.payload.k", reorder_window: 1000 } },
    (h) => {
      h.watermark = 1_000_000; // every earlier event is routed: nobody waits for stragglers
      expect(h.arrive("a1", { k: "a" }, 0, 0)).toMatchObject({ kind: "admit", ordering: { key: "a", seq: 1 } });
      expect(h.arrive("a2", { k: "a" }, 10, 10)).toMatchObject({ kind: "wait", primitive: "ordering", until: null });
      expect(h.arrive("b1", { k: "b" }, 20, 20)).toMatchObject({ kind: "admit", ordering: { key: "b", seq: 1 } });
      // A late queue delivery of an event received before a2 goes ahead of it.
      h.arrive("a0", { k: "a" }, 30, 5);
      const done = h.finish("a1", 40);
      expect(done.others).toEqual([
        {
          dispatch_id: "a0",
          cause: "woken",
          outcome: expect.objectContaining({ kind: "admit", ordering: { key: "a", seq: 2 } }),
        },
      ]);
      expect(h.state("a2")).toBe("wait:ordering");
      h.finish("a0", 50);
      expect(h.outcomes.get("a2")).toMatchObject({ kind: "admit", ordering: { key: "a", seq: 3 } });
      expect(h.admittedOrder()).toEqual(["a1", "b1", "a0", "a2"]);
      expect(h.auditKinds("a0")).toEqual(["ordering_wait", "ordering_started", "ordering_released"]);
    },
  ],
  [
    "ordering: without a watermark the head waits reorder_window for stragglers; an arrival after that is late",
    { ordering: { key: "event.payload.k", reorder_window: 1000 } },
    (h) => {
      expect(h.arrive("x2", { k: "x" }, 100, 100)).toMatchObject({ kind: "wait", until: 1100 });
      // A straggler received earlier arrives within the window: it heads the line with its own deadline.
      expect(h.arrive("x1", { k: "x" }, 200, 50)).toMatchObject({ kind: "wait", until: 1050 });
      h.tick(1050);
      expect(h.outcomes.get("x1")).toMatchObject({ kind: "admit", ordering: { seq: 1 } });
      h.tick(1100); // x2's old timer: the line is held, so it waits without one
      expect(h.state("x2")).toBe("wait:ordering");
      h.finish("x1", 1200);
      expect(h.outcomes.get("x2")).toMatchObject({ kind: "admit", ordering: { seq: 2 } });
      // Received at 10, delivered long after its window: it still runs, next, audited late.
      h.arrive("x0", { k: "x" }, 1300, 10);
      h.finish("x2", 1400);
      expect(h.outcomes.get("x0")).toMatchObject({ kind: "admit", ordering: { seq: 3 } });
      expect(h.audit.find((a) => a.dispatch_id === "x0" && a.kind === "ordering.late")?.payload).toMatchObject({
        seq: 3,
        received_at: 10,
        after_received_at: 100,
      });
      expect(h.admittedOrder()).toEqual(["x1", "x2", "x0"]);
    },
  ],
  [
    "ordering: the watermark starts a waiting head before its window ends",
    { ordering: { key: "event.payload.k", reorder_window: 5000 } },
    (h) => {
      h.watermark = 0;
      h.arrive("m1", { k: "m" }, 100, 100);
      expect(h.state("m1")).toBe("wait:ordering@5100");
      h.advanceWatermark(150, 200);
      expect(h.state("m1")).toBe("admitted");
    },
  ],
  [
    "ordering: waiting keeps the line, block holds it behind a failure until unblocked, cancel frees a place",
    { ordering: { key: "event.payload.k", on_failure: "block" } },
    (h) => {
      h.watermark = 1_000_000;
      h.arrive("a1", { k: "a" }, 0, 0);
      h.arrive("a2", { k: "a" }, 10, 10);
      h.arrive("a3", { k: "a" }, 20, 20);
      h.arrive("a4", { k: "a" }, 30, 30);
      h.finish("a1", 40, { final: false, failed: false }); // a1 is `waiting`: still first in line
      expect(h.state("a2")).toBe("wait:ordering");
      h.finish("a1", 50, { final: true, failed: true }); // ended dlq
      expect(h.state("a2")).toBe("wait:ordering");
      expect(h.store.lineGet(g("a"))).toMatchObject({ blocked_by: "a1", seq: 1 });
      h.unblock("a1", 60);
      expect(h.outcomes.get("a2")).toMatchObject({ kind: "admit", ordering: { seq: 2 } });
      h.finish("a3", 70); // cancelled while waiting: its place is freed
      h.finish("a2", 80);
      expect(h.outcomes.get("a4")).toMatchObject({ kind: "admit", ordering: { seq: 3 } });
      expect(h.auditKinds("a1")).toEqual([
        "ordering_started",
        "ordering_released",
        "ordering_blocked",
        "ordering_unblocked",
      ]);
    },
  ],
  [
    "ordering comes before concurrency: a later event never holds a slot an earlier one needs",
    { ordering: { key: "event.payload.k" }, concurrency: { max: 1 } },
    (h) => {
      h.watermark = 1_000_000;
      h.arrive("a1", { k: "a" }, 0, 0);
      h.arrive("b1", { k: "b" }, 10, 10); // its line is free; waits for the slot
      h.arrive("a2", { k: "a" }, 20, 20); // waits in its line, holding no slot
      expect(h.snapshotStates()).toEqual({ a1: "admitted", b1: "wait:concurrency", a2: "wait:ordering" });
      h.finish("a1", 30);
      expect(h.state("b1")).toBe("admitted");
      expect(h.state("a2")).toBe("wait:concurrency"); // started its line (seq 2), now waits for the slot
      h.finish("b1", 40);
      expect(h.outcomes.get("a2")).toMatchObject({ kind: "admit", ordering: { key: "a", seq: 2 } });
    },
  ],
  [
    "throttle: a late alarm does not let a new arrival overtake the queue",
    { throttle: { period: 1000, max: 1 } },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", {}, 10); // head, until 1000
      h.arrive("c", {}, 20); // behind b
      // The alarm has not fired yet at 1500; x arrives. b takes the free slot first, x queues behind c.
      const x = h.arrive("x", {}, 1500);
      expect(h.state("b")).toBe("admitted");
      expect(h.state("c")).toBe("wait:throttle@2500");
      expect(x).toMatchObject({ kind: "wait", until: null, eta: 3500 });
      h.tick(4000);
      expect(h.admittedOrder()).toEqual(["a", "b", "c", "x"]);
      expect(h.admitted.map((a) => a.at)).toEqual([0, 1500, 2500, 3500]);
    },
  ],
  [
    "throttle: cancelling the head hands its timer to the next waiter",
    { throttle: { period: 1000, max: 1 } },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", {}, 100);
      h.arrive("c", {}, 200);
      const effects = h.finish("b", 300); // cancelled while waiting
      expect(effects.others).toEqual([
        {
          dispatch_id: "c",
          cause: "head_changed",
          outcome: { kind: "wait", primitive: "throttle", gate: g("_global"), until: 1000, eta: 1000 },
        },
      ]);
      expect(h.auditKinds("b")).toEqual(["throttle_wait", "throttle_cancelled"]);
      h.tick(1000);
      expect(h.admittedOrder()).toEqual(["a", "c"]);
    },
  ],
  [
    "throttle: an early timer re-waits without admitting",
    { throttle: { period: 1000, max: 1 } },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", {}, 100);
      const early = h.engine.onTimer("b", 500);
      expect(early).toMatchObject({ kind: "wait", primitive: "throttle", until: 1000, others: [] });
      expect(h.engine.onTimer("b", 1000)).toMatchObject({ kind: "admit" });
    },
  ],

  // ---- singleton ----
  [
    "singleton: held → skipped singleton_active; the lease lasts until release (across retry waits)",
    { singleton: { key: "event.payload.repo" } },
    (h) => {
      const a = h.arrive("a", { repo: "web" }, 0);
      expect(a).toMatchObject({ kind: "admit", leases: [{ primitive: "singleton", gate: g("web") }], batch: null });
      h.arrive("b", { repo: "web" }, 10);
      h.arrive("c", { repo: "api" }, 20);
      h.tick(60_000); // a is in a long retry wait: nothing is released between attempts
      h.arrive("d", { repo: "web" }, 60_000);
      expect(h.snapshotStates()).toEqual({
        a: "admitted",
        b: "skipped:singleton_active",
        c: "admitted",
        d: "skipped:singleton_active",
      });
      expect(h.audit.find((x) => x.dispatch_id === "b")?.payload).toEqual({
        gate: g("web"),
        dispatch_id: "b",
        holder: "a",
      });
      h.finish("a", 61_000);
      h.arrive("e", { repo: "web" }, 61_001);
      expect(h.state("e")).toBe("admitted");
      expect(h.auditKinds("a")).toEqual(["singleton_acquired", "singleton_released"]);
    },
  ],

  // ---- debounce ----
  [
    "debounce: trailing edge; superseded arrivals end debounced at once, the latest runs period after its arrival",
    { debounce: { key: "event.payload.key", period: 500 } },
    (h) => {
      expect(h.arrive("a", { key: "k" }, 0)).toMatchObject({ kind: "wait", primitive: "debounce", until: 500 });
      const b = h.arrive("b", { key: "k" }, 200);
      // a resolves now, not at its timer.
      expect(h.state("a")).toBe("skipped:debounced");
      expect(b.others).toEqual([
        {
          dispatch_id: "a",
          cause: "superseded",
          outcome: { kind: "skip", reason: "debounced", primitive: "debounce", gate: g("k"), error: null },
        },
      ]);
      expect(h.timers.has("a")).toBe(false);
      h.arrive("c", { key: "other" }, 300);
      h.tick(650);
      expect(h.snapshotStates()).toEqual({ a: "skipped:debounced", b: "wait:debounce@700", c: "wait:debounce@800" });
      h.tick(1000);
      expect(h.admitted).toEqual([
        { id: "b", at: 700 },
        { id: "c", at: 800 },
      ]);
      // The winner left the gate: a new arrival starts a new round.
      expect(h.arrive("d", { key: "k" }, 1000)).toMatchObject({ kind: "wait", until: 1500 });
      expect(h.state("b")).toBe("admitted");
      expect(h.auditKinds("a")).toEqual(["debounce_seen", "debounce_superseded"]);
      expect(h.auditKinds("b")).toEqual(["debounce_seen", "debounce_selected"]);
    },
  ],
  [
    "debounce: the winner goes on through later gates at its timer (rate_limit counted then)",
    { debounce: { key: "event.payload.key", period: 100 }, rate_limit: { period: 1000, max: 1 } },
    (h) => {
      h.arrive("a", { key: "x" }, 0);
      h.arrive("b", { key: "y" }, 10);
      h.tick(200);
      expect(h.snapshotStates()).toEqual({ a: "admitted", b: "skipped:rate_limited" });
    },
  ],

  [
    "debounce deliver all: the winner carries every event of the burst in arrival order",
    { debounce: { key: "event.payload.key", period: 500, deliver: "all" } },
    (h) => {
      h.arrive("a", { key: "k" }, 0);
      h.arrive("x", { key: "other" }, 50);
      h.arrive("b", { key: "k" }, 100);
      h.arrive("c", { key: "k" }, 200);
      expect(h.snapshotStates(["a", "b", "c"])).toEqual({
        a: "skipped:debounced",
        b: "skipped:debounced",
        c: "wait:debounce@700",
      });
      h.tick(700);
      expect(h.outcomes.get("c")).toEqual({
        kind: "admit",
        leases: [],
        batch: {
          gate: g("k"),
          members: [
            { dispatch_id: "a", event_id: "evt_a" },
            { dispatch_id: "b", event_id: "evt_b" },
            { dispatch_id: "c", event_id: "evt_c" },
          ],
        },
      });
      // A burst of one still delivers its one event; the next burst starts empty.
      expect(h.outcomes.get("x")).toMatchObject({ kind: "admit", batch: { members: [{ dispatch_id: "x" }] } });
      h.arrive("d", { key: "k" }, 800);
      h.tick(1300);
      expect(h.outcomes.get("d")).toMatchObject({ batch: { members: [{ dispatch_id: "d", event_id: "evt_d" }] } });
    },
  ],
  [
    "debounce: max_events ends a burst at once; the default deliver (last) carries no batch",
    { debounce: { key: "event.payload.key", period: 500, max_events: 3 } },
    (h) => {
      h.arrive("a", { key: "k" }, 0);
      h.arrive("b", { key: "k" }, 10);
      expect(h.arrive("c", { key: "k" }, 20)).toMatchObject({ kind: "admit", batch: null });
      expect(h.snapshotStates()).toEqual({ a: "skipped:debounced", b: "skipped:debounced", c: "admitted" });
      expect(h.audit.find((a) => a.dispatch_id === "c" && a.kind === "debounce_selected")?.payload).toMatchObject({
        reason: "max_events",
        events: 3,
      });
      // A new burst starts with the next arrival.
      expect(h.arrive("d", { key: "k" }, 30)).toMatchObject({ kind: "wait", until: 530 });
    },
  ],
  [
    "debounce: max_wait bounds a burst that never pauses (default 10 periods)",
    { debounce: { key: "event.payload.key", period: 100 } },
    (h) => {
      for (let i = 0; i < 12; i++) h.arrive(`e${i}`, { key: "k" }, i * 90);
      // e11 arrived at 990: its timer is the burst's bound (0 + 10 × 100), not 1090.
      expect(h.state("e11")).toBe("wait:debounce@1000");
      h.tick(1000);
      expect(h.admitted).toEqual([{ id: "e11", at: 1000 }]);
      // An arrival after the bound in a burst whose timer was late ends it at once.
      h.arrive("f0", { key: "j" }, 2000);
      for (let i = 1; i <= 11; i++) h.arrive(`f${i}`, { key: "j" }, 2000 + i * 95);
      expect(h.state("f11")).toBe("admitted");
      expect(h.audit.find((a) => a.dispatch_id === "f11" && a.kind === "debounce_selected")?.payload).toMatchObject({
        reason: "max_wait",
      });
    },
  ],
  [
    "debounce deliver all: a burst that waits at a later throttle keeps its events",
    {
      debounce: { key: "event.payload.key", period: 100, deliver: "all" },
      throttle: { period: 1000, max: 1 },
    },
    (h) => {
      h.arrive("a", { key: "x" }, 0);
      h.arrive("b", { key: "y" }, 10);
      h.arrive("c", { key: "y" }, 20);
      h.tick(200);
      expect(h.snapshotStates()).toEqual({ a: "admitted", b: "skipped:debounced", c: "wait:throttle@1100" });
      h.tick(1100);
      expect(h.outcomes.get("c")).toMatchObject({
        kind: "admit",
        batch: { members: [{ dispatch_id: "b" }, { dispatch_id: "c" }] },
      });
    },
  ],

  // ---- batch ----
  [
    "batch: flushes at size; leader continues with all members (leader first), followers end batch_merged",
    { batch: { key: "event.payload.repo", size: 3, timeout: 1000 } },
    (h) => {
      expect(h.arrive("a", { repo: "web" }, 0)).toMatchObject({ kind: "wait", primitive: "batch", until: 1000 });
      expect(h.arrive("b", { repo: "web" }, 10)).toMatchObject({ kind: "wait", until: null, eta: 1000 });
      h.arrive("x", { repo: "api" }, 15); // another group
      const c = h.arrive("c", { repo: "web" }, 20);
      expect(c).toMatchObject({ kind: "skip", reason: "batch_merged", primitive: "batch", gate: g("web") });
      expect(c.others).toEqual([
        {
          dispatch_id: "a",
          cause: "batch_flushed",
          outcome: {
            kind: "admit",
            leases: [],
            batch: {
              gate: g("web"),
              members: [
                { dispatch_id: "a", event_id: "evt_a" },
                { dispatch_id: "b", event_id: "evt_b" },
                { dispatch_id: "c", event_id: "evt_c" },
              ],
            },
          },
        },
        {
          dispatch_id: "b",
          cause: "batch_flushed",
          outcome: { kind: "skip", reason: "batch_merged", primitive: "batch", gate: g("web"), error: null },
        },
      ]);
      expect(h.snapshotStates()).toEqual({
        a: "admitted",
        b: "skipped:batch_merged",
        x: "wait:batch@1015",
        c: "skipped:batch_merged",
      });
      expect(h.timers.has("a")).toBe(false);
      expect(h.audit.find((e) => e.kind === "batch_dispatched")?.payload).toEqual({
        gate: g("web"),
        dispatch_id: "a",
        leader: "a",
        count: 3,
        members: ["a", "b", "c"],
        reason: "size",
      });
    },
  ],
  [
    "batch: flushes at the deadline with the members so far",
    { batch: { size: 10, timeout: 1000 } },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", {}, 500);
      h.tick(999);
      expect(h.state("a")).toBe("wait:batch@1000");
      h.tick(1000);
      expect(h.snapshotStates()).toEqual({ a: "admitted", b: "skipped:batch_merged" });
      expect(h.outcomes.get("a")).toMatchObject({
        batch: {
          members: [
            { dispatch_id: "a", event_id: "evt_a" },
            { dispatch_id: "b", event_id: "evt_b" },
          ],
        },
      });
      // The next arrival opens a new group.
      expect(h.arrive("c", {}, 1001)).toMatchObject({ kind: "wait", until: 2001 });
    },
  ],
  [
    "batch: an arrival after a missed deadline flushes the old group first and opens a new one",
    { batch: { size: 10, timeout: 1000 } },
    (h) => {
      h.arrive("a", {}, 0);
      const x = h.arrive("x", {}, 1500);
      expect(h.state("a")).toBe("admitted");
      expect(h.outcomes.get("a")).toMatchObject({ batch: { members: [{ dispatch_id: "a" }] } });
      expect(x).toMatchObject({ kind: "wait", primitive: "batch", until: 2500 });
    },
  ],
  [
    "batch: cancelling the leader promotes the next member with the same deadline",
    { batch: { size: 10, timeout: 1000 } },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", {}, 100);
      h.arrive("c", {}, 200);
      const effects = h.finish("a", 300);
      expect(effects.others).toEqual([
        {
          dispatch_id: "b",
          cause: "leader_promoted",
          outcome: { kind: "wait", primitive: "batch", gate: g("_global"), until: 1000, eta: 1000 },
        },
      ]);
      h.finish("c", 400); // a cancelled follower just leaves
      h.tick(1000);
      expect(h.outcomes.get("b")).toMatchObject({
        kind: "admit",
        batch: { members: [{ dispatch_id: "b", event_id: "evt_b" }] },
      });
    },
  ],
  [
    "batch: size 1 flushes immediately",
    { batch: { size: 1, timeout: 1000 } },
    (h) => {
      expect(h.arrive("a", {}, 0)).toMatchObject({
        kind: "admit",
        batch: { members: [{ dispatch_id: "a", event_id: "evt_a" }] },
        others: [],
      });
      expect(h.engine.snapshot(0).gates).toEqual([]);
    },
  ],

  // ---- concurrency + priority ----
  [
    "concurrency+priority (SPEC example): max 1, bronze#1 running, bronze#2 then gold arrive → gold runs first",
    {
      concurrency: { max: 1 },
      priority: { key: "event.payload.tier", order: ["gold", "silver", "bronze"] },
    },
    (h) => {
      h.arrive("bronze1", { tier: "bronze" }, 0);
      expect(h.arrive("bronze2", { tier: "bronze" }, 10)).toMatchObject({
        kind: "wait",
        primitive: "concurrency",
        until: null,
      });
      h.arrive("gold", { tier: "gold" }, 20);
      expect(h.snapshotStates()).toEqual({
        bronze1: "admitted",
        bronze2: "wait:concurrency",
        gold: "wait:concurrency",
      });
      const released = h.finish("bronze1", 100);
      expect(released.others).toEqual([
        {
          dispatch_id: "gold",
          cause: "woken",
          outcome: { kind: "admit", leases: [{ primitive: "concurrency", gate: g("_global") }], batch: null },
        },
      ]);
      expect(h.state("bronze2")).toBe("wait:concurrency");
      h.finish("gold", 200);
      expect(h.admittedOrder()).toEqual(["bronze1", "gold", "bronze2"]);
      expect(h.audit.find((a) => a.dispatch_id === "gold" && a.kind === "concurrency_wait")?.payload).toMatchObject({
        rank: 0,
        position: 0,
        active: 1,
        max: 1,
      });
    },
  ],
  [
    "concurrency+priority: FIFO within a rank; values missing from order rank last",
    {
      concurrency: { max: 1 },
      priority: { key: "event.payload.tier", order: ["gold", "bronze"] },
    },
    (h) => {
      h.arrive("run", { tier: "gold" }, 0);
      h.arrive("b1", { tier: "bronze" }, 1);
      h.arrive("other", { tier: "platinum" }, 2); // not in order → rank 2
      h.arrive("b2", { tier: "bronze" }, 3);
      h.arrive("g1", { tier: "gold" }, 4);
      h.arrive("b3", { tier: "bronze" }, 5);
      h.arrive("g2", { tier: "gold" }, 6);
      let t = 10;
      for (const id of ["run", "g1", "g2", "b1", "b2", "b3", "other"]) h.finish(id, t++);
      expect(h.admittedOrder()).toEqual(["run", "g1", "g2", "b1", "b2", "b3", "other"]);
    },
  ],
  [
    "concurrency: max 2 per key; releases wake one waiter per free slot",
    { concurrency: { key: "event.payload.account", max: 2 } },
    (h) => {
      for (const [i, id] of ["a1", "a2", "a3", "a4"].entries()) h.arrive(id, { account: "a" }, i);
      h.arrive("b1", { account: "b" }, 10);
      expect(h.snapshotStates()).toEqual({
        a1: "admitted",
        a2: "admitted",
        a3: "wait:concurrency",
        a4: "wait:concurrency",
        b1: "admitted",
      });
      h.finish("b1", 20); // another gate: nobody wakes on a
      expect(h.state("a3")).toBe("wait:concurrency");
      h.finish("a2", 21);
      expect(h.snapshotStates(["a3", "a4"])).toEqual({ a3: "admitted", a4: "wait:concurrency" });
      const snap = h.engine.snapshot(21).gates.find((s) => s.gate === g("a"));
      expect(snap).toEqual({
        primitive: "concurrency",
        gate: g("a"),
        limit: 2,
        window: null,
        active: 2,
        holders: ["a1", "a3"],
        waiting: 1,
        head: "a4",
        due: null,
        blocked_by: null,
      });
    },
  ],
  [
    "concurrency: a cancelled waiter leaves the queue; release is idempotent; cancelWait keeps leases",
    { singleton: { key: "event.payload.k" }, concurrency: { max: 1 } },
    (h) => {
      h.arrive("a", { k: "1" }, 0);
      h.arrive("b", { k: "2" }, 1); // holds singleton "2", waits for concurrency
      h.arrive("c", { k: "3" }, 2);
      const cancelled = h.engine.cancelWait("b", 3);
      expect(cancelled.others).toEqual([]);
      // b still holds its singleton lease until released.
      expect(h.store.leasesOf("b")).toEqual([{ primitive: "singleton", gate: g("2") }]);
      h.finish("b", 4);
      expect(h.store.leasesOf("b")).toEqual([]);
      h.finish("a", 5);
      expect(h.state("c")).toBe("admitted");
      expect(h.engine.release("a", 6)).toEqual({ others: [], audit: [] });
      expect(h.admittedOrder()).toEqual(["a", "c"]);
    },
  ],

  // ---- ordering: earlier gates consume capacity; resume from the waiting primitive ----
  [
    "order: rate_limit admits and logs, then singleton skips — the rate entry stays",
    { rate_limit: { period: 1000, max: 5 }, singleton: {} },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", {}, 10);
      expect(h.snapshotStates()).toEqual({ a: "admitted", b: "skipped:singleton_active" });
      expect(h.auditKinds("b")).toEqual(["rate_limit_allowed", "singleton_skipped"]);
      const rate = h.engine.snapshot(10).gates.find((s) => s.primitive === "rate_limit");
      expect(rate?.window).toBe(2);
    },
  ],
  [
    "order: a throttle waiter woken later continues to singleton and may skip there; its throttle slot stays used",
    { throttle: { period: 1000, max: 1 }, singleton: {} },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", {}, 10);
      h.tick(1000);
      expect(h.snapshotStates()).toEqual({ a: "admitted", b: "skipped:singleton_active" });
      expect(h.auditKinds("b")).toEqual(["throttle_wait", "throttle_acquired", "singleton_skipped"]);
      expect(h.engine.snapshot(1000).gates.find((s) => s.primitive === "throttle")?.window).toBe(1);
    },
  ],
  [
    "order: a concurrency waiter resumes at concurrency, not from the start (no second throttle entry)",
    { throttle: { period: 10_000, max: 10 }, concurrency: { max: 1 } },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", {}, 10);
      expect(h.state("b")).toBe("wait:concurrency");
      h.finish("a", 20);
      expect(h.state("b")).toBe("admitted");
      expect(h.auditKinds("b")).toEqual(["throttle_acquired", "concurrency_wait", "concurrency_acquired"]);
      expect(h.engine.snapshot(20).gates.find((s) => s.primitive === "throttle")?.window).toBe(2);
      expect(h.engine.resume("b", "throttle", 30)).toMatchObject({
        kind: "admit",
        leases: [{ primitive: "concurrency", gate: g("_global") }],
      });
    },
  ],
  [
    "order: throttle wait → woken → waits again at concurrency (its timer is dropped)",
    { throttle: { period: 1000, max: 1 }, concurrency: { max: 1 } },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", {}, 10);
      expect(h.state("b")).toBe("wait:throttle@1000");
      h.tick(1000);
      expect(h.state("b")).toBe("wait:concurrency");
      expect(h.timers.has("b")).toBe(false);
      h.finish("a", 1100);
      expect(h.state("b")).toBe("admitted");
    },
  ],

  // ---- keys ----
  [
    "keys: null / string / number / bool / object stringification; no key → _global",
    { rate_limit: { key: "event.payload.k", period: 1000, max: 1 }, singleton: {} },
    (h) => {
      const gates: Array<[unknown, string]> = [
        [null, "null"],
        ["x y", "x y"],
        [5, "5"],
        [2.5, "2.5"],
        [true, "true"],
        [{ b: 1, a: [2, "z"] }, '{"a":[2,"z"],"b":1}'],
        [[1, null], "[1,null]"],
      ];
      for (const [i, [k]] of gates.entries()) {
        h.arrive(`d${i}`, { k }, i);
        h.finish(`d${i}`, i); // free the singleton for the next one
      }
      const rateGates = h.audit.filter((a) => a.kind === "rate_limit_allowed").map((a) => a.payload.gate);
      expect(rateGates).toEqual(gates.map(([, key]) => g(key)));
      expect(h.audit.find((a) => a.kind === "singleton_acquired")?.payload.gate).toBe(g("_global"));
      const objectTopic = h.audit.find((a) => a.payload.gate === g('{"a":[2,"z"],"b":1}'))?.topic;
      expect(objectTopic).toBe("trigger.rate_limit.triage_v1___a___2__z____b__1_");
      expect(flowTopic("singleton", g("x y"))).toBe("trigger.singleton.triage_v1_x_y");
    },
  ],
  [
    "keys: very long keys are shortened with a hash, still one gate per distinct key",
    { rate_limit: { key: "event.payload.k", period: 1000, max: 1 } },
    (h) => {
      const long1 = "a".repeat(300);
      const long2 = `${"a".repeat(299)}b`;
      h.arrive("x", { k: long1 }, 0);
      h.arrive("y", { k: long2 }, 1);
      h.arrive("z", { k: long1 }, 2);
      expect(h.snapshotStates()).toEqual({ x: "admitted", y: "admitted", z: "skipped:rate_limited" });
      const gate = h.audit[0]?.payload.gate as string;
      expect(gate).toBe(g(gateKeyPart(long1)));
      expect(gate.length).toBeLessThan(200);
      expect(gateKeyPart(long1)).not.toBe(gateKeyPart(long2));
    },
  ],
  [
    "key errors: a failing key skips with key_error before any gate is touched",
    { rate_limit: { period: 1000, max: 5 }, singleton: { key: "event.payload.repo" } },
    (h) => {
      const d = h.arrive("a", { other: 1 }, 0);
      expect(d).toMatchObject({
        kind: "skip",
        reason: "key_error",
        primitive: "singleton",
        gate: null,
        error: "flow_control.singleton.key: No such key: repo",
      });
      expect(d.audit).toEqual([
        {
          topic: "trigger.singleton.triage_v1",
          kind: "key_error",
          dispatch_id: "a",
          payload: { gate: BINDING_KEY, dispatch_id: "a", error: "flow_control.singleton.key: No such key: repo" },
        },
      ]);
      // rate_limit precedes singleton but was not consumed.
      expect(h.engine.snapshot(0).gates).toEqual([]);
      expect(h.arrive("b", { repo: "web" }, 1).kind).toBe("admit");
    },
  ],
  [
    "key errors: a key that does not compile skips every dispatch with the compile error",
    { throttle: { key: "event.", period: 1000, max: 1 } },
    (h) => {
      expect(h.arrive("a", {}, 0)).toMatchObject({
        kind: "skip",
        reason: "key_error",
        primitive: "throttle",
        error: "flow_control.throttle.key: Expected IDENTIFIER, got EOF",
      });
    },
  ],
  [
    "key errors: optional chaining gives absent fields a key of their own",
    { singleton: { key: 'event.?payload.?repo.orValue("none")' } },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", { repo: "web" }, 1);
      h.arrive("c", {}, 2);
      expect(h.snapshotStates()).toEqual({ a: "admitted", b: "admitted", c: "skipped:singleton_active" });
      expect(h.store.leasesOf("a")).toEqual([{ primitive: "singleton", gate: g("none") }]);
    },
  ],
  [
    "key errors: a failing priority key ranks last instead of skipping",
    { concurrency: { max: 1 }, priority: { key: "event.payload.tier", order: ["gold"] } },
    (h) => {
      h.arrive("run", { tier: "gold" }, 0);
      h.arrive("broken", {}, 1);
      h.arrive("gold", { tier: "gold" }, 2);
      expect(h.audit.find((a) => a.dispatch_id === "broken")?.payload).toMatchObject({
        rank: 1,
        rank_error: "flow_control.priority.key: No such key: tier",
      });
      h.finish("run", 3);
      h.finish("gold", 4);
      expect(h.admittedOrder()).toEqual(["run", "gold", "broken"]);
    },
  ],

  // ---- API edges ----
  [
    "no flow control: admit with no leases",
    null,
    (h) => {
      expect(h.arrive("a", {}, 0)).toEqual({ kind: "admit", leases: [], batch: null, others: [], audit: [] });
      expect(h.engine.enabled).toBe(false);
    },
  ],
  [
    "admit is idempotent for a dispatch that waits or holds leases",
    { concurrency: { max: 1 } },
    (h) => {
      h.arrive("a", {}, 0);
      h.arrive("b", {}, 1);
      expect(h.engine.admit({ dispatchId: "b", eventId: "evt_b", event: {}, now: 2 })).toMatchObject({
        kind: "wait",
        primitive: "concurrency",
        others: [],
        audit: [],
      });
      expect(h.engine.admit({ dispatchId: "a", eventId: "evt_a", event: {}, now: 2 })).toMatchObject({
        kind: "admit",
        leases: [{ primitive: "concurrency", gate: g("_global") }],
      });
      expect(h.engine.snapshot(2).gates).toMatchObject([{ active: 1, waiting: 1, head: "b" }]);
      expect(h.engine.onTimer("unknown", 3)).toEqual({ kind: "none", others: [], audit: [] });
    },
  ],
  [
    "sweep: drops expired log entries and releases dispatches that are no longer live",
    { rate_limit: { key: "event.payload.k", period: 1000, max: 1 }, concurrency: { max: 1 } },
    (h) => {
      h.arrive("a", { k: "1" }, 0);
      h.arrive("b", { k: "2" }, 500);
      expect(h.engine.sweep(600).next_sweep_at).toBe(1000);
      const swept = h.engine.sweep(1200, (id) => id !== "a");
      expect(swept.next_sweep_at).toBe(1500);
      expect(swept.others).toEqual([
        { dispatch_id: "a", cause: "released", outcome: { kind: "none" } },
        {
          dispatch_id: "b",
          cause: "woken",
          outcome: { kind: "admit", leases: [{ primitive: "concurrency", gate: g("_global") }], batch: null },
        },
      ]);
      expect(h.engine.sweep(1600).next_sweep_at).toBe(null);
      expect(h.engine.snapshot(1600).gates).toMatchObject([{ primitive: "concurrency", active: 1, holders: ["b"] }]);
    },
  ],
  [
    "snapshot: per-gate leases, waiters, windows, open batches and debounce heads",
    {
      debounce: { key: "event.payload.k", period: 100 },
      rate_limit: { period: 1000, max: 10 },
      concurrency: { max: 1 },
    },
    (h) => {
      h.arrive("a", { k: "x" }, 0);
      h.tick(100);
      h.arrive("b", { k: "x" }, 200);
      h.tick(300);
      h.arrive("c", { k: "y" }, 310);
      const snap = h.engine.snapshot(310);
      expect(snap.total).toBe(3);
      expect(snap.gates).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ primitive: "debounce", gate: g("y"), waiting: 1, head: "c", due: 410 }),
          expect.objectContaining({ primitive: "rate_limit", gate: g("_global"), window: 2, limit: 10 }),
          expect.objectContaining({ primitive: "concurrency", gate: g("_global"), active: 1, waiting: 1, head: "b" }),
        ]),
      );
      expect(h.engine.snapshot(310, 1)).toMatchObject({ total: 3, truncated: true });
    },
  ],
];
