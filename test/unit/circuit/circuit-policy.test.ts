import { describe, expect, it } from "vitest";
import {
  abandonProbe,
  advanceCircuit,
  applyReport,
  attemptRef,
  type Circuit,
  type CircuitSettings,
  CLOSED_CIRCUIT,
  circuitErrors,
  circuitOutcomeOf,
  circuitSettingsOf,
  decideCheck,
  nextWakeAt,
  probeLeaseMs,
  type ReportOutcome,
  reportChangesCircuit,
  retryAfterSeconds,
  type Transition,
  viewCircuit,
} from "../../../src/circuit/circuit-policy";
import type { HandlerResult } from "../../../src/contracts/dispatch";

const DEST = "https:https://api.example.com/hook";
const T0 = 1_700_000_000_000;
const SETTINGS: CircuitSettings = { threshold: 3, cooldown_ms: 10_000 };
const LEASE = 5_000;

/** A scripted run over one circuit: each step is a check or a report at an absolute time. */
type Op =
  | { at: number; check: string; expect: "allow" | "probe" | "refuse"; retry_after_s?: number }
  | {
      at: number;
      report: string;
      outcome: ReportOutcome;
      settings?: CircuitSettings;
      expect: { opened: boolean; state: Circuit["state"]; failures: number; probe?: boolean };
    };

function run(ops: Op[], start: Circuit = { ...CLOSED_CIRCUIT }): { circuit: Circuit; transitions: Transition[] } {
  let circuit = start;
  const transitions: Transition[] = [];
  for (const [i, op] of ops.entries()) {
    const label = `op ${i} at +${op.at}`;
    if ("check" in op) {
      const step = decideCheck(circuit, { destination: DEST, ref: op.check, now: T0 + op.at, probe_lease_ms: LEASE });
      const got = step.answer.allow ? (step.answer.probe ? "probe" : "allow") : "refuse";
      expect(got, label).toBe(op.expect);
      if (op.retry_after_s !== undefined && !step.answer.allow) {
        expect(step.answer.retry_after_s, label).toBe(op.retry_after_s);
      }
      circuit = step.circuit;
      transitions.push(...step.transitions);
    } else {
      const step = applyReport(circuit, {
        destination: DEST,
        ref: op.report,
        outcome: op.outcome,
        error: "HTTP 503",
        settings: op.settings ?? SETTINGS,
        now: T0 + op.at,
      });
      expect(step.answer, label).toMatchObject(op.expect);
      circuit = step.circuit;
      transitions.push(...step.transitions);
    }
  }
  return { circuit, transitions };
}

const fail = (ref: string, at: number, opened: boolean, state: Circuit["state"], failures: number): Op => ({
  at,
  report: ref,
  outcome: "retryable_failure",
  expect: { opened, state, failures },
});

/** Three failures at +0, +1, +2 open the circuit at +2 (threshold 3); the cooldown ends at +10_002. */
const TRIP: Op[] = [
  fail("a#1", 0, false, "closed", 1),
  fail("b#1", 1, false, "closed", 2),
  fail("c#1", 2, true, "open", 3),
];
const COOLDOWN_END = 2 + SETTINGS.cooldown_ms;

describe("circuit policy (SPEC 10)", () => {
  it.each<[string, Op[], Circuit["state"], number]>([
    ["opens on the threshold-th consecutive failure", TRIP, "open", 3],
    [
      "a success in between resets the count",
      [
        fail("a#1", 0, false, "closed", 1),
        fail("b#1", 1, false, "closed", 2),
        { at: 2, report: "c#1", outcome: "success", expect: { opened: false, state: "closed", failures: 0 } },
        fail("d#1", 3, false, "closed", 1),
        fail("e#1", 4, false, "closed", 2),
      ],
      "closed",
      2,
    ],
    [
      "neutral outcomes neither count nor reset",
      [
        fail("a#1", 0, false, "closed", 1),
        { at: 1, report: "b#1", outcome: "neutral", expect: { opened: false, state: "closed", failures: 1 } },
        fail("c#1", 2, false, "closed", 2),
        { at: 3, report: "d#1", outcome: "neutral", expect: { opened: false, state: "closed", failures: 2 } },
        fail("e#1", 4, true, "open", 3),
      ],
      "open",
      3,
    ],
    [
      "stragglers failing while open change nothing (no count, no longer cooldown)",
      [...TRIP, fail("x#1", 5_000, false, "open", 3)],
      "open",
      3,
    ],
    [
      "a success while open closes and resets",
      [
        ...TRIP,
        { at: 100, report: "x#1", outcome: "success", expect: { opened: false, state: "closed", failures: 0 } },
      ],
      "closed",
      0,
    ],
    [
      "the reporter's threshold decides: a threshold-1 binding trips a count another binding started",
      [
        fail("a#1", 0, false, "closed", 1),
        {
          at: 1,
          report: "b#1",
          outcome: "retryable_failure",
          settings: { threshold: 2, cooldown_ms: 500 },
          expect: { opened: true, state: "open", failures: 2 },
        },
      ],
      "open",
      2,
    ],
  ])("%s", (_name, ops, state, failures) => {
    const { circuit } = run(ops);
    expect(circuit.state).toBe(state);
    expect(circuit.failures).toBe(failures);
  });

  it("refuses while open and goes half-open after the cooldown of the report that opened it", () => {
    const { circuit, transitions } = run([
      ...TRIP,
      { at: 3, check: "n#1", expect: "refuse", retry_after_s: 10 },
      { at: COOLDOWN_END - 1, check: "n#1", expect: "refuse", retry_after_s: 1 },
      { at: COOLDOWN_END, check: "n#1", expect: "probe" },
    ]);
    expect(circuit).toMatchObject({ state: "half_open", probe: { ref: "n#1", until: T0 + COOLDOWN_END + LEASE } });
    expect(transitions.map((t) => [t.from, t.to, t.reason])).toEqual([
      ["closed", "open", "threshold"],
      ["open", "half_open", "cooldown_elapsed"],
    ]);
  });

  it("uses the cooldown of the tripping report, not later checks' settings", () => {
    const { circuit } = run([
      fail("a#1", 0, false, "closed", 1),
      {
        at: 1,
        report: "b#1",
        outcome: "retryable_failure",
        settings: { threshold: 2, cooldown_ms: 2_000 },
        expect: { opened: true, state: "open", failures: 2 },
      },
    ]);
    expect(circuit.next_probe_at).toBe(T0 + 1 + 2_000);
  });

  it("admits one probe at a time; the probe's own re-check gets it back", () => {
    run([
      ...TRIP,
      { at: COOLDOWN_END, check: "p#1", expect: "probe" },
      { at: COOLDOWN_END + 1, check: "q#1", expect: "refuse", retry_after_s: 5 },
      { at: COOLDOWN_END + 2, check: "r#1", expect: "refuse" },
      { at: COOLDOWN_END + 3, check: "p#1", expect: "probe" },
    ]);
  });

  it("the probe's success closes, resets and lets everyone through", () => {
    const { circuit, transitions } = run([
      ...TRIP,
      { at: COOLDOWN_END, check: "p#1", expect: "probe" },
      {
        at: COOLDOWN_END + 50,
        report: "p#1",
        outcome: "success",
        expect: { opened: false, state: "closed", failures: 0, probe: true },
      },
      { at: COOLDOWN_END + 51, check: "q#1", expect: "allow" },
    ]);
    expect(circuit).toEqual(CLOSED_CIRCUIT);
    expect(transitions.at(-1)).toMatchObject({ from: "half_open", to: "closed", reason: "probe_succeeded" });
  });

  it("the probe's failure re-opens for a full cooldown and reports the opened text", () => {
    const failAt = COOLDOWN_END + 100;
    const step = applyReport(run([...TRIP, { at: COOLDOWN_END, check: "p#1", expect: "probe" }]).circuit, {
      destination: DEST,
      ref: "p#1",
      outcome: "retryable_failure",
      error: "HTTP 503",
      settings: SETTINGS,
      now: T0 + failAt,
    });
    expect(step.answer).toEqual({
      opened: true,
      probe: true,
      state: "open",
      failures: 4,
      error: `destination circuit opened for ${DEST} after 4 consecutive failures: HTTP 503`,
    });
    expect(step.circuit).toMatchObject({ opened_at: T0 + failAt, next_probe_at: T0 + failAt + 10_000, probe: null });
    expect(step.transitions).toEqual([
      { from: "half_open", to: "open", reason: "probe_failed", failures: 4, at: T0 + failAt },
    ]);
  });

  it("a failure from a non-probe while half-open changes nothing", () => {
    const { circuit } = run([
      ...TRIP,
      { at: COOLDOWN_END, check: "p#1", expect: "probe" },
      fail("straggler#1", COOLDOWN_END + 1, false, "half_open", 3),
    ]);
    expect(circuit.probe?.ref).toBe("p#1");
  });

  it("a neutral probe frees the slot without closing or re-opening", () => {
    run([
      ...TRIP,
      { at: COOLDOWN_END, check: "p#1", expect: "probe" },
      {
        at: COOLDOWN_END + 1,
        report: "p#1",
        outcome: "neutral",
        expect: { opened: false, state: "half_open", failures: 3, probe: true },
      },
      { at: COOLDOWN_END + 2, check: "q#1", expect: "probe" },
    ]);
  });

  it("a probe that never reports stops blocking once its lease ends", () => {
    const { circuit } = run([
      ...TRIP,
      { at: COOLDOWN_END, check: "dead#1", expect: "probe" },
      { at: COOLDOWN_END + LEASE - 1, check: "q#1", expect: "refuse", retry_after_s: 1 },
      { at: COOLDOWN_END + LEASE, check: "q#1", expect: "probe" },
      // The dead probe's late failure is no longer the probe's: ignored.
      fail("dead#1", COOLDOWN_END + LEASE + 1, false, "half_open", 3),
      // Its late success would still close the circuit (a success at any time closes).
      {
        at: COOLDOWN_END + LEASE + 2,
        report: "dead#1",
        outcome: "success",
        expect: { opened: false, state: "closed", failures: 0, probe: false },
      },
    ]);
    expect(circuit.state).toBe("closed");
  });

  it("abandon gives the probe slot back only to its holder", () => {
    const half = run([...TRIP, { at: COOLDOWN_END, check: "p#1", expect: "probe" }]).circuit;
    expect(abandonProbe(half, "other#1", T0 + COOLDOWN_END + 1).answer.released).toBe(false);
    const freed = abandonProbe(half, "p#1", T0 + COOLDOWN_END + 1);
    expect(freed.answer.released).toBe(true);
    expect(freed.circuit.probe).toBeNull();
  });
});

describe("texts and numbers", () => {
  it.each<[number, number]>([
    [1, 1],
    [0, 1],
    [-5_000, 1],
    [999, 1],
    [1_000, 1],
    [1_001, 2],
    [59_999, 60],
    [60_000, 60],
  ])("retry after %d ms → %d s (whole seconds, at least 1)", (left, seconds) => {
    expect(retryAfterSeconds(T0 + left, T0)).toBe(seconds);
  });

  it("the open text carries the rounded retry hint", () => {
    const { circuit } = run(TRIP);
    const step = decideCheck(circuit, { destination: DEST, ref: "n#1", now: T0 + 2 + 8_500, probe_lease_ms: LEASE });
    expect(step.answer).toEqual({
      allow: false,
      state: "open",
      retry_after_s: 2,
      error: `destination circuit open for ${DEST}; retry after 2s`,
    });
  });

  it("the opened text names the destination, the count and the error", () => {
    expect(circuitErrors.opened("worker:worker://jobs", 5, "timed out")).toBe(
      "destination circuit opened for worker:worker://jobs after 5 consecutive failures: timed out",
    );
    expect(circuitErrors.open("worker:worker://jobs", 60)).toBe(
      "destination circuit open for worker:worker://jobs; retry after 60s",
    );
  });

  it("settings default per SPEC 10 and the lease adds a grace period", () => {
    expect(circuitSettingsOf(undefined)).toEqual({ threshold: 5, cooldown_ms: 60_000, mode: "dlq" });
    expect(circuitSettingsOf({ threshold: 2, cooldown_ms: 1_000, mode: "hold" })).toEqual({
      threshold: 2,
      cooldown_ms: 1_000,
      mode: "hold",
    });
    expect(probeLeaseMs(30_000)).toBe(60_000);
    expect(attemptRef("b@v1|evt_1", 2)).toBe("b@v1|evt_1#2");
  });
});

describe("views and wake-ups", () => {
  const open = run(TRIP).circuit;

  it("shows the lazy half-open state and when the next probe may start", () => {
    expect(viewCircuit(open, T0 + 5)).toEqual({
      state: "open",
      failures: 3,
      opened_at: T0 + 2,
      next_probe_at: T0 + COOLDOWN_END,
    });
    expect(viewCircuit(open, T0 + COOLDOWN_END + 7)).toMatchObject({
      state: "half_open",
      next_probe_at: T0 + COOLDOWN_END + 7,
    });
    const probing = decideCheck(open, { destination: DEST, ref: "p#1", now: T0 + COOLDOWN_END, probe_lease_ms: LEASE });
    expect(viewCircuit(probing.circuit, T0 + COOLDOWN_END + 1).next_probe_at).toBe(T0 + COOLDOWN_END + LEASE);
    expect(viewCircuit(CLOSED_CIRCUIT, T0)).toEqual({
      state: "closed",
      failures: 0,
      opened_at: null,
      next_probe_at: null,
    });
  });

  it("advanceCircuit is a no-op before the cooldown ends", () => {
    expect(advanceCircuit(open, T0 + COOLDOWN_END - 1)).toEqual({ circuit: open, transitions: [], answer: null });
  });

  it.each<[string, Circuit, number, number, number | null]>([
    ["nothing parked", open, 0, 0, null],
    ["open: at the end of the cooldown", open, 2, 0, T0 + COOLDOWN_END],
    ["closed: now", CLOSED_CIRCUIT, 2, 0, T0 + 100],
    ["closed with release backoff: at the backoff", CLOSED_CIRCUIT, 2, T0 + 900, T0 + 900],
    [
      "half-open with a running probe: at its lease end",
      { ...open, state: "half_open", probe: { ref: "p#1", until: T0 + 50_000 } },
      1,
      0,
      T0 + 50_000,
    ],
    ["half-open with the slot free: now", { ...open, state: "half_open", probe: null }, 1, 0, T0 + 100],
  ])("next wake-up, %s", (_name, circuit, parked, earliest, expected) => {
    expect(nextWakeAt(circuit, T0 + 100, parked, earliest)).toBe(expected);
  });
});

describe("circuitOutcomeOf", () => {
  const retryable = (
    kind: "http_status" | "timeout" | "network" | "lease_expired" | "circuit_open",
  ): HandlerResult => ({
    kind: "retryable",
    error: "x",
    cause: { kind },
    retry_after_ms: null,
  });
  it.each<[string, HandlerResult, boolean, ReportOutcome]>([
    ["success", { kind: "success", result: null }, false, "success"],
    ["waiting", { kind: "waiting", message: "later" }, false, "neutral"],
    ["denied", { kind: "denied", error: "no" }, false, "neutral"],
    ["invalid", { kind: "invalid", error: "bad" }, false, "neutral"],
    ["HTTP 5xx", retryable("http_status"), false, "retryable_failure"],
    ["timeout", retryable("timeout"), false, "retryable_failure"],
    ["network", retryable("network"), false, "retryable_failure"],
    ["aborted by a cancel request", retryable("network"), true, "neutral"],
    ["lease expired (runner died)", retryable("lease_expired"), false, "neutral"],
    ["circuit open", retryable("circuit_open"), false, "neutral"],
  ])("%s", (_name, result, aborted, outcome) => {
    expect(circuitOutcomeOf(result, aborted)).toBe(outcome);
  });
});

describe("reportChangesCircuit: which outcomes must reach the Destination", () => {
  const outcomes: ReportOutcome[] = ["success", "retryable_failure", "neutral"];
  /** Every allow answer a check can give, with the circuit it was given from. */
  const allowed: [string, Circuit, string][] = [
    ["closed, no failures", { ...CLOSED_CIRCUIT }, "a#1"],
    ["closed, one failure", { ...CLOSED_CIRCUIT, failures: 1 }, "a#1"],
    ["half-open probe", { state: "open", failures: 3, opened_at: T0, next_probe_at: T0 + 10, probe: null }, "p#1"],
  ];
  it.each(allowed.flatMap(([name, circuit, ref]) => outcomes.map((o) => [name, circuit, ref, o] as const)))(
    "%s, %s: skipped only when the report would change nothing",
    (_name, circuit, ref, outcome) => {
      const now = T0 + 100;
      const check = decideCheck(circuit, { destination: DEST, ref, now, probe_lease_ms: LEASE });
      if (!check.answer.allow) throw new Error("expected an allow answer");
      const report = applyReport(check.circuit, { destination: DEST, ref, outcome, settings: SETTINGS, now: now + 5 });
      const unchanged =
        JSON.stringify(report.circuit) === JSON.stringify(check.circuit) && report.transitions.length === 0;
      expect(reportChangesCircuit(check.answer, outcome)).toBe(!unchanged);
    },
  );
});
