import { describe, expect, it } from "vitest";
import { type BindingSpec, validateBindingSpec } from "../../../src/contracts/binding-spec";
import { type CandidateBinding, matchBindings, type RoutableEvent, targetOf } from "../../../src/dispatch/matching";

function spec(input: Record<string, unknown>): BindingSpec {
  const r = validateBindingSpec({ handler: "https://hooks.example.com/in", ...input });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.spec;
}

function binding(
  id: string,
  version: number,
  input: Record<string, unknown>,
  state: CandidateBinding["state"] = "active",
): CandidateBinding {
  return { bindingKey: `${id}@v${version}`, id, version, state, spec: spec(input) };
}

function event(overrides: Partial<RoutableEvent> = {}): RoutableEvent {
  return { provider: "github", kind: "issues.opened", tenant_id: null, payload: {}, target: null, ...overrides };
}

const keys = (matched: CandidateBinding[]) => matched.map((b) => b.bindingKey);

describe("targetOf", () => {
  it.each<[string, Partial<RoutableEvent>, ReturnType<typeof targetOf>]>([
    ["untargeted", {}, null],
    ["explicit target", { target: { binding_id: "b1", version: null } }, { binding_id: "b1", version: null }],
    ["explicit target with version", { target: { binding_id: "b1", version: 3 } }, { binding_id: "b1", version: 3 }],
    [
      "cron with cron_id",
      { provider: "cron", kind: "tick", payload: { cron_id: "nightly" } },
      {
        binding_id: "nightly",
        version: null,
      },
    ],
    ["cron without cron_id", { provider: "cron", kind: "tick", payload: { schedule: "* * * * *" } }, null],
    ["cron with empty cron_id", { provider: "cron", payload: { cron_id: "" } }, null],
    ["cron with non-string cron_id", { provider: "cron", payload: { cron_id: 42 } }, null],
    ["cron with array payload", { provider: "cron", payload: ["cron_id"] }, null],
    ["cron with null payload", { provider: "cron", payload: null }, null],
    ["cron_id on another provider", { provider: "github", payload: { cron_id: "nightly" } }, null],
    [
      "explicit target wins over cron_id",
      { provider: "cron", payload: { cron_id: "nightly" }, target: { binding_id: "other", version: 2 } },
      { binding_id: "other", version: 2 },
    ],
  ])("%s", (_name, overrides, expected) => {
    expect(targetOf(event(overrides))).toEqual(expected);
  });
});

describe("matchBindings: untargeted events (SPEC 5.3)", () => {
  const candidates = [
    binding("all-kinds", 1, { provider: "github" }),
    binding("opened-only", 1, { provider: "github", events: ["issues.opened"] }),
    binding("closed-only", 1, { provider: "github", events: ["issues.closed"] }),
    binding("two-kinds", 1, { provider: "github", events: ["issues.closed", "issues.opened"] }),
    binding("stripe", 1, { provider: "stripe" }),
    binding("tenant-a", 1, { provider: "github", tenant_id: "a" }),
    binding("tenant-b", 1, { provider: "github", tenant_id: "b" }),
    binding("old", 1, { provider: "github" }, "draining"),
    binding("old", 2, { provider: "github" }, "terminated"),
    binding("old", 3, { provider: "github" }),
  ];

  it.each<[string, Partial<RoutableEvent>, string[]]>([
    [
      "no tenant: provider + events filter, only untenanted and active bindings",
      {},
      ["all-kinds@v1", "old@v3", "opened-only@v1", "two-kinds@v1"],
    ],
    ["another kind", { kind: "issues.closed" }, ["all-kinds@v1", "closed-only@v1", "old@v3", "two-kinds@v1"]],
    ["a kind nobody filters for: only the empty filters", { kind: "push" }, ["all-kinds@v1", "old@v3"]],
    [
      "tenant a sees its own binding and the untenanted ones",
      { tenant_id: "a" },
      ["all-kinds@v1", "old@v3", "opened-only@v1", "tenant-a@v1", "two-kinds@v1"],
    ],
    ["another provider", { provider: "stripe", kind: "charge.succeeded" }, ["stripe@v1"]],
    ["unknown provider", { provider: "linear" }, []],
    ["kind matching is exact (no prefix match)", { kind: "issues" }, ["all-kinds@v1", "old@v3"]],
  ])("%s", (_name, overrides, expected) => {
    expect(keys(matchBindings(event(overrides), candidates))).toEqual(expected);
  });

  it("does not match a tenant-scoped binding for an event of another tenant or of no tenant", () => {
    const only = [binding("t", 1, { provider: "github", tenant_id: "a" })];
    expect(matchBindings(event({ tenant_id: "b" }), only)).toEqual([]);
    expect(matchBindings(event({ tenant_id: null }), only)).toEqual([]);
    expect(keys(matchBindings(event({ tenant_id: "a" }), only))).toEqual(["t@v1"]);
  });

  it("lists matches by binding id, then version, whatever the input order", () => {
    const shuffled = [
      binding("b", 2, { provider: "github" }),
      binding("a-2", 1, { provider: "github" }),
      binding("b", 10, { provider: "github" }),
      binding("a", 1, { provider: "github" }),
      binding("B", 1, { provider: "github" }),
      binding("b", 1, { provider: "github" }),
    ];
    expect(keys(matchBindings(event(), shuffled))).toEqual(["B@v1", "a@v1", "a-2@v1", "b@v1", "b@v2", "b@v10"]);
  });

  it("does not reorder the caller's array", () => {
    const input = [binding("b", 1, { provider: "github" }), binding("a", 1, { provider: "github" })];
    matchBindings(event(), input);
    expect(keys(input)).toEqual(["b@v1", "a@v1"]);
  });
});

describe("matchBindings: targeted events (SPEC 4.7)", () => {
  const candidates = [
    binding("target", 1, { provider: "github", events: ["issues.closed"] }, "terminated"),
    binding("target", 2, { provider: "github", events: ["issues.closed"] }, "draining"),
    binding("target", 3, { provider: "github", events: ["issues.closed"] }),
    binding("other", 1, { provider: "github" }),
  ];

  it.each<[string, RoutableEvent["target"], string[]]>([
    [
      "without version: the active version, events filter skipped",
      { binding_id: "target", version: null },
      ["target@v3"],
    ],
    ["an explicit active version", { binding_id: "target", version: 3 }, ["target@v3"]],
    ["an explicit draining version", { binding_id: "target", version: 2 }, ["target@v2"]],
    ["an explicit terminated version matches nothing", { binding_id: "target", version: 1 }, []],
    ["an unknown version matches nothing", { binding_id: "target", version: 9 }, []],
    ["an unknown id matches nothing", { binding_id: "missing", version: null }, []],
  ])("%s", (_name, target, expected) => {
    expect(keys(matchBindings(event({ target }), candidates))).toEqual(expected);
  });

  it("skips the provider filter too: the target names the binding", () => {
    const target = { binding_id: "other", version: null };
    expect(keys(matchBindings(event({ provider: "webhook", kind: "ping", target }), candidates))).toEqual(["other@v1"]);
  });

  it("never reaches other bindings, even ones that would match untargeted", () => {
    const target = { binding_id: "target", version: null };
    expect(keys(matchBindings(event({ kind: "issues.opened", target }), candidates))).toEqual(["target@v3"]);
  });

  it("keeps tenant isolation: another tenant's event cannot target a tenant-scoped binding", () => {
    const scoped = [binding("scoped", 1, { provider: "github", tenant_id: "a" })];
    const target = { binding_id: "scoped", version: null };
    expect(matchBindings(event({ tenant_id: "b", target }), scoped)).toEqual([]);
    expect(matchBindings(event({ tenant_id: null, target }), scoped)).toEqual([]);
    expect(keys(matchBindings(event({ tenant_id: "a", target }), scoped))).toEqual(["scoped@v1"]);
  });

  it("routes a cron tick by its cron_id to that binding's active version, skipping its events filter", () => {
    const cron = [
      binding("nightly", 1, { provider: "cron", events: ["something-else"] }, "terminated"),
      binding("nightly", 2, { provider: "cron", events: ["something-else"] }),
      binding("hourly", 1, { provider: "cron" }),
    ];
    const tick = event({ provider: "cron", kind: "tick", payload: { cron_id: "nightly" } });
    expect(keys(matchBindings(tick, cron))).toEqual(["nightly@v2"]);
    // Without a cron_id a tick is an ordinary untargeted event.
    const plain = event({ provider: "cron", kind: "tick", payload: {} });
    expect(keys(matchBindings(plain, cron))).toEqual(["hourly@v1"]);
  });
});
