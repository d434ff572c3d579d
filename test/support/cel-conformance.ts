/**
 * Runs the CEL conformance suite (cel-spec `tests/simple/testdata`, shipped as data by
 * `@bufbuild/cel-spec`) against a CEL engine given as one function: expression → outcome. Used by
 * test/unit/lib/cel-conformance.test.ts (our wrapper, in workerd) and bench/cel.ts (both libraries, in
 * Node), so both count the same tests the same way.
 *
 * Our environment declares only `event` (dyn) and no proto messages, so tests that declare variables,
 * use a container or expect messages, enums or unknowns are skipped with a named reason. Expected
 * values are converted to plain JSON the way `toPlainJson` converts results (ints → numbers, bytes →
 * base64, types → their names, maps → objects keyed by `String(key)`), then compared exactly. That
 * comparison cannot tell `1` from `1u` from `1.0`: it checks values, not CEL types.
 */
import { tests as conformanceData } from "@bufbuild/cel-spec/testdata/conformance.js";
import { z } from "zod";
import type { JsonValue } from "../../src/lib/cel";

/**
 * The sections that matter for predicates and flow-control keys: test/unit/lib/cel-conformance.test.ts
 * asserts them; the extension and proto sections are only reported (bench/cel.ts).
 */
export const PREDICATE_SECTIONS = [
  "basic",
  "comparisons",
  "conversions",
  "fields",
  "fp_math",
  "integer_math",
  "lists",
  "logic",
  "macros",
  "optionals",
  "parse",
  "plumbing",
  "string",
  "timestamps",
] as const;

/** What an engine made of one expression: a plain JSON value, or an error at compile or eval time. */
export type CelOutcome = { ok: true; value: JsonValue } | { ok: false; stage: "compile" | "eval"; error: string };

export type CelEngine = (expr: string) => CelOutcome;

export type CaseResult =
  | { status: "pass" }
  | { status: "fail"; detail: string }
  | { status: "skip"; reason: SkipReason };

export const SKIP_REASONS = {
  variables: "declares variables (only `event` exists)",
  container: "needs a container / proto message types",
  message: "expects a proto message or enum value",
  construction: "constructs a proto message (`Type{...}`)",
  unknowns: "expects unknown results",
  checkOnly: "type-check only (no evaluation result)",
  macros: "needs macros disabled",
  unchecked: "needs evaluation without type-checking (disableCheck)",
} as const;
export type SkipReason = keyof typeof SKIP_REASONS;

/** `cel.expr.Value` in protobuf JSON form (the subset the suite uses). */
type ProtoValue = z.infer<typeof protoValue>;
const protoValue: z.ZodType<ProtoValueShape> = z.lazy(() =>
  z.union([
    z.strictObject({ nullValue: z.literal("NULL_VALUE").or(z.null()) }),
    z.strictObject({ boolValue: z.boolean() }),
    z.strictObject({ int64Value: z.string().or(z.number()) }),
    z.strictObject({ uint64Value: z.string().or(z.number()) }),
    z.strictObject({ doubleValue: z.number().or(z.enum(["NaN", "Infinity", "-Infinity"])) }),
    z.strictObject({ stringValue: z.string() }),
    z.strictObject({ bytesValue: z.string() }),
    z.strictObject({ typeValue: z.string() }),
    z.strictObject({ listValue: z.strictObject({ values: z.array(protoValue).optional() }) }),
    z.strictObject({
      mapValue: z.strictObject({
        entries: z.array(z.strictObject({ key: protoValue, value: protoValue })).optional(),
      }),
    }),
    z.strictObject({ objectValue: z.unknown() }),
    z.strictObject({ enumValue: z.unknown() }),
  ]),
);
type ProtoValueShape =
  | { nullValue: "NULL_VALUE" | null }
  | { boolValue: boolean }
  | { int64Value: string | number }
  | { uint64Value: string | number }
  | { doubleValue: number | "NaN" | "Infinity" | "-Infinity" }
  | { stringValue: string }
  | { bytesValue: string }
  | { typeValue: string }
  | { listValue: { values?: ProtoValueShape[] | undefined } }
  | { mapValue: { entries?: Array<{ key: ProtoValueShape; value: ProtoValueShape }> | undefined } }
  | { objectValue: unknown }
  | { enumValue: unknown };

/**
 * `cel.expr.conformance.test.SimpleTest` in protobuf JSON form. Strict, so a data upgrade that adds a
 * field this runner does not understand fails loudly instead of being silently ignored.
 */
const simpleTest = z.strictObject({
  name: z.string(),
  description: z.string().optional(),
  expr: z.string(),
  disableMacros: z.boolean().optional(),
  disableCheck: z.boolean().optional(),
  checkOnly: z.boolean().optional(),
  typeEnv: z.array(z.unknown()).optional(),
  container: z.string().optional(),
  locale: z.string().optional(),
  bindings: z.record(z.string(), z.unknown()).optional(),
  value: protoValue.optional(),
  typedResult: z.unknown().optional(),
  evalError: z.unknown().optional(),
  anyEvalErrors: z.unknown().optional(),
  unknown: z.unknown().optional(),
  anyUnknowns: z.unknown().optional(),
});
export type SimpleTest = z.infer<typeof simpleTest>;

interface RawSuite {
  name: string;
  suites?: RawSuite[];
  tests?: Array<{ original: unknown }>;
}

/** One conformance test with its place in the suite: `section/group/name`. */
export interface ConformanceCase {
  section: string;
  group: string;
  name: string;
  test: SimpleTest;
}

/** Every test of the named top-level sections (all sections when `sections` is omitted). */
export function conformanceCases(sections?: readonly string[]): ConformanceCase[] {
  const root = conformanceData as RawSuite;
  const cases: ConformanceCase[] = [];
  for (const section of root.suites ?? []) {
    if (sections && !sections.includes(section.name)) continue;
    for (const group of section.suites ?? []) {
      for (const raw of group.tests ?? []) {
        const test = simpleTest.parse(raw.original);
        cases.push({ section: section.name, group: group.name, name: test.name, test });
      }
    }
  }
  return cases;
}

/** Names of every top-level section, in suite order. */
export function conformanceSections(): string[] {
  return ((conformanceData as RawSuite).suites ?? []).map((s) => s.name);
}

/** `section/group/name`: the key of a test in known-failure lists. */
export function caseKey(c: ConformanceCase): string {
  return `${c.section}/${c.group}/${c.name}`;
}

function staticSkip(test: SimpleTest): SkipReason | undefined {
  if (test.typeEnv || test.bindings) return "variables";
  if (test.container) return "container";
  if (test.checkOnly || (test.typedResult !== undefined && test.value === undefined)) return "checkOnly";
  if (test.unknown !== undefined || test.anyUnknowns !== undefined) return "unknowns";
  if (test.disableMacros) return "macros";
  if (test.value !== undefined && containsMessage(test.value)) return "message";
  if (MESSAGE_LITERAL.test(test.expr)) return "construction";
  return undefined;
}

/** `TypeName{` (message types are capitalised; map literals follow operators, never a name), comments allowed. */
const MESSAGE_LITERAL = /\b[A-Z]\w*\s*(?:\/\/[^\n]*\n\s*)*\{/;

function containsMessage(value: ProtoValue): boolean {
  if ("objectValue" in value || "enumValue" in value) return true;
  if ("listValue" in value) return (value.listValue.values ?? []).some(containsMessage);
  if ("mapValue" in value) {
    return (value.mapValue.entries ?? []).some((e) => containsMessage(e.key) || containsMessage(e.value));
  }
  return false;
}

/** A conformance `Value` as plain JSON, the way `toPlainJson` shapes results. */
export function expectedJson(value: ProtoValue): JsonValue {
  if ("nullValue" in value) return null;
  if ("boolValue" in value) return value.boolValue;
  if ("int64Value" in value) return integerJson(BigInt(value.int64Value));
  if ("uint64Value" in value) return integerJson(BigInt(value.uint64Value));
  if ("doubleValue" in value) {
    const d = value.doubleValue;
    if (typeof d === "string") return d;
    return Object.is(d, -0) ? 0 : d;
  }
  if ("stringValue" in value) return value.stringValue;
  if ("bytesValue" in value) return value.bytesValue;
  if ("typeValue" in value) return value.typeValue;
  if ("listValue" in value) return (value.listValue.values ?? []).map(expectedJson);
  if ("mapValue" in value) {
    const entries = value.mapValue.entries ?? [];
    return Object.fromEntries(entries.map((e) => [String(expectedJson(e.key)), expectedJson(e.value)]));
  }
  throw new Error(`no plain JSON form for ${JSON.stringify(value)}`);
}

function integerJson(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value.toString();
}

/** Exact structural equality of plain JSON values (object key order ignored). */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i] as JsonValue));
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k] as JsonValue, b[k] as JsonValue));
}

/**
 * Runs one test. An expected error passes on any error (a compile error is the stronger outcome for a
 * predicate: the binding is rejected up front). A `disableCheck` test whose expression our checker
 * rejects is skipped when it expects a value: the suite asks for unchecked evaluation there (unless
 * the engine does not type-check, as `@bufbuild/cel`'s public API: then a compile error is a parse error).
 */
export function runCase(engine: CelEngine, c: ConformanceCase, options: RunOptions = {}): CaseResult {
  const reason = staticSkip(c.test);
  if (reason) return { status: "skip", reason };
  const expectsError = c.test.evalError !== undefined || c.test.anyEvalErrors !== undefined;
  let outcome: CelOutcome;
  try {
    outcome = engine(c.test.expr);
  } catch (error) {
    return { status: "fail", detail: `engine threw: ${String(error)}` };
  }
  if (expectsError) {
    return outcome.ok ? { status: "fail", detail: `expected an error, got ${JSON.stringify(outcome.value)}` } : pass;
  }
  const expected = c.test.value === undefined ? true : expectedJson(c.test.value);
  if (!outcome.ok) {
    const checked = options.typeChecks ?? true;
    if (checked && outcome.stage === "compile" && c.test.disableCheck) return { status: "skip", reason: "unchecked" };
    return { status: "fail", detail: `${outcome.stage} error: ${outcome.error}` };
  }
  if (jsonEqual(outcome.value, expected)) return pass;
  return { status: "fail", detail: `expected ${JSON.stringify(expected)}, got ${JSON.stringify(outcome.value)}` };
}
const pass: CaseResult = { status: "pass" };

export interface RunOptions {
  /** Whether the engine's compile step type-checks (default true). */
  typeChecks?: boolean;
}

export interface SectionTally {
  section: string;
  pass: number;
  fail: number;
  skip: number;
  skipped: Partial<Record<SkipReason, number>>;
  failures: Array<{ key: string; detail: string }>;
}

/** Runs every case and tallies per section (sections in first-seen order). */
export function runConformance(
  engine: CelEngine,
  cases: readonly ConformanceCase[],
  options: RunOptions = {},
): SectionTally[] {
  const bySection = new Map<string, SectionTally>();
  for (const c of cases) {
    let tally = bySection.get(c.section);
    if (!tally) {
      tally = { section: c.section, pass: 0, fail: 0, skip: 0, skipped: {}, failures: [] };
      bySection.set(c.section, tally);
    }
    const result = runCase(engine, c, options);
    if (result.status === "pass") tally.pass++;
    else if (result.status === "fail") {
      tally.fail++;
      tally.failures.push({ key: caseKey(c), detail: result.detail });
    } else {
      tally.skip++;
      tally.skipped[result.reason] = (tally.skipped[result.reason] ?? 0) + 1;
    }
  }
  return [...bySection.values()];
}

/** A fixed-width text table of tallies, for logs and reports. */
export function formatTallies(tallies: readonly SectionTally[]): string {
  const rows = tallies.map((t) => {
    const run = t.pass + t.fail;
    const rate = run === 0 ? "-" : `${((100 * t.pass) / run).toFixed(1)}%`;
    const skips = Object.entries(t.skipped)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(", ");
    return `${t.section.padEnd(16)} ${String(t.pass).padStart(5)} ${String(t.fail).padStart(5)} ${String(t.skip).padStart(5)} ${rate.padStart(7)}  ${skips}`;
  });
  return [`${"section".padEnd(16)}  pass  fail  skip  pass%  skipped (reason count)`, ...rows].join("\n");
}
