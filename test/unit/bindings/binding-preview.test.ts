/** SPEC 5.4: the preview's decisions, on controlled event times, with no I/O. */
import { describe, expect, it } from "vitest";
import { type PreviewEvent, previewSpec } from "../../../src/bindings/binding-preview";
import { type BindingSpec, bindingSpecSchema } from "../../../src/contracts/binding-spec";

const T0 = Date.parse("2026-12-01T10:00:00.000Z");
let n = 0;

function ev(
  at: number,
  payload: Record<string, unknown> = {},
  kind = "issues.opened",
  provider = "github",
): PreviewEvent {
  n++;
  const id = `evt_${String(n).padStart(4, "0")}`;
  return {
    event: {
      id,
      provider,
      kind,
      received_at: new Date(T0 + at).toISOString(),
      occurred_at: null,
      dedupe_key: id,
      trace_id: `trace_${id}`,
      tenant_id: null,
      headers: {},
      payload,
      signature_status: { state: "verified" },
    },
    target: null,
  };
}

const spec = (extra: Record<string, unknown> = {}): BindingSpec =>
  bindingSpecSchema.parse({
    provider: "github",
    events: ["issues.opened"],
    handler: "https://example.com/h",
    ...extra,
  });

const run = (s: BindingSpec, events: PreviewEvent[], assumeDurationMs = 0, endAt = T0 + 3_600_000) =>
  previewSpec(s, events, { assumeDurationMs, endAt });

const outcomes = (answer: ReturnType<typeof run>) => answer.items.map((i) => [i.outcome, i.reason ?? null]);

describe("previewSpec", () => {
  it("matches, evaluates the CEL predicate and leaves classifiers uncalled, in received_at order", () => {
    const late = ev(300, { n: 3 });
    const events = [
      ev(0, { n: 1 }),
      ev(100, {}, "issues.closed"),
      ev(200, {}, "push", "gitlab"),
      late,
      ev(250, { n: 0 }),
    ];
    const answer = run(spec({ when: "event.payload.?n.orValue(0) > 0" }), events);
    expect(answer.items.map((i) => i.received_at)).toEqual([...answer.items.map((i) => i.received_at)].sort());
    expect(outcomes(answer)).toEqual([
      ["dispatch", null],
      ["no_match", null],
      ["no_match", null],
      ["skipped", "predicate returned false"],
      ["dispatch", null],
    ]);
    expect(answer.items[3]).toMatchObject({ stage: "predicate" });
    expect(answer.summary).toMatchObject({
      dispatch: 2,
      no_match: 2,
      skipped: 1,
      skipped_by_reason: { "predicate returned false": 1 },
    });
    expect(answer.evaluated).toBe(5);

    const classified = run(spec({ when: { classifier: "service://CLASSIFIER/classify" } }), [ev(0)]);
    expect(classified.items[0]).toMatchObject({ outcome: "unknown", stage: "predicate" });
  });

  it("simulates rate limits on the events' own times, naming a stacked limit", () => {
    const s = spec({
      flow_control: {
        rate_limit: [
          { key: "event.payload.user", period: "1m", max: 1 },
          { key: "event.payload.project", period: "1h", max: 2 },
        ],
      },
    });
    const answer = run(s, [
      ev(0, { user: "a", project: "p" }),
      ev(1_000, { user: "a", project: "p" }),
      ev(2_000, { user: "b", project: "p" }),
      ev(3_000, { user: "c", project: "p" }),
      ev(61_000, { user: "a", project: "q" }),
    ]);
    expect(answer.items.map((i) => [i.outcome, i.reason ?? null, i.limit_index ?? null])).toEqual([
      ["dispatch", null, null],
      ["skipped", "rate_limited", 0],
      ["dispatch", null, null],
      ["skipped", "rate_limited", 1],
      ["dispatch", null, null],
    ]);
    expect(answer.summary.skipped_by_reason).toEqual({ rate_limited: 2 });
  });

  it("merges batch followers into their leader and reports a group still open at the end as waits", () => {
    const s = spec({ flow_control: { batch: { size: 2, timeout: "10s" } } });
    const events = [ev(0), ev(1_000), ev(2_000)];
    const answer = run(s, events, 0, T0 + 5_000);
    expect(answer.items.map((i) => [i.outcome, i.group ?? null])).toEqual([
      ["dispatch", null],
      ["merged", events[0]?.event.id],
      ["waits", null],
    ]);
    // Past the deadline the last group flushes alone.
    expect(run(s, [ev(0), ev(1_000), ev(2_000)], 0, T0 + 60_000).items.at(-1)?.outcome).toBe("dispatch");
  });

  it("debounces: superseded events are skipped, the last of a burst dispatches", () => {
    const s = spec({ flow_control: { debounce: { key: "event.payload.repo", period: "5s" } } });
    const answer = run(s, [
      ev(0, { repo: "r" }),
      ev(1_000, { repo: "r" }),
      ev(2_000, { repo: "s" }),
      ev(20_000, { repo: "r" }),
    ]);
    expect(outcomes(answer)).toEqual([
      ["skipped", "debounced"],
      ["dispatch", null],
      ["dispatch", null],
      ["dispatch", null],
    ]);
  });

  it("holds by concurrency while an assumed-running dispatch has the slot", () => {
    const s = spec({ flow_control: { concurrency: { max: 1 } } });
    const events = [ev(0), ev(500), ev(5_000)];
    expect(outcomes(run(s, events, 1_000))).toEqual([
      ["dispatch", null],
      ["waits", "concurrency"],
      ["dispatch", null],
    ]);
    expect(outcomes(run(s, [ev(0), ev(500)], 0))).toEqual([
      ["dispatch", null],
      ["dispatch", null],
    ]);
  });

  it("asks for approval once the hour's autonomous decisions are used up", () => {
    const s = spec({ autonomy: { tier: "act_auto", max_decisions_per_hour: 2 } });
    const answer = run(s, [ev(0), ev(1_000), ev(2_000), ev(3_600_000)]);
    expect(outcomes(answer)).toEqual([
      ["dispatch", null],
      ["dispatch", null],
      ["needs_approval", "hourly_decision_limit_reached"],
      ["dispatch", null],
    ]);
    expect(answer.items[2]).toMatchObject({ stage: "autonomy" });
  });

  it("holds an ordering line while its dispatch runs, in received_at order", () => {
    const s = spec({ flow_control: { ordering: { key: "event.payload.account" } } });
    const events = [
      ev(0, { account: "a" }),
      ev(100, { account: "a" }),
      ev(200, { account: "b" }),
      ev(2_000, { account: "a" }),
    ];
    expect(outcomes(run(s, events, 1_000))).toEqual([
      ["dispatch", null],
      ["waits", "ordering"],
      ["dispatch", null],
      ["dispatch", null],
    ]);
  });
});
