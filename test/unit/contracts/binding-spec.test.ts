import { describe, expect, it } from "vitest";
import {
  type BindingSpec,
  bindingIdSchema,
  bindingSpecSchema,
  formatBindingKey,
  parseBindingKey,
  type SpecProblem,
  sourceNameSchema,
  tenantIdSchema,
  validateBindingSpec,
} from "../../../src/contracts/binding-spec";

const base = { provider: "github", handler: "https://hooks.example.com/in" } as const;
const UNION_POLICY = 'expected "svix", {"linear": {"delay_ms"}} or {"exponential": {"base_ms", "cap_ms"}}';
const BAD_DURATION = (d: string) => `invalid duration '${d}': use milliseconds or <n>ms|s|m|h|d|w`;

function problemsOf(input: unknown): SpecProblem[] {
  const r = validateBindingSpec(input);
  if (r.ok) throw new Error(`expected problems, got ${JSON.stringify(r.spec)}`);
  return r.problems;
}

function specOf(input: unknown): BindingSpec {
  const r = validateBindingSpec(input);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.spec;
}

describe("defaults", () => {
  it("fills every default for a minimal spec", () => {
    expect(specOf(base)).toEqual({
      provider: "github",
      events: [],
      handler: "https://hooks.example.com/in",
      allow_cleartext: false,
      timeout_ms: 30_000,
      retry: { max_attempts: 7, policy: "svix" },
      dispatch_priority: "normal",
      tenant_id: null,
    });
  });

  it.each<[string, Record<string, unknown>, Partial<BindingSpec>]>([
    ["retry {} → defaults", { retry: {} }, { retry: { max_attempts: 7, policy: "svix" } }],
    ["max_attempts 0 → 7", { retry: { max_attempts: 0 } }, { retry: { max_attempts: 7, policy: "svix" } }],
    ["max_attempts 100", { retry: { max_attempts: 100 } }, { retry: { max_attempts: 100, policy: "svix" } }],
    [
      "linear duration string",
      { retry: { policy: { linear: { delay_ms: "5s" } } } },
      { retry: { max_attempts: 7, policy: { linear: { delay_ms: 5000 } } } },
    ],
    [
      "exponential durations",
      { retry: { max_attempts: 3, policy: { exponential: { base_ms: "1s", cap_ms: 5000 } } } },
      { retry: { max_attempts: 3, policy: { exponential: { base_ms: 1000, cap_ms: 5000 } } } },
    ],
    ["timeout string", { timeout_ms: "15m" }, { timeout_ms: 900_000 }],
    ["circuit {}", { circuit: {} }, { circuit: { threshold: 5, cooldown_ms: 60_000, mode: "dlq" } }],
    [
      "circuit hold",
      { circuit: { threshold: 2, cooldown_ms: "5s", mode: "hold" } },
      { circuit: { threshold: 2, cooldown_ms: 5000, mode: "hold" } },
    ],
    ["budget {}", { budget: {} }, { budget: { on_exhausted: "skip" } }],
    ["autonomy {}", { autonomy: {} }, { autonomy: { tier: "act_auto" } }],
    [
      "autonomy limits",
      { autonomy: { tier: "shadow", max_decisions_per_hour: 0, max_decisions_per_day: 10 } },
      { autonomy: { tier: "shadow", max_decisions_per_hour: 0, max_decisions_per_day: 10 } },
    ],
    ["CEL when", { when: "event.payload.action == 'opened'" }, { when: "event.payload.action == 'opened'" }],
    [
      "classifier when",
      {
        when: {
          classifier: "https://agents.example.com/classify",
          timeout_ms: "2s",
          max_cost_usd: 0.1,
          max_tokens: 500,
        },
      },
      {
        when: {
          classifier: "https://agents.example.com/classify",
          timeout_ms: 2000,
          max_cost_usd: 0.1,
          max_tokens: 500,
        },
      },
    ],
    ["tenant", { tenant_id: "acme_1" }, { tenant_id: "acme_1" }],
    ["explicit null tenant", { tenant_id: null }, { tenant_id: null }],
    ["events", { events: ["issues.opened", "push"] }, { events: ["issues.opened", "push"] }],
    [
      "cleartext + priority",
      { allow_cleartext: true, dispatch_priority: "high" },
      { allow_cleartext: true, dispatch_priority: "high" },
    ],
    [
      "flow control: every non-batch primitive",
      {
        flow_control: {
          debounce: { key: "event.payload.id", period: "5s" },
          rate_limit: { period: "1m", max: 10 },
          throttle: { key: "event.tenant_id", period: 1000, max: 2 },
          singleton: {},
          concurrency: { key: "event.payload.repo", max: 1 },
          priority: { key: "event.payload.tier", order: ["gold", "silver"] },
        },
      },
      {
        flow_control: {
          debounce: { key: "event.payload.id", period: 5000 },
          rate_limit: { period: 60_000, max: 10 },
          throttle: { key: "event.tenant_id", period: 1000, max: 2 },
          singleton: {},
          concurrency: { key: "event.payload.repo", max: 1 },
          priority: { key: "event.payload.tier", order: ["gold", "silver"] },
        },
      },
    ],
    [
      "flow control: stacked rate limits and throttles, in list order",
      {
        flow_control: {
          rate_limit: [
            { key: "event.payload.user", period: "1m", max: 10 },
            { key: "event.payload.project", period: "1h", max: 100 },
          ],
          throttle: [{ period: "1s", max: 5 }],
        },
      },
      {
        flow_control: {
          rate_limit: [
            { key: "event.payload.user", period: 60_000, max: 10 },
            { key: "event.payload.project", period: 3_600_000, max: 100 },
          ],
          throttle: [{ period: 1000, max: 5 }],
        },
      },
    ],
    [
      "flow control: batch alone",
      { flow_control: { batch: { size: 10, timeout: "2s" } } },
      { flow_control: { batch: { size: 10, timeout: 2000 } } },
    ],
    [
      "flow control: debounce delivering the whole burst, bounded",
      {
        flow_control: {
          debounce: { key: "event.payload.id", period: "5s", deliver: "all", max_events: 20, max_wait: "1m" },
        },
      },
      {
        flow_control: {
          debounce: { key: "event.payload.id", period: 5000, deliver: "all", max_events: 20, max_wait: 60_000 },
        },
      },
    ],
  ])("%s", (_name, extra, expected) => {
    expect(specOf({ ...base, ...extra })).toMatchObject(expected);
  });

  it.each(["service://ECHO/x", "a2a://127.0.0.1:9000/agent", "worker://jobs", "persona://ops", "http://localhost:1/h"])(
    "accepts handler %s",
    (handler) => {
      expect(specOf({ ...base, handler }).handler).toBe(handler);
    },
  );

  it("schema input and output types line up with the parse", () => {
    const out = bindingSpecSchema.parse({ ...base, retry: { max_attempts: 0 } });
    expect(out.retry.max_attempts).toBe(7);
  });
});

describe("problems", () => {
  it.each<[string, unknown, SpecProblem[]]>([
    ["null spec", null, [{ path: "", message: "expected object, received null" }]],
    ["array spec", [], [{ path: "", message: "expected object, received array" }]],
    [
      "missing required fields",
      {},
      [
        { path: "provider", message: "required field is missing" },
        { path: "handler", message: "required field is missing" },
      ],
    ],
    [
      "bad provider",
      { ...base, provider: "GitHub" },
      [{ path: "provider", message: "must match [a-z0-9][a-z0-9_-]{0,63}" }],
    ],
    [
      "bad events",
      { ...base, events: ["", 3] },
      [
        { path: "events.0", message: "event kind cannot be empty" },
        { path: "events.1", message: "expected string, received number" },
      ],
    ],
    [
      "event kind not well-formed Unicode",
      { ...base, events: ["issues.\ud800"] },
      [{ path: "events.0", message: "must be valid Unicode text (no unpaired surrogates)" }],
    ],
    [
      "events not an array",
      { ...base, events: "push" },
      [{ path: "events", message: "expected array, received string" }],
    ],
    ["empty handler", { ...base, handler: "" }, [{ path: "handler", message: "handler URI cannot be empty" }]],
    ["blank handler", { ...base, handler: "  " }, [{ path: "handler", message: "handler URI cannot be empty" }]],
    ...(["a2a", "worker", "persona", "service"] as const).map((scheme): [string, unknown, SpecProblem[]] => [
      `empty ${scheme} target`,
      { ...base, handler: `${scheme}://` },
      [{ path: "handler", message: `${scheme} handler URI target cannot be empty` }],
    ]),
    [
      "unsupported scheme",
      { ...base, handler: "ftp://x/y" },
      [{ path: "handler", message: "unsupported handler URI scheme 'ftp'" }],
    ],
    [
      "handler without scheme",
      { ...base, handler: "hooks.example.com" },
      [
        {
          path: "handler",
          message: "handler URI must have a scheme (https://, service://, a2a://, worker://, persona://)",
        },
      ],
    ],
    [
      "handler not a string",
      { ...base, handler: 7 },
      [{ path: "handler", message: "expected string, received number" }],
    ],
    ["empty when", { ...base, when: "  " }, [{ path: "when", message: "expression cannot be empty" }]],
    [
      "when of wrong type",
      { ...base, when: 5 },
      [
        {
          path: "when",
          message: "expected a CEL expression string or {classifier, timeout_ms?, max_cost_usd?, max_tokens?}",
        },
      ],
    ],
    [
      "bad classifier when",
      { ...base, when: { classifier: "worker://", timeout_ms: "1x", max_cost_usd: -1, max_tokens: 1.5, x: 1 } },
      [
        { path: "when.classifier", message: "worker handler URI target cannot be empty" },
        { path: "when.timeout_ms", message: BAD_DURATION("1x") },
        { path: "when.max_cost_usd", message: "must be at least 0" },
        { path: "when.max_tokens", message: "expected an integer" },
        { path: "when.x", message: "unknown field 'x'" },
      ],
    ],
    [
      "classifier missing",
      { ...base, when: { timeout_ms: 10 } },
      [{ path: "when.classifier", message: "required field is missing" }],
    ],
    [
      "classifier not callable over HTTP",
      { ...base, when: { classifier: "a2a://agents.example.com/classify" } },
      [{ path: "when.classifier", message: "classifier must be an https:// or service:// URI" }],
    ],
    [
      "cleartext not boolean",
      { ...base, allow_cleartext: "yes" },
      [{ path: "allow_cleartext", message: "expected boolean, received string" }],
    ],
    [
      "timeout 0",
      { ...base, timeout_ms: 0 },
      [{ path: "timeout_ms", message: "duration must be between 1ms and 15m" }],
    ],
    [
      "timeout too long",
      { ...base, timeout_ms: "16m" },
      [{ path: "timeout_ms", message: "duration must be between 1ms and 15m" }],
    ],
    [
      "timeout bad string",
      { ...base, timeout_ms: "30 seconds" },
      [{ path: "timeout_ms", message: BAD_DURATION("30 seconds") }],
    ],
    [
      "timeout wrong type",
      { ...base, timeout_ms: true },
      [{ path: "timeout_ms", message: "expected a duration: use milliseconds or <n>ms|s|m|h|d|w" }],
    ],
    [
      "max_attempts > 100",
      { ...base, retry: { max_attempts: 101 } },
      [{ path: "retry.max_attempts", message: "must be at most 100" }],
    ],
    [
      "max_attempts < 0",
      { ...base, retry: { max_attempts: -1 } },
      [{ path: "retry.max_attempts", message: "must be at least 0" }],
    ],
    [
      "max_attempts fractional",
      { ...base, retry: { max_attempts: 2.5 } },
      [{ path: "retry.max_attempts", message: "expected an integer" }],
    ],
    [
      "unknown policy string",
      { ...base, retry: { policy: "fixed" } },
      [{ path: "retry.policy", message: UNION_POLICY }],
    ],
    [
      "unknown policy object",
      { ...base, retry: { policy: { fixed: {} } } },
      [{ path: "retry.policy", message: UNION_POLICY }],
    ],
    ["empty policy object", { ...base, retry: { policy: {} } }, [{ path: "retry.policy", message: UNION_POLICY }]],
    [
      "two policies at once",
      { ...base, retry: { policy: { linear: { delay_ms: 1 }, exponential: { base_ms: 1, cap_ms: 2 } } } },
      [{ path: "retry.policy", message: UNION_POLICY }],
    ],
    [
      "bad linear delay and unknown key",
      { ...base, retry: { policy: { linear: { delay_ms: "x", jitter: true } } } },
      [
        { path: "retry.policy.linear.delay_ms", message: BAD_DURATION("x") },
        { path: "retry.policy.linear.jitter", message: "unknown field 'jitter'" },
      ],
    ],
    [
      "linear without delay",
      { ...base, retry: { policy: { linear: {} } } },
      [{ path: "retry.policy.linear.delay_ms", message: "required field is missing" }],
    ],
    [
      "exponential missing cap",
      { ...base, retry: { policy: { exponential: { base_ms: "1s" } } } },
      [{ path: "retry.policy.exponential.cap_ms", message: "required field is missing" }],
    ],
    [
      "exponential cap below base",
      { ...base, retry: { policy: { exponential: { base_ms: 5000, cap_ms: "1s" } } } },
      [{ path: "retry.policy.exponential.cap_ms", message: "cap_ms must be at least base_ms" }],
    ],
    [
      "batch combined with debounce",
      {
        ...base,
        flow_control: { batch: { size: 2, timeout: 100 }, debounce: { key: "event.payload.k", period: 100 } },
      },
      [{ path: "flow_control.batch", message: "batch cannot be combined with other flow-control primitives" }],
    ],
    [
      "batch combined with singleton",
      { ...base, flow_control: { batch: { size: 2, timeout: 100 }, singleton: {} } },
      [{ path: "flow_control.batch", message: "batch cannot be combined with other flow-control primitives" }],
    ],
    [
      "debounce deliver and burst bounds",
      {
        ...base,
        flow_control: {
          debounce: { key: "event.payload.k", period: 100, deliver: "first", max_events: 0, max_wait: 0 },
        },
      },
      [
        { path: "flow_control.debounce.deliver", message: 'must be one of "last", "all"' },
        { path: "flow_control.debounce.max_events", message: "must be at least 1" },
        { path: "flow_control.debounce.max_wait", message: "duration must be at least 1ms" },
      ],
    ],
    [
      "priority without concurrency",
      { ...base, flow_control: { priority: { key: "event.payload.k", order: ["a"] } } },
      [{ path: "flow_control.priority", message: "priority requires concurrency" }],
    ],
    [
      "flow-control primitive fields",
      {
        ...base,
        flow_control: {
          debounce: { period: "1s" },
          rate_limit: { period: 0, max: 0 },
          throttle: { period: "1m" },
          singleton: { key: "" },
          concurrency: { max: 0, limit: 2 },
          priority: { key: "event.payload.k", order: [] },
        },
      },
      [
        { path: "flow_control.debounce.key", message: "required field is missing" },
        { path: "flow_control.rate_limit.period", message: "duration must be at least 1ms" },
        { path: "flow_control.rate_limit.max", message: "must be at least 1" },
        { path: "flow_control.throttle.max", message: "required field is missing" },
        { path: "flow_control.singleton.key", message: "expression cannot be empty" },
        { path: "flow_control.concurrency.max", message: "must be at least 1" },
        { path: "flow_control.concurrency.limit", message: "unknown field 'limit'" },
        { path: "flow_control.priority.order", message: "order cannot be empty" },
      ],
    ],
    [
      "stacked limits: each entry's problems by index, an empty or too long list",
      {
        ...base,
        flow_control: {
          rate_limit: [{ key: "event.payload.user", period: "1m", max: 10 }, { period: "1h" }],
          throttle: [],
        },
      },
      [
        { path: "flow_control.rate_limit.1.max", message: "required field is missing" },
        { path: "flow_control.throttle", message: "a list of limits cannot be empty" },
      ],
    ],
    [
      "more stacked limits than allowed",
      { ...base, flow_control: { throttle: Array.from({ length: 9 }, () => ({ period: "1s", max: 1 })) } },
      [{ path: "flow_control.throttle", message: "at most 8 stacked limits" }],
    ],
    [
      "cross-field rules reported alongside field problems",
      {
        ...base,
        flow_control: {
          batch: { size: 0, timeout: "x" },
          priority: { key: "event.payload.k", order: [] },
          unknown_primitive: {},
        },
      },
      [
        { path: "flow_control.batch.size", message: "must be at least 1" },
        { path: "flow_control.batch.timeout", message: BAD_DURATION("x") },
        { path: "flow_control.priority.order", message: "order cannot be empty" },
        { path: "flow_control.unknown_primitive", message: "unknown field 'unknown_primitive'" },
        { path: "flow_control.batch", message: "batch cannot be combined with other flow-control primitives" },
        { path: "flow_control.priority", message: "priority requires concurrency" },
      ],
    ],
    [
      "circuit fields",
      { ...base, circuit: { threshold: 0, cooldown_ms: "soon", mode: "drop" } },
      [
        { path: "circuit.threshold", message: "must be at least 1" },
        { path: "circuit.cooldown_ms", message: BAD_DURATION("soon") },
        { path: "circuit.mode", message: 'must be one of "dlq", "hold"' },
      ],
    ],
    [
      "budget fields",
      { ...base, budget: { hourly_cost_usd: -1, daily_cost_usd: "5", on_exhausted: "panic" } },
      [
        { path: "budget.hourly_cost_usd", message: "must be at least 0" },
        { path: "budget.daily_cost_usd", message: "expected number, received string" },
        { path: "budget.on_exhausted", message: 'must be one of "skip", "warn", "fail", "retry_later"' },
      ],
    ],
    [
      "autonomy fields",
      { ...base, autonomy: { tier: "yolo", max_decisions_per_hour: -1, max_decisions_per_day: 0.5 } },
      [
        { path: "autonomy.tier", message: 'must be one of "shadow", "suggest", "act_with_approval", "act_auto"' },
        { path: "autonomy.max_decisions_per_hour", message: "must be at least 0" },
        { path: "autonomy.max_decisions_per_day", message: "expected an integer" },
      ],
    ],
    [
      "dispatch priority",
      { ...base, dispatch_priority: "urgent" },
      [{ path: "dispatch_priority", message: 'must be one of "high", "normal", "low"' }],
    ],
    ["tenant id", { ...base, tenant_id: "a b" }, [{ path: "tenant_id", message: "must match [A-Za-z0-9_-]{1,64}" }]],
    ["empty tenant id", { ...base, tenant_id: "" }, [{ path: "tenant_id", message: "must match [A-Za-z0-9_-]{1,64}" }]],
  ])("%s", (_name, input, expected) => {
    expect(problemsOf(input)).toEqual(expected);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ["root", { ...base, handlr: "x" }, "handlr"],
    ["retry", { ...base, retry: { attempts: 3 } }, "retry.attempts"],
    [
      "retry.policy.exponential",
      { ...base, retry: { policy: { exponential: { base_ms: 1, cap_ms: 2, factor: 3 } } } },
      "retry.policy.exponential.factor",
    ],
    ["when", { ...base, when: { classifier: "service://CLASSIFY/x", model: "x" } }, "when.model"],
    ["flow_control", { ...base, flow_control: { dedupe: {} } }, "flow_control.dedupe"],
    [
      "flow_control.batch",
      { ...base, flow_control: { batch: { size: 1, timeout: 1, max_bytes: 1 } } },
      "flow_control.batch.max_bytes",
    ],
    [
      "flow_control.singleton",
      { ...base, flow_control: { singleton: { mode: "cancel" } } },
      "flow_control.singleton.mode",
    ],
    ["circuit", { ...base, circuit: { half_open_probes: 2 } }, "circuit.half_open_probes"],
    ["budget", { ...base, budget: { monthly_cost_usd: 1 } }, "budget.monthly_cost_usd"],
    ["autonomy", { ...base, autonomy: { reviewers: [] } }, "autonomy.reviewers"],
  ])("unknown key at %s", (_name, input, path) => {
    const key = path.split(".").at(-1);
    expect(problemsOf(input)).toEqual([{ path, message: `unknown field '${key}'` }]);
  });

  it("lists every problem at once across the whole spec", () => {
    const problems = problemsOf({
      provider: "Bad Provider",
      handler: "worker://",
      retry: { max_attempts: 500, policy: { linear: { delay_ms: "x" } } },
      flow_control: { priority: { key: "event.payload.k", order: ["a"] } },
      circuit: { mode: "x" },
      tenant_id: "!",
      extra: 1,
      other: 2,
    });
    expect(problems.map((p) => p.path).sort()).toEqual(
      [
        "provider",
        "handler",
        "retry.max_attempts",
        "retry.policy.linear.delay_ms",
        "flow_control.priority",
        "circuit.mode",
        "tenant_id",
        "extra",
        "other",
      ].sort(),
    );
  });
});

describe("identifiers", () => {
  it.each<[string, boolean]>([
    ["github", true],
    ["my-source_2", true],
    ["0", true],
    ["a".repeat(64), true],
    ["a".repeat(65), false],
    ["GitHub", false],
    ["-github", false],
    ["", false],
    ["git.hub", false],
  ])("source name %j → %s", (name, valid) => {
    expect(sourceNameSchema.safeParse(name).success).toBe(valid);
  });

  it.each<[string, boolean]>([
    ["triage", true],
    ["Triage.v2-beta_1", true],
    ["a".repeat(128), true],
    ["a".repeat(129), false],
    [".hidden", false],
    ["a@b", false],
    ["a b", false],
    ["", false],
  ])("binding id %j → %s", (id, valid) => {
    expect(bindingIdSchema.safeParse(id).success).toBe(valid);
  });

  it.each<[string, boolean]>([
    ["acme", true],
    ["ACME_corp-1", true],
    ["a".repeat(64), true],
    ["a".repeat(65), false],
    ["", false],
    ["acme.corp", false],
  ])("tenant id %j → %s", (id, valid) => {
    expect(tenantIdSchema.safeParse(id).success).toBe(valid);
  });

  it.each<[string, { id: string; version: number } | null]>([
    ["triage@v1", { id: "triage", version: 1 }],
    ["triage@v12", { id: "triage", version: 12 }],
    ["my.v2-binding@v3", { id: "my.v2-binding", version: 3 }],
    ["v@v1", { id: "v", version: 1 }],
    ["triage", null],
    ["triage@v", null],
    ["triage@v0", null],
    ["triage@v01", null],
    ["triage@v1.5", null],
    ["triage@v-1", null],
    ["@v1", null],
    ["a@v1@v2", null],
    ["triage@V1", null],
    ["triage@v99999999999999999999", null],
  ])("parseBindingKey(%j)", (key, expected) => {
    expect(parseBindingKey(key)).toEqual(expected);
  });

  it("formatBindingKey round-trips", () => {
    expect(formatBindingKey("triage", 3)).toBe("triage@v3");
    expect(parseBindingKey(formatBindingKey("a.b-c", 42))).toEqual({ id: "a.b-c", version: 42 });
  });
});

describe("CEL expressions are compiled at validation", () => {
  const base = { provider: "github", handler: "https://example.com/h" };

  it("accepts valid predicates and keys", () => {
    const result = validateBindingSpec({
      ...base,
      when: 'event.kind == "issues.opened" && event.payload.issue.number > 0.0',
      flow_control: { rate_limit: { key: "event.payload.customer", period: "1m", max: 5 } },
    });
    expect(result.ok).toBe(true);
  });

  it("rejects a predicate that does not compile, with its position", () => {
    const result = validateBindingSpec({ ...base, when: "event.kind ==" });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]?.path).toBe("when");
    expect(result.problems[0]?.message).toMatch(/^invalid CEL expression \(line 1, column \d+\): /);
  });

  it("rejects a flow-control key that does not compile", () => {
    const result = validateBindingSpec({ ...base, flow_control: { singleton: { key: "event.payload.(" } } });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.path)).toEqual(["flow_control.singleton.key"]);
  });
});
