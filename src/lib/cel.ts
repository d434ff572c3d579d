/**
 * CEL for binding predicates (SPEC 7) and flow-control keys (SPEC 9), over `@marcbachmann/cel-js`
 * (a tree-walking evaluator: no `eval`/`new Function`, so it runs on workerd).
 *
 * - One shared environment declares the single variable `event` as `dyn`; any other identifier is a
 *   compile error. Optional chaining (`event.?payload.?customer.orValue("none")`) is enabled, and mixed
 *   list/map literals are allowed (cel-go's default).
 * - Inputs are passed as they are: JSON numbers are CEL `double`s, as in cel-go's JSON mapping, so a
 *   field's CEL type never depends on its value (`int(event.payload.n) % 2 == 0`, not `event.payload.n % 2`).
 * - Results are converted to plain JSON (`toPlainJson`): CEL ints (BigInt) become numbers, or decimal
 *   strings beyond ±2^53; other library values follow the protobuf JSON mapping.
 * - `compileCel` parses and type-checks once per source; programs are cached (bounded, LRU).
 */
import { Environment, Optional } from "@marcbachmann/cel-js";
import { canonicalJson } from "./canonical-json";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A compiled expression; opaque outside this module. */
export interface CelProgram {
  readonly source: string;
  /** The type the checker inferred (`bool`, `string`, `dyn`, …). */
  readonly type: string;
  readonly run: (vars: Record<string, unknown>) => unknown;
}

/** Where a compile error sits: 0-based `offset` into the source, 1-based `line` and `column`. */
export interface CelPosition {
  offset: number;
  line: number;
  column: number;
}

export type CelCompileResult = { ok: true; program: CelProgram } | { ok: false; error: string; position?: CelPosition };

export type CelEvalResult = { ok: true; value: JsonValue } | { ok: false; error: string };

const env = new Environment({ homogeneousAggregateLiterals: false, enableOptionalTypes: true }).registerVariable(
  "event",
  "dyn",
);

/** Bound on cached compile results (successes and failures). */
export const CEL_CACHE_LIMIT = 512;
const cache = new Map<string, CelCompileResult>();

/**
 * Parses and type-checks `source`. Results are cached by source text (least recently used evicted
 * beyond `CEL_CACHE_LIMIT`), so calling this on every dispatch is cheap.
 */
export function compileCel(source: string): CelCompileResult {
  const hit = cache.get(source);
  if (hit) {
    cache.delete(source);
    cache.set(source, hit);
    return hit;
  }
  const result = compileUncached(source);
  cache.set(source, result);
  if (cache.size > CEL_CACHE_LIMIT) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  return result;
}

/** Number of cached compile results (for tests). */
export function celCacheSize(): number {
  return cache.size;
}

function compileUncached(source: string): CelCompileResult {
  if (source.trim() === "") return { ok: false, error: "expression is empty" };
  try {
    const parsed = env.parse(source);
    const checked = parsed.check();
    if (!checked.valid) return failure(source, checked.error ?? new Error("type check failed"));
    const program: CelProgram = { source, type: checked.type ?? "dyn", run: (vars) => parsed(vars) };
    return { ok: true, program };
  } catch (error) {
    return failure(source, error);
  }
}

function failure(source: string, error: unknown): CelCompileResult {
  const message = errorText(error);
  const offset = errorOffset(error);
  if (offset === undefined) return { ok: false, error: message };
  return { ok: false, error: message, position: positionAt(source, offset) };
}

function errorText(error: unknown): string {
  if (error && typeof error === "object") {
    // The library's `message` appends a source excerpt; `summary` is the bare text.
    const summary = (error as { summary?: unknown }).summary;
    if (typeof summary === "string" && summary !== "") return summary;
    const message = (error as { message?: unknown }).message;
    if (typeof message === "string") return message;
  }
  return String(error);
}

function errorOffset(error: unknown): number | undefined {
  if (!error || typeof error !== "object") return undefined;
  const start = (error as { range?: { start?: unknown } }).range?.start;
  return typeof start === "number" ? start : undefined;
}

/** 1-based line and column of a 0-based offset (columns count UTF-16 code units). */
export function positionAt(source: string, offset: number): CelPosition {
  const clamped = Math.max(0, Math.min(offset, source.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < clamped; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset: clamped, line, column: clamped - lineStart + 1 };
}

/**
 * Runs `program` with `vars` (plain JSON values, passed without copying). Never throws: runtime errors
 * (missing keys, no matching overload, overflow, …) come back as `{ok:false, error}`.
 */
export function evaluateCel(program: CelProgram, vars: Record<string, unknown>): CelEvalResult {
  try {
    const raw = program.run(vars);
    if (raw instanceof Promise) return { ok: false, error: "asynchronous expressions are not supported" };
    return { ok: true, value: toPlainJson(raw) };
  } catch (error) {
    return { ok: false, error: errorText(error) };
  }
}

/**
 * Converts a CEL result to plain JSON: int/uint → number (decimal string when not a safe integer);
 * non-finite doubles → "NaN"/"Infinity"/"-Infinity"; bytes → base64; timestamp → RFC 3339;
 * duration → "1.5s"; type → its name; optional → its value or null; Map → object (keys as strings);
 * Set → array; other objects → their own enumerable properties.
 */
export function toPlainJson(value: unknown): JsonValue {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (Number.isFinite(value)) return Object.is(value, -0) ? 0 : value;
      return Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
    case "bigint":
      return bigintJson(value);
    case "undefined":
    case "function":
    case "symbol":
      return null;
  }
  if (value === null) return null;
  if (Array.isArray(value)) return value.map(toPlainJson);
  if (value instanceof Optional) return value.hasValue() ? toPlainJson(value.value()) : null;
  if (value instanceof Uint8Array) return base64(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Map) {
    return Object.fromEntries(Array.from(value, ([k, v]) => [String(k), toPlainJson(v)]));
  }
  if (value instanceof Set) return Array.from(value, toPlainJson);
  const tag = Object.prototype.toString.call(value);
  if (tag === "[object google.protobuf.Duration]") {
    const { seconds, nanos } = value as { seconds?: unknown; nanos?: unknown };
    return typeof seconds === "bigint" && typeof nanos === "number" ? durationJson(seconds, nanos) : String(value);
  }
  if (tag.startsWith("[object Type<")) return String((value as { name?: unknown }).name);
  const primitive = (value as { valueOf(): unknown }).valueOf();
  if (typeof primitive === "bigint") return bigintJson(primitive); // uint
  return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, toPlainJson(v)]));
}

/**
 * `"1.5s"`, `"-0.5s"`: whole seconds plus the fraction without trailing zeros. Built from seconds and
 * nanos because the library's own `toString` misprints negative fractions (`-1.5s` → `"-10.5s"`).
 */
function durationJson(seconds: bigint, nanos: number): string {
  const total = seconds * 1_000_000_000n + BigInt(Math.trunc(nanos));
  const abs = total < 0n ? -total : total;
  const fraction = (abs % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  return `${total < 0n ? "-" : ""}${abs / 1_000_000_000n}${fraction ? `.${fraction}` : ""}s`;
}

function bigintJson(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value.toString();
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * SPEC 9 key stringification: null → "null", a string as is, booleans and numbers as JSON, objects and
 * arrays as compact JSON with sorted keys (so `{a,b}` and `{b,a}` name the same gate).
 */
export function keyString(value: JsonValue): string {
  if (value === null) return "null";
  if (typeof value === "string") return value;
  return canonicalJson(value);
}
