import { describe, expect, it } from "vitest";
import {
  BUCKETS,
  buildMetricFamilies,
  FINAL_DISPATCH_STATUSES,
  type HistogramRow,
  type MetricsSnapshot,
} from "../../../src/observability/metrics";
import { renderExposition } from "../../../src/observability/prometheus";
import { parseExposition } from "./exposition-grammar";

const emptyHistogram = (bounds: readonly number[]): HistogramRow => ({ n: 0, sum: 0, cumulative: bounds.map(() => 0) });

const snapshot: MetricsSnapshot = {
  dispatches: [
    // Two versions of one trigger sum into one series.
    { trigger: "triage", handler_kind: "https", status: "succeeded", n: 3 },
    { trigger: "triage", handler_kind: "https", status: "succeeded", n: 2 },
    { trigger: "triage", handler_kind: "https", status: "running", n: 1 },
    { trigger: "agent", handler_kind: "a2a", status: "waiting", n: 4 },
    { trigger: "agent", handler_kind: "a2a", status: "dlq", n: 1 },
  ],
  retries: [{ trigger: "triage", n: 6 }],
  dlqByReason: [
    { reason: "retry_exhausted", n: 2 },
    { reason: "circuit_open", n: 1 },
  ],
  dlqPending: 2,
  intakeAccepted: [
    { source: "github", n: 10 },
    { source: null, n: 5 },
  ],
  intakeCounters: [
    { source: "github", outcome: "duplicate", reason: "", n: 2 },
    { source: "github", outcome: "rejected", reason: "signature_invalid", n: 3 },
    { source: "github", outcome: "rejected", reason: "bad_request", n: 1 },
    { source: "_api", outcome: "rejected", reason: "validation_failed", n: 1 },
    { source: "github", outcome: "rejected", reason: "payload_too_large", n: 2 },
    { source: "_api", outcome: "rejected", reason: "payload_too_large", n: 1 },
    { source: "_console", outcome: "rejected", reason: "login_throttled", n: 4 },
  ],
  intakeRefusals: [
    { bucket: "global", n: 7 },
    { bucket: "source", n: 3 },
  ],
  circuitTransitions: [],
  queueAge: { n: 3, sum: 0.09, cumulative: BUCKETS.queueAge.map((le) => (le >= 0.05 ? 3 : le >= 0.02 ? 1 : 0)) },
  attemptDuration: emptyHistogram(BUCKETS.attemptDuration),
  dlqAge: emptyHistogram(BUCKETS.dlqAge),
};

describe("buildMetricFamilies (SPEC 14)", () => {
  const families = buildMetricFamilies(snapshot);
  const family = (name: string) => families.find((f) => f.name === name);
  const samples = (name: string) => {
    const f = family(name);
    return f && f.type !== "histogram" ? f.samples : [];
  };

  it("final statuses form a counter, statuses a dispatch can leave form a gauge", () => {
    expect(FINAL_DISPATCH_STATUSES).toEqual(["succeeded", "skipped", "dlq", "failed", "cancelled"]);
    expect(family("switchyard_dispatches_total")?.type).toBe("counter");
    expect(samples("switchyard_dispatches_total")).toEqual([
      { labels: { trigger: "agent", handler_kind: "a2a", status: "dlq" }, value: 1 },
      { labels: { trigger: "triage", handler_kind: "https", status: "succeeded" }, value: 5 },
    ]);
    expect(family("switchyard_dispatches_open")?.type).toBe("gauge");
    expect(samples("switchyard_dispatches_open")).toEqual([
      { labels: { trigger: "agent", handler_kind: "a2a", status: "waiting" }, value: 4 },
      { labels: { trigger: "triage", handler_kind: "https", status: "running" }, value: 1 },
    ]);
  });

  it("intake counts accepted from events (API publishes as _api) and duplicates/rejections from counters", () => {
    expect(samples("switchyard_intake_total")).toEqual(
      expect.arrayContaining([
        { labels: { source: "github", outcome: "accepted" }, value: 10 },
        { labels: { source: "_api", outcome: "accepted" }, value: 5 },
        { labels: { source: "github", outcome: "duplicate" }, value: 2 },
        { labels: { source: "github", outcome: "rejected" }, value: 6 },
        { labels: { source: "_api", outcome: "rejected" }, value: 2 },
      ]),
    );
    expect(samples("switchyard_intake_total")).toHaveLength(5);
    expect(samples("switchyard_intake_rejected_total")).toHaveLength(5);
  });

  it("counts refusals by the limit that applied: intake rate (503), body size (413), logins (429)", () => {
    expect(samples("switchyard_refusals_total")).toEqual([
      { labels: { reason: "body_bytes", status: "413" }, value: 3 },
      { labels: { reason: "intake_global", status: "503" }, value: 7 },
      { labels: { reason: "intake_source", status: "503" }, value: 3 },
      { labels: { reason: "login_throttled", status: "429" }, value: 4 },
    ]);
  });

  it("declares the circuit family with no series until the breaker persists transitions", () => {
    expect(family("switchyard_circuit_transitions_total")).toMatchObject({ type: "counter", samples: [] });
  });

  it("renders an exposition that parses under the text-format grammar", () => {
    const parsed = parseExposition(renderExposition(families));
    const value = (name: string, labels: Record<string, string> = {}) =>
      parsed.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
    expect(value("switchyard_dlq_pending")).toBe(2);
    expect(value("switchyard_dlq_total", { reason: "retry_exhausted" })).toBe(2);
    expect(value("switchyard_retries_total", { trigger: "triage" })).toBe(6);
    expect(value("switchyard_queue_age_seconds_bucket", { le: "0.01" })).toBe(0);
    expect(value("switchyard_queue_age_seconds_bucket", { le: "0.02" })).toBe(1);
    expect(value("switchyard_queue_age_seconds_bucket", { le: "+Inf" })).toBe(3);
    expect(value("switchyard_queue_age_seconds_sum")).toBe(0.09);
    expect(value("switchyard_attempt_duration_seconds_count")).toBe(0);
    // Every family is declared once, with HELP and TYPE.
    const text = renderExposition(families);
    for (const f of families) {
      expect(text).toContain(`# HELP ${f.name} `);
      expect(text).toContain(`# TYPE ${f.name} ${f.type}`);
    }
  });

  it("bucket bounds ascend", () => {
    for (const bounds of Object.values(BUCKETS)) expect([...bounds].sort((a, b) => a - b)).toEqual([...bounds]);
  });
});
