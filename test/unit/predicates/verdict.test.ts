import { describe, expect, it } from "vitest";
import {
  cachedVerdict,
  evaluateCelPredicate,
  judgeClassifier,
  parseClassifierAnswer,
} from "../../../src/predicates/verdict";

const pushEvent = {
  provider: "github",
  kind: "push",
  payload: { ref: "refs/heads/main", repository: { full_name: "acme/app" }, commits: [{ id: "a" }, { id: "b" }] },
};

describe("CEL predicates", () => {
  it("true and false", () => {
    expect(evaluateCelPredicate('event.payload.ref == "refs/heads/main"', pushEvent)).toMatchObject({
      result: true,
      failed: false,
      reason: null,
    });
    expect(evaluateCelPredicate("size(event.payload.commits) > 5", pushEvent)).toMatchObject({
      result: false,
      failed: false,
      reason: "predicate returned false",
    });
  });

  it("a runtime error is a failure with the error as reason", () => {
    const v = evaluateCelPredicate("event.payload.pull_request.draft == false", pushEvent);
    expect(v.result).toBe(false);
    expect(v.failed).toBe(true);
    expect(v.reason).toMatch(/pull_request/);
  });

  it("a non-bool result is a failure", () => {
    const v = evaluateCelPredicate("event.payload.repository.full_name", pushEvent);
    expect(v).toMatchObject({
      result: false,
      failed: true,
      reason: 'predicate must return a bool, got string: "acme/app"',
    });
  });
});

describe("classifier answers", () => {
  it("reads null optional fields as absent (pydantic and serde write them that way)", () => {
    expect(parseClassifierAnswer({ pass: true, reason: null, cost_usd: 0, tokens: 0 })).toEqual({
      ok: true,
      answer: { pass: true, cost_usd: 0, tokens: 0 },
    });
    expect(parseClassifierAnswer({ pass: false, reason: null, cost_usd: null, tokens: null })).toEqual({
      ok: true,
      answer: { pass: false },
    });
  });

  it("refuses what is really malformed, naming the field", () => {
    const refused = (json: unknown) => {
      const parsed = parseClassifierAnswer(json);
      return parsed.ok ? "accepted" : parsed.error;
    };
    expect(refused({ pass: "yes" })).toMatch(/^invalid classifier answer: pass: .*boolean/);
    expect(refused({ pass: null })).toMatch(/^invalid classifier answer: pass: /);
    expect(refused({ reason: "no pass" })).toMatch(/^invalid classifier answer: pass: /);
    expect(refused({ pass: true, cost_usd: -0.01 })).toMatch(/^invalid classifier answer: cost_usd: .*>=0/);
    expect(refused({ pass: true, cost_usd: "0.01" })).toMatch(/^invalid classifier answer: cost_usd: .*number/);
    expect(refused({ pass: true, tokens: -1 })).toMatch(/^invalid classifier answer: tokens: /);
    expect(refused({ pass: true, tokens: 1.5 })).toMatch(/^invalid classifier answer: tokens: .*int/);
    expect(refused({ pass: true, reason: 7 })).toMatch(/^invalid classifier answer: reason: .*string/);
    expect(refused([true])).toMatch(/^invalid classifier answer: answer: .*object/);
    expect(refused(null)).toMatch(/^invalid classifier answer: answer: .*object/);
  });
});

describe("classifier verdicts", () => {
  const ceilings = { timeout_ms: 1000, max_cost_usd: 0.01, max_tokens: 500 };
  const answer = (a: Record<string, unknown>) => ({
    kind: "answer" as const,
    answer: { pass: true, ...a },
    latency_ms: 12,
  });

  it("takes the classifier's verdict within the ceilings", () => {
    expect(judgeClassifier(answer({ cost_usd: 0.005, tokens: 100, reason: "spam" }), ceilings, false)).toEqual({
      result: true,
      reason: "spam",
      cost_usd: 0.005,
      tokens: 100,
      latency_ms: 12,
      cached: false,
      failed: false,
      overrun: null,
    });
  });

  it("an answer over max_cost_usd or max_tokens is false unless warn", () => {
    const overCost = judgeClassifier(answer({ cost_usd: 0.02 }), ceilings, false);
    expect(overCost).toMatchObject({
      result: false,
      failed: false,
      cost_usd: 0.02,
      overrun: { ceiling: "max_cost_usd", limit: 0.01, actual: 0.02 },
    });
    expect(judgeClassifier(answer({ cost_usd: 0.02 }), ceilings, true).result).toBe(true);
    expect(judgeClassifier(answer({ tokens: 501 }), ceilings, false)).toMatchObject({
      result: false,
      overrun: { ceiling: "max_tokens", limit: 500, actual: 501 },
    });
  });

  it("a timeout is false (and a failure) unless warn, where it counts as a pass", () => {
    expect(judgeClassifier({ kind: "timeout", latency_ms: 1000 }, ceilings, false)).toMatchObject({
      result: false,
      failed: true,
      reason: "classifier timed out after 1000ms",
      overrun: { ceiling: "timeout_ms" },
    });
    expect(judgeClassifier({ kind: "timeout", latency_ms: 1000 }, ceilings, true)).toMatchObject({
      result: true,
      failed: false,
    });
  });

  it("an error is a failure", () => {
    expect(
      judgeClassifier({ kind: "error", error: "classifier answered HTTP 500", latency_ms: 3 }, ceilings, true),
    ).toMatchObject({
      result: false,
      failed: true,
      reason: "classifier answered HTTP 500",
    });
  });

  it("a cached verdict costs nothing", () => {
    expect(cachedVerdict({ pass: false, reason: "not relevant" })).toMatchObject({
      result: false,
      reason: "not relevant",
      cost_usd: 0,
      cached: true,
      failed: false,
    });
  });
});

describe("the README's predicate examples", () => {
  const issue = (labels: string[], senderType: string) => ({
    payload: {
      action: "opened",
      issue: { number: 1, labels: labels.map((name) => ({ name })) },
      sender: { login: "octocat", type: senderType },
    },
  });
  const push = (ref: string, modified: string[]) => ({
    payload: {
      ref,
      commits: [
        { id: "1", modified: ["README.md"] },
        { id: "2", modified },
      ],
    },
  });
  const invoice = (amountDue: number, livemode: boolean) => ({
    payload: {
      type: "invoice.payment_failed",
      livemode,
      data: { object: { object: "invoice", amount_due: amountDue } },
    },
  });
  const cases: [string, unknown, boolean][] = [
    [
      'event.payload.issue.labels.exists(l, l.name == "bug") && event.payload.sender.type != "Bot"',
      issue(["bug"], "User"),
      true,
    ],
    [
      'event.payload.issue.labels.exists(l, l.name == "bug") && event.payload.sender.type != "Bot"',
      issue(["bug"], "Bot"),
      false,
    ],
    [
      'event.payload.issue.labels.exists(l, l.name == "bug") && event.payload.sender.type != "Bot"',
      issue(["docs"], "User"),
      false,
    ],
    [
      'event.payload.ref == "refs/heads/main" && event.payload.commits.exists(c, c.modified.exists(f, f.startsWith("src/")))',
      push("refs/heads/main", ["src/index.ts"]),
      true,
    ],
    [
      'event.payload.ref == "refs/heads/main" && event.payload.commits.exists(c, c.modified.exists(f, f.startsWith("src/")))',
      push("refs/heads/main", ["docs/a.md"]),
      false,
    ],
    ["event.payload.data.object.amount_due >= 10000.0 && event.payload.livemode", invoice(25000, true), true],
    ["event.payload.data.object.amount_due >= 10000.0 && event.payload.livemode", invoice(25000, false), false],
    ["event.payload.?pull_request.?draft.orValue(false) == false", { payload: { action: "opened" } }, true],
    [
      "event.payload.?pull_request.?draft.orValue(false) == false",
      { payload: { pull_request: { draft: true } } },
      false,
    ],
  ];
  it.each(cases)("%s", (expression, event, expected) => {
    expect(evaluateCelPredicate(expression, event)).toMatchObject({ result: expected, failed: false });
  });
});
