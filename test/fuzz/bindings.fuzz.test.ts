/**
 * Property tests of binding specs (SPEC 5, 7, 9, 12.1, 16): invalid and hostile CEL in `when` and in
 * flow-control keys, hostile handler URIs (javascript:, file:, data:, metadata addresses in every
 * notation, credentials, IPv6-mapped and unicode hosts, very long), and GitOps manifests. A rejected
 * PUT or apply leaves every binding as it was; an accepted one stores exactly what was sent and
 * keeps the listing, circuit and stats routes answering. The SSRF guard refuses every spelling of a
 * private address.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { checkOutboundTarget } from "../../src/handlers/ssrf";
import { jsonText, mutatedExample, nastyChar, nastyString } from "./arbitraries";
import { FUZZ_SEED, fuzz, runs, timeoutFor } from "./config";
import { ADMIN, changedTables, checkAnswer, type FuzzRequest, send, settle, snapshot } from "./support";

const BASE_SPEC = { provider: "fzspec", events: ["a"], handler: "worker://fz-spec-q" };
const ID = "fz-spec";

async function put(id: string, body: string) {
  const req: FuzzRequest = {
    method: "PUT",
    path: `/v1/bindings/${id}`,
    headers: { ...ADMIN, "content-type": "application/json" },
    body,
  };
  const res = await send(req);
  checkAnswer(req, res);
  return { req, res };
}

async function getBinding(id: string) {
  const res = await send({ method: "GET", path: `/v1/bindings/${id}`, headers: ADMIN });
  return res.text;
}

/** The read routes that parse every stored spec keep answering. */
async function readRoutesAnswer() {
  for (const path of ["/v1/bindings?limit=500", "/v1/circuits", "/v1/stats", "/metrics"]) {
    const req: FuzzRequest = { method: "GET", path, headers: ADMIN };
    const res = await send(req);
    checkAnswer(req, res);
    expect(res.status, `${path}: ${res.text.slice(0, 300)}`).toBe(200);
  }
}

// ---- CEL ----

const CEL_TOKENS = [
  "event",
  ".payload",
  ".kind",
  ".provider",
  ".headers",
  ".?payload",
  ".?x",
  "?.",
  ".orValue(1)",
  "==",
  "!=",
  "<",
  ">=",
  "&&",
  "||",
  "!",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  ":",
  ",",
  "?",
  "+",
  "-",
  "*",
  "/",
  "%",
  " in ",
  "has(",
  "size(",
  "int(",
  "uint(",
  "double(",
  "string(",
  "bytes(",
  "dyn(",
  "type(",
  "timestamp('2026-01-01T00:00:00Z')",
  "duration('1s')",
  ".matches('(')",
  ".matches('a+')",
  ".exists(x, x > 0)",
  ".all(x, x)",
  ".map(x, x * 2)",
  ".filter(x, true)",
  ".exists_one(",
  "x",
  "'a'",
  '"b"',
  "'''",
  '"""',
  "r'\\d'",
  "b'\\xff'",
  "'\\u0000'",
  "'\\ud800'",
  "1",
  "1u",
  "1.0",
  "-1",
  "0x7fffffffffffffff",
  "9223372036854775808",
  "-9223372036854775809",
  "18446744073709551616u",
  "1e999",
  "null",
  "true",
  "false",
  "google.protobuf.Value",
  "__proto__",
  "constructor",
  "this",
  "import",
  "let",
];

/** Token soup (mostly invalid), valid expressions, deep nesting, near-limit lengths, non-strings. */
const celArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...CEL_TOKENS) }, { weight: 1, arbitrary: nastyChar }), {
        minLength: 1,
        maxLength: 16,
      })
      .chain((parts) => fc.constantFrom(parts.join(""), parts.join(" "))),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "event.kind == 'a'",
      "size(event.payload) > 0",
      "event.?payload.?n.orValue(0) > 1",
      "has(event.payload.x) && event.payload.x.startsWith('y')",
      "event.payload.items.exists(i, i.n > 2)",
      "event.kind.matches('^a+$')",
      "int(event.payload.n) % 2 == 0",
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 50, max: 9000 }), fc.constantFrom("(", "[", "!", "-", "{'a':"))
      .map(([n, open]) => `${open.repeat(n)}true`),
  },
  { weight: 1, arbitrary: fc.integer({ min: 8180, max: 8200 }).map((n) => `event.kind == '${"a".repeat(n - 17)}'`) },
  { weight: 1, arbitrary: nastyString },
  { weight: 1, arbitrary: jsonText.map((t) => JSON.parse(t) as unknown) },
);

/** Where a CEL expression goes: the predicate or a flow-control key. */
const celPlacement = fc.constantFrom(
  (cel: unknown) => ({ ...BASE_SPEC, when: cel }),
  (cel: unknown) => ({ ...BASE_SPEC, flow_control: { concurrency: { key: cel, max: 1 } } }),
  (cel: unknown) => ({ ...BASE_SPEC, flow_control: { debounce: { key: cel, period: "1s" } } }),
  (cel: unknown) => ({ ...BASE_SPEC, flow_control: { rate_limit: { key: cel, period: 1000, max: 2 } } }),
  (cel: unknown) => ({
    ...BASE_SPEC,
    flow_control: { concurrency: { max: 1 }, priority: { key: cel, order: ["gold"] } },
  }),
  (cel: unknown) => ({ ...BASE_SPEC, flow_control: { batch: { key: cel, size: 2, timeout: "1s" } } }),
);

// ---- handler URIs ----

const HOSTILE_URIS = [
  "javascript:alert(1)",
  "JAVASCRIPT://alert(1)",
  "javascript://%0aalert(1)",
  "file:///etc/passwd",
  "file://host/share",
  "data:text/plain,hi",
  "data://text/plain;base64,aGk=",
  "ftp://example.com/",
  "gopher://example.com/",
  "ws://example.com/",
  "mailto:a@example.com",
  "about:blank",
  "blob:https://example.com/uuid",
  "vbscript:msgbox",
  "",
  " ",
  "https://",
  "https:",
  "https:/x",
  "https:///x",
  "https:\\\\evil.example",
  "https://\\evil.example",
  "//example.com/x",
  "http://169.254.169.254/latest/meta-data/",
  "http://169.254.169.254.",
  "http://[::ffff:169.254.169.254]/",
  "http://[::ffff:a9fe:a9fe]/",
  "http://[0:0:0:0:0:ffff:a9fe:a9fe]/",
  "http://[64:ff9b::a9fe:a9fe]/",
  "http://0xa9fea9fe/",
  "http://2852039166/",
  "http://0251.0376.0251.0376/",
  "http://169.254.43518/",
  "http://user:pass@example.com/",
  "https://user:p%40ss@example.com:8443/x?token=secret#frag",
  "https://user@evil.example@good.example/",
  "http://localhost:8787/",
  "http://127.1/",
  "http://[::1]/",
  "http://[fe80::1%25eth0]/",
  "https://xn--80ak6aa92e.com/",
  "https://пример.рф/",
  "https://例え.テスト/",
  "https://①②⑦.⓪.⓪.①/",
  "https://127。0。0。1/",
  "https://ex\u0000ample.com/",
  "https://example.com/\ud800",
  "https://example.com:99999/",
  "https://example.com:-1/",
  "https://ex ample.com/",
  `https://example.com/${"a".repeat(2027)}`,
  `https://example.com/${"a".repeat(2028)}`,
  `https://${"a".repeat(3000)}.com/`,
  "a2a://",
  "a2a://[::ffff:127.0.0.1]:8080/agent",
  "a2a://user@host/x",
  "a2a://host:0/",
  "a2a://host:65536/",
  "a2a://h%00st/",
  "a2a://host/x?y#z",
  "a2a://пример.рф/agent",
  "service://",
  "service://X/../..",
  "service://1BAD/x",
  "worker://../x",
  "worker://",
  "persona://\u0000",
  "persona://a b",
];

const uriArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_URIS) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom("https", "http", "HTTPS", "a2a", "service", "worker", "persona", "javascript", "file", "x-y"),
        fc.constantFrom("://", ":", ":/", ":///", "://user:pw@"),
        fc.string({ unit: nastyChar, maxLength: 30 }),
      )
      .map(([scheme, sep, rest]) => `${scheme}${sep}${rest}`),
  },
  { weight: 1, arbitrary: nastyString },
);

const SCHEME_OK = /^(https?|service|a2a|worker|persona):\/\//i;

describe("binding specs under hostile input", () => {
  beforeAll(async () => {
    const { res } = await put(ID, JSON.stringify(BASE_SPEC));
    expect(res.status, res.text).toBe(201);
  });

  it(
    "invalid CEL in `when` or a flow-control key is a 400 naming the field; the binding is unchanged",
    async () => {
      await fuzz(
        fc.asyncProperty(celArb, celPlacement, async (cel, place) => {
          const before = await getBinding(ID);
          const spec = place(cel);
          const { req, res } = await put(ID, JSON.stringify(spec));
          if (res.status >= 400) {
            expect([400, 413], `${req.body} → ${res.text.slice(0, 300)}`).toContain(res.status);
            expect(await getBinding(ID), "a rejected PUT changed the binding").toBe(before);
          } else {
            expect([200, 201]).toContain(res.status);
            const stored = (res.json as { spec: Record<string, unknown> }).spec;
            expect(JSON.stringify(stored.when ?? stored.flow_control)).toContain(JSON.stringify(cel).slice(1, -1));
            await readRoutesAnswer();
            await settle();
          }
        }),
        runs(40),
      );
    },
    timeoutFor(40),
  );

  it(
    "hostile handler URIs: unknown schemes are a 400, accepted ones are stored verbatim, reads keep answering",
    async () => {
      await fuzz(
        fc.asyncProperty(uriArb, fc.boolean(), async (uri, asClassifier) => {
          const before = await getBinding(ID);
          const spec = asClassifier ? { ...BASE_SPEC, when: { classifier: uri } } : { ...BASE_SPEC, handler: uri };
          const { req, res } = await put(ID, JSON.stringify(spec));
          const context = `${JSON.stringify(req.body).slice(0, 300)} → ${res.status} ${res.text.slice(0, 300)}`;
          if (!SCHEME_OK.test(uri)) expect([400, 413], context).toContain(res.status);
          if (res.status >= 400) {
            expect([400, 413], context).toContain(res.status);
            expect(await getBinding(ID), "a rejected PUT changed the binding").toBe(before);
          } else {
            const stored = (res.json as { spec: { handler: string; when?: { classifier: string } } }).spec;
            expect(asClassifier ? stored.when?.classifier : stored.handler, context).toBe(uri);
            await readRoutesAnswer();
            // Credentials in a handler URL never reach circuit listings.
            const circuits = await send({ method: "GET", path: "/v1/circuits", headers: ADMIN });
            const userinfo = /^[a-z0-9+.-]+:\/\/([^/@]*)@/i.exec(uri)?.[1];
            if (userinfo && /^https?:/i.test(uri)) expect(circuits.text).not.toContain(`${userinfo}@`);
            await settle();
          }
        }),
        runs(40),
      );
    },
    timeoutFor(40),
  );

  it(
    "a rejected manifest apply changes no binding",
    async () => {
      const manifest = {
        bindings: [
          { id: ID, ...BASE_SPEC },
          {
            id: "fz-spec-2",
            ...BASE_SPEC,
            when: "event.kind == 'a'",
            flow_control: { singleton: { key: "event.kind" } },
          },
        ],
      };
      await fuzz(
        fc.asyncProperty(mutatedExample(manifest), async (body) => {
          const before = await snapshot();
          const req: FuzzRequest = {
            method: "POST",
            path: "/v1/bindings:apply",
            headers: { ...ADMIN, "content-type": "application/json" },
            body,
          };
          const res = await send(req);
          checkAnswer(req, res);
          if (res.status >= 400) {
            expect(
              changedTables(before, await snapshot()),
              `${body.slice(0, 300)} → ${res.text.slice(0, 300)}`,
            ).toEqual([]);
          } else {
            await readRoutesAnswer();
            await settle();
          }
        }),
        runs(20),
      );
    },
    timeoutFor(20),
  );
});

// ---- hostile payloads through predicates and flow-control keys ----

const FLOW_BINDINGS: [string, Record<string, unknown>][] = [
  ["fz-flow-when", { when: "event.?payload.?a.orValue(1) != 2 && size(event.kind) > 0" }],
  ["fz-flow-conc", { flow_control: { concurrency: { key: "event.payload", max: 5 } } }],
  ["fz-flow-rate", { flow_control: { rate_limit: { key: "event.payload.k", period: "1s", max: 1000 } } }],
  ["fz-flow-single", { flow_control: { singleton: { key: "event.?payload.?k.orValue('none')" } } }],
  ["fz-flow-debounce", { flow_control: { debounce: { key: "event.kind", period: 20 } } }],
];

/** Payloads: any JSON, deep (up to the accepted 128 levels), huge strings, hostile keys. */
const payloadArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: jsonText },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 126 }).map((depth) => `{"k":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`),
  },
  {
    weight: 1,
    arbitrary: nastyString.map((text) => JSON.stringify({ k: text.slice(0, 400_000), a: text.slice(0, 10) })),
  },
);

describe("hostile payloads through predicates and flow-control keys", () => {
  beforeAll(async () => {
    for (const [id, extra] of FLOW_BINDINGS) {
      const { res } = await put(id, JSON.stringify({ provider: "fzflow", handler: "worker://fz-flow", ...extra }));
      expect(res.status, res.text).toBe(201);
    }
  });

  it(
    "every dispatch of an accepted event reaches a terminal status",
    async () => {
      await fuzz(
        fc.asyncProperty(payloadArb, async (payload) => {
          const req: FuzzRequest = {
            method: "POST",
            path: "/v1/events",
            headers: { ...ADMIN, "content-type": "application/json" },
            body: `{"provider":"fzflow","kind":"k","payload":${payload}}`,
          };
          const res = await send(req);
          checkAnswer(req, res);
          if (res.status !== 202) return;
          const eventId = (res.json as { event_id: string }).event_id;
          const deadline = Date.now() + 15_000;
          for (;;) {
            const got = await send({ method: "GET", path: `/v1/events/${eventId}`, headers: ADMIN });
            checkAnswer({ method: "GET", path: `/v1/events/${eventId}` }, got);
            const dispatches = (got.json as { dispatches: { binding_key: string; status: string }[] }).dispatches;
            const live = dispatches.filter((d) => !TERMINAL.has(d.status));
            if (dispatches.length === FLOW_BINDINGS.length && live.length === 0) return;
            if (Date.now() > deadline) {
              throw new Error(
                `event ${eventId} with payload ${payload.slice(0, 200)} left dispatches unfinished: ${JSON.stringify(dispatches)}`,
              );
            }
            await new Promise((r) => setTimeout(r, 50));
          }
        }),
        runs(10),
      );
    },
    timeoutFor(10, 2_000),
  );
});

const TERMINAL = new Set(["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"]);

// ---- the SSRF guard (pure) ----

const privateV4 = fc.oneof(
  fc.tuple(fc.constant(127), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(10), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(169), fc.constant(254), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(172), fc.integer({ min: 16, max: 31 }), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(192), fc.constant(168), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(0), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(fc.constant(100), fc.integer({ min: 64, max: 127 }), fc.nat(255), fc.nat(255)),
);

const hex4 = (n: number) => n.toString(16);

/** Spellings of one IPv4 address a URL parser accepts as a host. */
function spellings([a, b, c, d]: [number, number, number, number]): string[] {
  const int = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
  return [
    `${a}.${b}.${c}.${d}`,
    `${a}.${b}.${c}.${d}.`,
    String(int),
    `0x${int.toString(16)}`,
    `0${a.toString(8)}.0${b.toString(8)}.0${c.toString(8)}.0${d.toString(8)}`,
    `${a}.${(b << 16) + (c << 8) + d}`,
    `[::ffff:${a}.${b}.${c}.${d}]`,
    `[::ffff:${hex4((a << 8) | b)}:${hex4((c << 8) | d)}]`,
    `[0:0:0:0:0:ffff:${hex4((a << 8) | b)}:${hex4((c << 8) | d)}]`,
    `[64:ff9b::${hex4((a << 8) | b)}:${hex4((c << 8) | d)}]`,
  ];
}

describe("SSRF guard", () => {
  it("refuses every spelling of a private IPv4 address, with or without credentials and port", () => {
    fc.assert(
      fc.property(
        privateV4,
        fc.nat(9),
        fc.constantFrom("http", "https"),
        fc.constantFrom("", "user:pass@", "u@"),
        fc.constantFrom("", ":80", ":8443"),
        (octets, pick, scheme, userinfo, port) => {
          const host = spellings(octets)[pick] ?? "";
          const url = new URL(`${scheme}://${userinfo}${host}${port}/x`);
          const check = checkOutboundTarget(url, false);
          expect(check.ok, `${url.href} (from ${host}) was allowed`).toBe(false);
        },
      ),
      { numRuns: runs(300), seed: FUZZ_SEED },
    );
  });
});
