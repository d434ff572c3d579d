/**
 * CEL library comparison: `@marcbachmann/cel-js` (what src/lib/cel.ts wraps) against `@bufbuild/cel`.
 * Run with Node 22 (type stripping):
 *
 *   npm run bench:cel            (or: npx node bench/cel.ts)
 *   npm run bench:cel -- --quick (shorter speed runs)
 *
 * 1. Conformance: every section of the cel-spec suite (`@bufbuild/cel-spec`) through both libraries,
 *    with the same skip rules and plain-JSON comparison as test/unit/lib/cel-conformance.test.ts.
 *    Ours runs through compileCel/evaluateCel (parse + type-check + eval); `@bufbuild/cel` through
 *    parse + plan + eval (its checker is not public), with its `strings` extension.
 * 2. Speed: realistic predicates over GitHub `issues` and `push` events, compiled once and evaluated
 *    many times (a pool of 16 events), median of several timed runs. Both libraries must agree on
 *    every result, or the script exits non-zero.
 */
import { register } from "node:module";
import { CelScalar, celEnv, isCelError, isCelList, isCelMap, isCelType, isCelUint, parse, plan } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";

register("./resolve-ts.mjs", import.meta.url);

const { compileCel, evaluateCel } = await import("../src/lib/cel.ts");
const { PREDICATE_SECTIONS, conformanceCases, formatTallies, runConformance } = await import(
  "../test/support/cel-conformance.ts"
);
type JsonValue = import("../src/lib/cel.ts").JsonValue;
type CelOutcome = import("../test/support/cel-conformance.ts").CelOutcome;
type SectionTally = import("../test/support/cel-conformance.ts").SectionTally;

const quick = process.argv.includes("--quick");
const DURATION_MS = quick ? 300 : 1000;
const RUNS = quick ? 1 : 5;

// ---------------------------------------------------------------- engines

function ours(expr: string): CelOutcome {
  const compiled = compileCel(expr);
  if (!compiled.ok) return { ok: false, stage: "compile", error: compiled.error };
  const result = evaluateCel(compiled.program, {});
  return result.ok ? result : { ok: false, stage: "eval", error: result.error };
}

const bufEnv = celEnv({ variables: { event: CelScalar.DYN }, funcs: strings });

function bufbuildProgram(expr: string): (vars: { event: unknown }) => unknown {
  const run = plan(bufEnv, parse(expr));
  return (vars) => run(vars as Parameters<typeof run>[0]);
}

function bufbuild(expr: string): CelOutcome {
  let run: ReturnType<typeof bufbuildProgram>;
  try {
    run = bufbuildProgram(expr);
  } catch (error) {
    return { ok: false, stage: "compile", error: String(error) };
  }
  let value: unknown;
  try {
    value = run({ event: {} });
  } catch (error) {
    return { ok: false, stage: "eval", error: String(error) };
  }
  if (isCelError(value)) return { ok: false, stage: "eval", error: value.message };
  return { ok: true, value: bufbuildJson(value) };
}

/** `@bufbuild/cel` values as plain JSON, following the same rules as `toPlainJson`. */
function bufbuildJson(value: unknown): JsonValue {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return Object.is(value, -0) ? 0 : value;
    return Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
  }
  if (typeof value === "bigint") return integerJson(value);
  if (isCelUint(value)) return integerJson(value.value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (isCelType(value)) return value.name;
  if (isCelList(value)) return Array.from(value, bufbuildJson);
  if (isCelMap(value)) {
    return Object.fromEntries(
      Array.from(value, ([k, v]) => [String(isCelUint(k) ? k.value : k), bufbuildJson(v)] as [string, JsonValue]),
    );
  }
  const message = value as { desc?: { typeName?: string }; message?: { seconds?: bigint; nanos?: number } };
  const typeName = message.desc?.typeName;
  const seconds = message.message?.seconds ?? 0n;
  const nanos = message.message?.nanos ?? 0;
  if (typeName === "google.protobuf.Timestamp") {
    return new Date(Number(seconds) * 1000 + Math.trunc(nanos / 1e6)).toISOString();
  }
  if (typeName === "google.protobuf.Duration") {
    const total = seconds * 1_000_000_000n + BigInt(nanos);
    const abs = total < 0n ? -total : total;
    const fraction = (abs % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
    return `${total < 0n ? "-" : ""}${abs / 1_000_000_000n}${fraction ? `.${fraction}` : ""}s`;
  }
  return `<${typeName ?? typeof value}>`;
}

function integerJson(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value.toString();
}

// ---------------------------------------------------------------- conformance

const cases = conformanceCases();
const oursTallies = runConformance(ours, cases);
const bufTallies = runConformance(bufbuild, cases, { typeChecks: false });

console.log(`CEL conformance (cel-spec data from @bufbuild/cel-spec), Node ${process.version}\n`);
console.log(`@marcbachmann/cel-js via src/lib/cel.ts\n${formatTallies(oursTallies)}\n`);
console.log(`@bufbuild/cel (parse + plan, strings extension)\n${formatTallies(bufTallies)}\n`);

const rate = (t: SectionTally | undefined) =>
  !t || t.pass + t.fail === 0
    ? "-"
    : `${t.pass}/${t.pass + t.fail} (${((100 * t.pass) / (t.pass + t.fail)).toFixed(1)}%)`;
/** The sections test/unit/lib/cel-conformance.test.ts asserts, summed. */
function predicateTotal(tallies: readonly SectionTally[]): SectionTally {
  const sum: SectionTally = { section: "total", pass: 0, fail: 0, skip: 0, skipped: {}, failures: [] };
  for (const t of tallies) {
    if (!(PREDICATE_SECTIONS as readonly string[]).includes(t.section)) continue;
    sum.pass += t.pass;
    sum.fail += t.fail;
    sum.skip += t.skip;
  }
  return sum;
}
console.log("Side by side (passed / run, skips excluded):");
console.log(`${"section".padEnd(16)} ${"@marcbachmann/cel-js".padEnd(22)} @bufbuild/cel`);
for (const t of oursTallies) {
  const b = bufTallies.find((x) => x.section === t.section);
  console.log(`${t.section.padEnd(16)} ${rate(t).padEnd(22)} ${rate(b)}`);
}
console.log(
  `${"predicate total".padEnd(16)} ${rate(predicateTotal(oursTallies)).padEnd(22)} ${rate(predicateTotal(bufTallies))}\n`,
);

// ---------------------------------------------------------------- speed

const user = (login: string, id: number) => ({
  login,
  id,
  node_id: `MDQ6VXNlcj${id}`,
  avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
  html_url: `https://github.com/${login}`,
  type: "User",
  site_admin: false,
});
const repository = {
  id: 1296269,
  node_id: "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
  name: "app",
  full_name: "acme/app",
  private: false,
  owner: user("acme", 9919),
  html_url: "https://github.com/acme/app",
  default_branch: "main",
  topics: ["edge", "webhooks"],
  visibility: "public",
};
const actions = ["opened", "edited", "closed", "labeled"];
const labelSets = [
  [],
  [{ name: "bug" }],
  [{ name: "enhancement" }, { name: "good first issue" }],
  [{ name: "bug" }, { name: "p1" }],
];

function issuesEvent(n: number) {
  const action = actions[n % actions.length] as string;
  return {
    id: `evt_issues_${n}`,
    provider: "github",
    kind: `issues.${action}`,
    received_at: "2026-11-26T08:00:00.000Z",
    occurred_at: "2026-11-26T08:00:00Z",
    dedupe_key: `delivery-${n}`,
    trace_id: `trace-${n}`,
    tenant_id: null,
    headers: { "x-github-event": "issues", "content-type": "application/json", "user-agent": "GitHub-Hookshot/abc" },
    signature_status: { state: "verified" },
    payload: {
      action,
      issue: {
        url: `https://api.github.com/repos/acme/app/issues/${n}`,
        number: n,
        title: n % 3 === 0 ? `WIP: crash on start (#${n})` : `Crash on start when the config file is missing (#${n})`,
        user: user(n % 2 ? "octocat" : "hubot", 583231 + (n % 2)),
        labels: (labelSets[n % labelSets.length] ?? []).map((l, i) => ({ id: 208045946 + i, ...l, default: false })),
        state: action === "closed" ? "closed" : "open",
        locked: false,
        comments: n % 5,
        created_at: "2026-11-26T08:00:00Z",
        author_association: n % 4 === 0 ? "OWNER" : "CONTRIBUTOR",
        body: "Steps to reproduce:\n1. Remove config.yml\n2. Run `app start`\n\nExpected: a helpful error.",
      },
      repository,
      sender: user(n % 2 ? "octocat" : "hubot", 583231 + (n % 2)),
    },
  };
}

function pushEvent(n: number) {
  const files = [["src/index.ts", "README.md"], ["docs/guide.md"], ["src/lib/cel.ts", "test/unit/lib/cel.test.ts"]];
  const commits = Array.from({ length: 1 + (n % 4) }, (_, i) => ({
    id: `${(n * 7919 + i).toString(16).padStart(8, "0")}c0ffee`,
    message: i === 0 && n % 2 ? "chore: bump deps" : `Fix startup crash (#${n + i})`,
    timestamp: "2026-11-26T08:00:00Z",
    author: { name: "Mona", email: "mona@example.com", username: "mona" },
    added: [],
    removed: [],
    modified: files[(n + i) % files.length],
  }));
  return {
    id: `evt_push_${n}`,
    provider: "github",
    kind: "push",
    received_at: "2026-11-26T08:00:00.000Z",
    occurred_at: null,
    dedupe_key: `delivery-push-${n}`,
    trace_id: `trace-push-${n}`,
    tenant_id: null,
    headers: { "x-github-event": "push", "content-type": "application/json" },
    signature_status: { state: "verified" },
    payload: {
      ref: n % 3 ? "refs/heads/main" : `refs/heads/feature-${n}`,
      before: "0000000000000000000000000000000000000000",
      after: commits.at(-1)?.id,
      created: false,
      deleted: false,
      forced: n % 7 === 0,
      commits,
      head_commit: commits.at(-1),
      repository,
      pusher: { name: "mona", email: "mona@example.com" },
      sender: user("mona", 4242),
    },
  };
}

const POOL = 16;
const issues = Array.from({ length: POOL }, (_, n) => issuesEvent(n + 1));
const pushes = Array.from({ length: POOL }, (_, n) => pushEvent(n + 1));

const expressions: Array<{ name: string; source: string; events: readonly unknown[] }> = [
  {
    name: "issues: kind + repository",
    source: 'event.kind == "issues.opened" && event.payload.repository.full_name == "acme/app"',
    events: issues,
  },
  {
    name: "issues: label exists + state",
    source: 'event.payload.issue.labels.exists(l, l.name == "bug") && event.payload.issue.state == "open"',
    events: issues,
  },
  {
    name: "issues: action in list, string functions",
    source:
      'event.payload.action in ["opened", "edited"] && !event.payload.issue.title.startsWith("WIP") && event.payload.sender.login.endsWith("cat")',
    events: issues,
  },
  {
    // RE2 syntax: cel-js compiles patterns as JavaScript RegExp, so an inline flag like `(?i)` is an
    // eval error there (`@bufbuild/cel` ships an RE2 port); this pattern means the same in both.
    name: "issues: regex + size + has()",
    source:
      'has(event.payload.issue.labels) && size(event.payload.issue.body) > 20 && event.payload.issue.title.matches("^(WIP: )?[Cc]rash")',
    events: issues,
  },
  {
    name: "push: main branch, nested exists over files",
    source:
      'event.payload.ref == "refs/heads/main" && event.payload.commits.exists(c, c.modified.exists(f, f.startsWith("src/")))',
    events: pushes,
  },
  {
    name: "push: all() + size + bool field",
    source:
      '!event.payload.forced && size(event.payload.commits) <= 3 && event.payload.commits.all(c, !c.message.startsWith("chore"))',
    events: pushes,
  },
  { name: "flow key: string field (non-bool result)", source: "event.payload.repository.full_name", events: pushes },
];

interface Timing {
  perSec: number;
  usPerOp: number;
}

/** Runs `step(i)` for DURATION_MS after a warm-up, RUNS times, and reports the median rate. */
function measure(step: (i: number) => void): Timing {
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    for (let i = 0; i < 2000; i++) step(i);
    let i = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < DURATION_MS) {
      for (let k = 0; k < 500; k++) step(i++);
      elapsed = performance.now() - start;
    }
    rates.push((i / elapsed) * 1000);
  }
  rates.sort((a, b) => a - b);
  const perSec = rates[Math.floor(rates.length / 2)] as number;
  return { perSec: Math.round(perSec), usPerOp: 1e6 / perSec };
}

let mismatches = 0;
const rows: Array<{ name: string; ours: Timing; buf: Timing }> = [];
for (const { name, source, events } of expressions) {
  const compiled = compileCel(source);
  if (!compiled.ok) throw new Error(`${name}: ${compiled.error}`);
  const program = compiled.program;
  const bufRun = bufbuildProgram(source);
  for (const event of events) {
    const a = evaluateCel(program, { event });
    const raw = bufRun({ event });
    const b = isCelError(raw) ? { ok: false } : { ok: true, value: bufbuildJson(raw) };
    if (JSON.stringify(a.ok ? { ok: true, value: a.value } : { ok: false }) !== JSON.stringify(b)) {
      mismatches++;
      console.error(`MISMATCH ${name}: ours ${JSON.stringify(a)} vs @bufbuild/cel ${JSON.stringify(b)}`);
    }
  }
  let sink = 0;
  const oursTiming = measure((i) => {
    const r = evaluateCel(program, { event: events[i % POOL] });
    if (r.ok && r.value === true) sink++;
  });
  const bufTiming = measure((i) => {
    if (bufRun({ event: events[i % POOL] }) === true) sink++;
  });
  if (sink < 0) console.log(sink);
  rows.push({ name, ours: oursTiming, buf: bufTiming });
}

console.log(
  `CEL evaluation speed (compile once, evaluate over a pool of ${POOL} events; median of ${RUNS} runs of ${DURATION_MS} ms)\n`,
);
const width = Math.max(...rows.map((r) => r.name.length));
console.log(
  `${"expression".padEnd(width)}  ${"cel-js evals/s".padStart(15)}  ${"µs".padStart(6)}  ${"bufbuild evals/s".padStart(16)}  ${"µs".padStart(6)}  ratio`,
);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(width)}  ${r.ours.perSec.toLocaleString("en").padStart(15)}  ${r.ours.usPerOp.toFixed(2).padStart(6)}  ${r.buf.perSec.toLocaleString("en").padStart(16)}  ${r.buf.usPerOp.toFixed(2).padStart(6)}  ${(r.ours.perSec / r.buf.perSec).toFixed(1)}×`,
  );
}
if (mismatches > 0) {
  console.error(`\n${mismatches} result mismatches between the libraries`);
  process.exit(1);
}
