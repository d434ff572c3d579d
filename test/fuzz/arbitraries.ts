/**
 * Hostile inputs for the property tests: strings with NUL bytes, lone surrogates and percent signs,
 * huge and negative numbers (also as raw JSON tokens such as `1e999`), malformed and deeply nested
 * JSON, invalid UTF-8, wrong content types, and mutations of a valid example body (a field given the
 * wrong type, removed, or an unknown field added).
 */
import fc from "fast-check";

const encoder = new TextEncoder();

/** Characters that tend to break parsers, routers, SQL bindings and encoders. */
const NASTY_CHARS = [
  "\u0000",
  "\ud800",
  "\udc00",
  "\udbff\udfff",
  "\uffff",
  "\ufffe",
  "\ufeff",
  "\u202e",
  "\u2028",
  "\u0085",
  "%",
  "%00",
  "%zz",
  "%ff",
  "%c0%80",
  "%ed%a0%80",
  "%2f",
  "%2e%2e",
  "\\",
  "/",
  "..",
  "@",
  "@v",
  "@v0",
  "@v1",
  ":",
  "?",
  "#",
  "&",
  "=",
  "+",
  " ",
  "\n",
  "\r",
  "\t",
  "'",
  '"',
  "`",
  "<",
  ">",
  "*",
  "_",
  "😀",
  "é",
  "Ω",
  "ﬀ",
  "İ",
  "$",
  "{",
  "}",
  "[",
  "]",
];

export const nastyChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_CHARS) },
  { weight: 3, arbitrary: fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((n) => String.fromCharCode(n)) },
);

/** A string of `char` repeated `length` times (cheap to build, even for megabytes). */
const repeated = (min: number, max: number) =>
  fc
    .tuple(fc.constantFrom("x", "\u0000", "é", "😀", "\ud800", "%", '"', "\\"), fc.integer({ min, max }))
    .map(([char, length]) => char.repeat(Math.ceil(length / char.length)));

/** Short hostile strings, sometimes empty, sometimes huge (past 1 MiB once encoded). */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: nastyChar, maxLength: 24 }) },
  { weight: 1, arbitrary: repeated(256, 20_000) },
  { weight: 1, arbitrary: repeated(200_000, 1_200_000) },
);

/** Object keys, including the ones that are special on JS objects. */
export const nastyKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "") },
  { weight: 3, arbitrary: fc.string({ unit: nastyChar, maxLength: 12 }) },
);

/** Numbers as raw JSON tokens: `1e999` parses to Infinity, long digit runs lose precision. */
export const numberToken: fc.Arbitrary<string> = fc.oneof(
  fc.integer().map(String),
  fc.integer({ min: -1_000_000, max: 1_000 }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  fc.constantFrom(
    "0",
    "-0",
    "-1",
    "0.5",
    "-0.5",
    "1e999",
    "-1e999",
    "1e-999",
    "1E3",
    "2147483648",
    "4294967296",
    "9007199254740991",
    "9007199254740993",
    "-9007199254740993",
    "123456789012345678901234567890",
    "1.7976931348623157e308",
    "5e-324",
  ),
);

/** Any JSON value as text, with hostile leaves. */
export const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string; leaf: string; arr: string; obj: string }>(
  (tie) => ({
    value: fc.oneof({ depthSize: "small", withCrossShrink: true }, tie("leaf"), tie("arr"), tie("obj")),
    leaf: fc.oneof(
      numberToken,
      fc.constantFrom("true", "false", "null", '""', "[]", "{}"),
      nastyString.map((s) => JSON.stringify(s)),
    ),
    arr: fc.array(tie("value"), { maxLength: 4 }).map((items) => `[${items.join(",")}]`),
    obj: fc
      .array(fc.tuple(nastyKey, tie("value")), { maxLength: 4 })
      .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`),
  }),
).value;

/** JSON nested `depth` levels deep (arrays or objects), as text. */
export const deepJsonText: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 100, max: 100_000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays ? `${"[".repeat(depth)}${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`,
  );

/** Text that is not JSON (or not quite). */
export const malformedJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "{",
    "[",
    "}",
    '{"a":}',
    '{"a":1,}',
    "[1,]",
    "{'a':1}",
    "nul",
    "NaN",
    "Infinity",
    "undefined",
    '"unterminated',
    "\ufeff{}",
    '{"a":1}}',
    '{"a":1} trailing',
    "0x10",
    "01",
    "{\u0000}",
    '{"a":"\u0000"}',
    '{"a":"\\ud800"}',
    '{"a":"\\x41"}',
  ),
  fc.string({ unit: nastyChar, maxLength: 40 }),
);

/** Bytes that are not valid UTF-8 (lone continuation bytes, overlong forms, encoded surrogates). */
export const invalidUtf8: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(
    Uint8Array.of(0xff),
    Uint8Array.of(0xc0, 0x80),
    Uint8Array.of(0xed, 0xa0, 0x80),
    Uint8Array.of(0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xfe, 0x22, 0x7d),
  ),
  fc.uint8Array({ minLength: 1, maxLength: 64 }),
);

export const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.constant("application/json") },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      undefined,
      "",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/json; charset=utf-16",
      "application/jsonx",
      "application/xml",
      "application/octet-stream",
      "text/json",
      "application/vnd.api+json",
      "JSON",
      "*/*",
    ),
  },
  { weight: 1, arbitrary: headerText(32) },
);

/**
 * Header-safe text: printable ASCII and tab. (workerd sends other Latin-1 characters as UTF-8 with a
 * warning, so they add noise but no new input.)
 */
export function headerText(maxLength: number): fc.Arbitrary<string> {
  const char = fc.oneof(
    { weight: 20, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
    { weight: 1, arbitrary: fc.constant(0x09) },
  );
  return fc.array(char, { maxLength }).map((codes) => String.fromCharCode(...codes).trim());
}

/**
 * A path segment as sent on the wire: valid-looking text, raw hostile characters (the URL parser
 * encodes or strips them), or arbitrary percent-encoded bytes including `%00` and broken UTF-8.
 */
export const pathSegment: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: nastyChar, minLength: 1, maxLength: 24 }) },
  {
    weight: 2,
    arbitrary: fc
      .array(
        fc.oneof(
          fc.integer({ min: 0, max: 255 }).map((b) => `%${b.toString(16).padStart(2, "0")}`),
          fc.constantFrom("a", "-", "_", ".", "@v1", "%", "%2", "%g0"),
        ),
        { minLength: 1, maxLength: 12 },
      )
      .map((parts) => parts.join("")),
  },
  { weight: 1, arbitrary: repeated(2_000, 20_000).map((s) => encodeLossy(s)) },
);

/** Query-string values: hostile text, numbers at the edges, raw percent-encoded bytes. */
export const queryValue: fc.Arbitrary<string> = fc.oneof(
  numberToken.map((t) => encodeURIComponent(t)),
  fc.constantFrom("", "NaN", "Infinity", "-Infinity", "0x1f", "1e3", " 1", "1 ", "true", "null", "%", "%zz", "%00"),
  fc.string({ unit: nastyChar, maxLength: 24 }).map((s) => encodeLossy(s)),
  fc.string({ unit: nastyChar, maxLength: 24 }),
  pathSegment,
);

/**
 * Cursor values: garbage, base64url of JSON with the wrong arity or types, of deep or huge JSON,
 * and of non-UTF-8 bytes.
 */
export const cursorValue: fc.Arbitrary<string> = fc.oneof(
  queryValue,
  jsonText.map((t) => base64url(encoder.encode(t))),
  fc
    .array(
      fc.oneof(
        numberToken,
        nastyString.map((s) => JSON.stringify(s)),
        fc.constantFrom("null", "{}", "[]"),
      ),
      {
        maxLength: 3,
      },
    )
    .map((items) => base64url(encoder.encode(`[${items.join(",")}]`))),
  deepJsonText.map((t) => base64url(encoder.encode(t))),
  invalidUtf8.map((b) => base64url(b)),
);

/** Percent-encodes UTF-8 (lone surrogates become U+FFFD, as a URL parser would do). */
export function encodeLossy(text: string): string {
  return Array.from(encoder.encode(text), (b) =>
    /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, "0")}`,
  ).join("");
}

export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// ---- mutations of a valid example ----

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type PathKey = string | number;

/** Every path inside `value` (objects and arrays), the root excluded. */
export function pathsOf(value: Json, prefix: PathKey[] = []): PathKey[][] {
  const out: PathKey[][] = [];
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      out.push([...prefix, i], ...pathsOf(item, [...prefix, i]));
    });
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) out.push([...prefix, k], ...pathsOf(v, [...prefix, k]));
  }
  return out;
}

type Mutation =
  | { kind: "replace"; path: PathKey[]; raw: string }
  | { kind: "delete"; path: PathKey[] }
  | { kind: "add"; path: PathKey[]; key: string; raw: string };

const PLACEHOLDER = (i: number) => `\u0001raw${i}\u0001`;

/** Applies mutations to a copy of `example` and serialises it, splicing raw JSON text in place. */
function applyMutations(example: Json, mutations: Mutation[]): string {
  const copy = structuredClone(example) as Json;
  const raws: string[] = [];
  const placeholder = (raw: string) => {
    raws.push(raw);
    return PLACEHOLDER(raws.length - 1);
  };
  for (const m of mutations) {
    const parentPath = m.kind === "add" ? m.path : m.path.slice(0, -1);
    let parent: Json = copy;
    for (const key of parentPath) {
      if (parent === null || typeof parent !== "object") break;
      parent = (parent as Record<PathKey, Json>)[key] ?? null;
    }
    if (parent === null || typeof parent !== "object") continue;
    const container = parent as Record<PathKey, Json>;
    if (m.kind === "add") {
      if (!Array.isArray(parent)) container[m.key] = placeholder(m.raw);
      continue;
    }
    const last = m.path.at(-1);
    if (last === undefined) continue;
    if (m.kind === "delete") {
      if (Array.isArray(parent) && typeof last === "number") parent.splice(last, 1);
      else delete container[last];
    } else {
      container[last] = placeholder(m.raw);
    }
  }
  let text = JSON.stringify(copy);
  raws.forEach((raw, i) => {
    text = text.replace(JSON.stringify(PLACEHOLDER(i)), () => raw);
  });
  return text;
}

/** Raw values a mutation may put in a field: wrong types, hostile strings, deep and huge values. */
const fieldValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: jsonText },
  { weight: 1, arbitrary: deepJsonText },
  { weight: 1, arbitrary: numberToken },
);

/** The example with one to three fields replaced by a wrong-typed value, removed, or joined by an unknown one. */
export function mutatedExample(example: Json): fc.Arbitrary<string> {
  const paths = pathsOf(example);
  const objectPaths: PathKey[][] = [[], ...paths];
  const mutation: fc.Arbitrary<Mutation> =
    paths.length === 0
      ? fc.record({ kind: fc.constant("add" as const), path: fc.constant([]), key: nastyKey, raw: fieldValue })
      : fc.oneof(
          {
            weight: 5,
            arbitrary: fc.record({
              kind: fc.constant("replace" as const),
              path: fc.constantFrom(...paths),
              raw: fieldValue,
            }),
          },
          {
            weight: 2,
            arbitrary: fc.record({ kind: fc.constant("delete" as const), path: fc.constantFrom(...paths) }),
          },
          {
            weight: 1,
            arbitrary: fc.record({
              kind: fc.constant("add" as const),
              path: fc.constantFrom(...objectPaths),
              key: nastyKey,
              raw: fieldValue,
            }),
          },
        );
  return fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => applyMutations(example, ms));
}

// ---- request bodies ----

export type Body = string | Uint8Array;

/** A request body: mostly a mutated example, otherwise empty, malformed, deep, huge or not UTF-8. */
export function hostileBody(example: Json | undefined): fc.Arbitrary<Body> {
  const base = example ?? {};
  return fc.oneof(
    { weight: 6, arbitrary: mutatedExample(base) },
    { weight: 1, arbitrary: fc.constant("") },
    { weight: 2, arbitrary: malformedJsonText },
    { weight: 2, arbitrary: jsonText },
    { weight: 1, arbitrary: deepJsonText },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1_048_577 - 64, max: 1_200_000 })
        .map((n) => JSON.stringify({ ...(isObject(base) ? base : {}), pad: "x".repeat(n) })),
    },
    {
      weight: 1,
      arbitrary: invalidUtf8.map((bad) => {
        const good = encoder.encode(JSON.stringify(base));
        const out = new Uint8Array(good.length + bad.length);
        out.set(good.subarray(0, good.length - 1), 0);
        out.set(bad, good.length - 1);
        out[out.length - 1] = good[good.length - 1] ?? 0x7d;
        return out;
      }),
    },
  );
}

function isObject(value: unknown): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Short printable description of a body for failure messages. */
export function describeBody(body: Body | undefined): string {
  if (body === undefined) return "(none)";
  const text = typeof body === "string" ? body : `bytes(${body.length}) ${new TextDecoder().decode(body)}`;
  return text.length > 300 ? `${JSON.stringify(text.slice(0, 300))}… (${text.length} chars)` : JSON.stringify(text);
}
