/**
 * `npm run bench`: the SPEC 17 figures against a real `wrangler dev`, loopback only. About 5 minutes
 * when the machine keeps up with 100 events/s; longer when that run's backlog must drain first
 * (8.4 minutes on the 2-core development machine, see docs/benchmarks.md).
 *
 *   1. intake      signed GitHub webhooks from N closed-loop clients: throughput and latency, as a
 *                  ratio to a bare Worker (bench/baseline-worker: one D1 insert + one queue send)
 *   2. latency     accept → first handler call at a steady rate (open loop) and at saturation
 *   3. e2e         end-to-end dispatch throughput, with no flow control and with a concurrency gate
 *   4. ops         billable Cloudflare operations per dispatched event (a second boot with
 *                  BILLABLE_OPS_COUNTING=true, src/observability/billable-ops.ts) and their price;
 *                  5. the capacity model that follows from them
 *   6. flow        flow-control decisions per second in a BindingGate's own SQLite (workerd, through
 *                  test/unit/flow/flow-control-sql.bench.ts)
 *   7. preview     `POST /v1/bindings:preview` over 1,000 stored events (SPEC 5.4): answer time
 *
 * It starts what it needs on spare ports with fresh state, and stops it again: Switchyard through
 * `scripts/start.mjs` (as `npm start`), the demo handler's server (bench/handler.ts: the one
 * `npm run handler` runs, with a longer keep-alive), the baseline Worker, and for phase 4 Switchyard
 * again through the same wrangler commands with `--var BILLABLE_OPS_COUNTING:true`.
 *
 * Options (flags or BENCH_* environment variables, e.g. --intake-seconds=5 or BENCH_INTAKE_SECONDS=5):
 *   --quick                 short runs
 *   --only=intake,latency,e2e,ops,flow,preview
 *   --concurrency=50        closed-loop clients (intake, saturation)
 *   --intake-seconds=8 --rounds=2 --warmup-seconds=2
 *   --rates=10,100 --latency-seconds=20 --saturation-seconds=8   (open-loop rates, events/s)
 *   --e2e-events=300 --e2e-concurrency-max=10
 *   --ops-events=200 --ops-rate=10 --ops-handler-ms=100   (SPEC 17: 10 events/s, a handler answering in 100 ms)
 *   --port-base=8790        Switchyard, its counting twin, the baseline and the handler use base..base+3
 *   --json=<file>           also write every figure as JSON
 *   --keep                  keep the temporary state and logs
 */
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  billableOpsPerEvent,
  type Capacity,
  capacity,
  costPerMillionEvents,
  type OriginCounts,
  type PerEvent,
  PRICES,
  perEvent,
} from "./lib/billing.ts";
import { cpuDuring, machine, settle } from "./lib/cpu.ts";
import { githubDelivery } from "./lib/github.ts";
import { type Call, closedLoop, type LoadResult, openLoop, send, statusCounts } from "./lib/http.ts";
import {
  portFree,
  run,
  type Started,
  start,
  stop,
  switchyardDevArgs,
  waitHealthy,
  wranglerEnv,
} from "./lib/processes.ts";
import { acceptToFirstCall, type Summary, summarize } from "./lib/stats.ts";
import { storageUsage } from "./lib/storage.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

// ---- options -------------------------------------------------------------------------------------

function option(name: string): string | undefined {
  const flag = process.argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (flag) return flag.includes("=") ? flag.slice(flag.indexOf("=") + 1) : "true";
  return process.env[`BENCH_${name.toUpperCase().replaceAll("-", "_")}`];
}
const quick = option("quick") === "true" || option("quick") === "1";
function num(name: string, normal: number, short: number): number {
  const raw = option(name);
  const value = raw === undefined ? (quick ? short : normal) : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got '${raw}'`);
  return value;
}
const PHASES = ["intake", "latency", "e2e", "ops", "flow", "preview"] as const;
type Phase = (typeof PHASES)[number];
const only = new Set((option("only") ?? PHASES.join(",")).split(",").map((s) => s.trim()));
for (const p of only) if (!(PHASES as readonly string[]).includes(p)) throw new Error(`unknown phase '${p}'`);
const wants = (p: Phase) => only.has(p);

const opts = {
  concurrency: num("concurrency", 50, 50),
  intakeSeconds: num("intake-seconds", 8, 3),
  rounds: num("rounds", 2, 1),
  warmupSeconds: num("warmup-seconds", 2, 1),
  rates: (option("rates") ?? "10,100").split(",").map((r) => {
    const n = Number(r);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--rates must list positive numbers, got '${r}'`);
    return n;
  }),
  latencySeconds: num("latency-seconds", 20, 6),
  saturationSeconds: num("saturation-seconds", 8, 3),
  e2eEvents: num("e2e-events", 300, 200),
  e2eConcurrencyMax: num("e2e-concurrency-max", 10, 10),
  opsEvents: num("ops-events", 200, 100),
  opsRate: num("ops-rate", 10, 10),
  opsHandlerMs: num("ops-handler-ms", 100, 100),
  portBase: num("port-base", 8790, 8790),
};
const keep = option("keep") === "true";
const jsonOut = option("json");

const ports = { sy: opts.portBase, syOps: opts.portBase + 1, baseline: opts.portBase + 2, handler: opts.portBase + 3 };
const SY = `http://127.0.0.1:${ports.sy}`;
const SY_OPS = `http://127.0.0.1:${ports.syOps}`;
const BASELINE = `http://127.0.0.1:${ports.baseline}`;
const HANDLER = `http://127.0.0.1:${ports.handler}`;
const SECRET = "bench-github-secret";
const runId = Date.now().toString(36);

// ---- output --------------------------------------------------------------------------------------

const results: Record<string, unknown> = { started_at: new Date().toISOString(), options: opts, machine: machine() };
const log = (line = "") => console.log(line);
const fmt = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : "–");
const ms = (s: Summary) => `p50 ${fmt(s.p50)} / p95 ${fmt(s.p95)} / p99 ${fmt(s.p99)} ms (max ${fmt(s.max)}, n ${s.n})`;

// ---- processes -----------------------------------------------------------------------------------

const tmp = mkdtempSync(join(tmpdir(), "switchyard-bench-"));
const started: Started[] = [];
const devVars = join(root, ".dev.vars");
const hadDevVars = existsSync(devVars);
const childEnv = (extra: Record<string, string> = {}) =>
  wranglerEnv({ PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH ?? ""}`, ...extra });

async function cleanup(keepState: boolean): Promise<void> {
  await Promise.all(started.splice(0).map((s) => stop(s)));
  if (!hadDevVars && existsSync(devVars)) rmSync(devVars);
  if (!keepState) rmSync(tmp, { recursive: true, force: true });
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    void cleanup(keep).finally(() => process.exit(130));
  });
}

function track(s: Started): Started {
  started.push(s);
  return s;
}

async function startHandler(): Promise<void> {
  const s = track(
    start("handler", process.execPath, ["bench/handler.ts"], {
      cwd: root,
      env: childEnv({ HANDLER_PORT: String(ports.handler) }),
      log: join(tmp, "handler.log"),
    }),
  );
  await waitHealthy(`${HANDLER}/__calls/_health`, s, 30_000);
}

async function startBaseline(): Promise<Started> {
  const state = join(tmp, "baseline-state");
  const config = "bench/baseline-worker/wrangler.jsonc";
  const logFile = join(tmp, "baseline.log");
  const env = childEnv();
  await run("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state, "-c", config], {
    cwd: root,
    env,
    log: logFile,
  });
  const s = track(
    start(
      "baseline worker",
      "wrangler",
      [
        "dev",
        "-c",
        config,
        "--ip",
        "127.0.0.1",
        "--port",
        String(ports.baseline),
        "--persist-to",
        state,
        "--show-interactive-dev-session=false",
      ],
      { cwd: root, env, log: logFile },
    ),
  );
  await waitHealthy(`${BASELINE}/healthz`, s, 120_000);
  return s;
}

/** Switchyard as `npm start` runs it (scripts/start.mjs), on its own port with fresh state. */
async function startSwitchyard(): Promise<{ process: Started; token: string }> {
  const s = track(
    start("switchyard", process.execPath, ["scripts/start.mjs"], {
      cwd: root,
      env: childEnv({ PORT: String(ports.sy), SWITCHYARD_STATE_DIR: join(tmp, "switchyard-state") }),
      log: join(tmp, "switchyard.log"),
    }),
  );
  await waitHealthy(`${SY}/healthz`, s, 180_000);
  const vars = Object.fromEntries(
    readFileSync(devVars, "utf8")
      .split("\n")
      .map((line) => /^\s*([A-Z0-9_]+)\s*=\s*"?([^"]*)"?\s*$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2]]),
  );
  if (!vars.ADMIN_TOKEN) throw new Error(".dev.vars has no ADMIN_TOKEN");
  if (vars.ALLOW_PRIVATE_TARGETS !== "true") {
    throw new Error(".dev.vars must set ALLOW_PRIVATE_TARGETS=true: the benchmark's handler is on 127.0.0.1");
  }
  return { process: s, token: vars.ADMIN_TOKEN };
}

/** The same wrangler commands as scripts/start.mjs, with billable-operation counting switched on. */
async function startCountingSwitchyard(): Promise<{ process: Started; token: string }> {
  const state = join(tmp, "switchyard-ops-state");
  const logFile = join(tmp, "switchyard-ops.log");
  const token = `bench-${randomUUID()}`;
  mkdirSync(join(tmp, "env"));
  const envFile = join(tmp, "env", "ops.env");
  writeFileSync(
    envFile,
    `ADMIN_TOKEN=${token}\nALLOW_PRIVATE_TARGETS=true\nSECRETS_KEY=${randomBytes(32).toString("base64")}\n`,
  );
  const env = childEnv();
  await run("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], {
    cwd: root,
    env,
    log: logFile,
  });
  const s = track(
    start(
      "switchyard (counting)",
      "wrangler",
      switchyardDevArgs({
        port: ports.syOps,
        state,
        envFile,
        extra: ["--var", "BILLABLE_OPS_COUNTING:true"],
      }),
      { cwd: root, env, log: logFile },
    ),
  );
  await waitHealthy(`${SY_OPS}/healthz`, s, 180_000);
  return { process: s, token };
}

async function release(s: Started): Promise<void> {
  const i = started.indexOf(s);
  if (i >= 0) started.splice(i, 1);
  await stop(s);
}

// ---- Switchyard API ------------------------------------------------------------------------------

function apiOf(base: string, token: string) {
  return async <T = unknown>(method: string, path: string, body?: unknown): Promise<T> => {
    const reply = await send({
      method,
      url: `${base}${path}`,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (reply.status < 200 || reply.status >= 300) {
      throw new Error(`${method} ${path} → ${reply.status}: ${reply.body.slice(0, 500)}`);
    }
    return (reply.body ? JSON.parse(reply.body) : null) as T;
  };
}
type Api = ReturnType<typeof apiOf>;

async function scriptHandler(name: string, delayMs = 0): Promise<void> {
  const reply = await send({
    method: "PUT",
    url: `${HANDLER}/__script/${name}`,
    body: JSON.stringify({
      responses: [],
      otherwise: { status: 200, body: { ok: true }, ...(delayMs > 0 ? { delay_ms: delayMs } : {}) },
    }),
  });
  if (reply.status !== 204) throw new Error(`scripting the handler failed: ${reply.status}`);
}

interface HandlerCall {
  eventId: string | null;
  at: number;
}
async function handlerCalls(name: string): Promise<HandlerCall[]> {
  const reply = await send({ method: "GET", url: `${HANDLER}/__calls/${name}` });
  const calls = JSON.parse(reply.body) as Array<{ headers: Record<string, string | undefined>; at: number }>;
  return calls.map((c) => ({ eventId: c.headers["x-switchyard-event-id"] ?? null, at: c.at }));
}

interface Stats {
  in_flight: number;
  bindings: Array<{ binding_key: string; in_flight: number }>;
}

/**
 * Waits until the handler has seen `expected` events and nothing is in flight (gate and D1):
 * /v1/stats is polled (small); the call list only when the gates are idle. Returns when that
 * happened, or null after `timeoutMs` (the pipeline could not keep up).
 */
async function waitAllDone(api: Api, handler: string, expected: number, timeoutMs: number): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // Only this binding's gate is asked (one Durable Object call); the D1 count covers all of them.
    const id = bindingOfHandler.get(handler);
    const stats = await api<Stats>("GET", `/v1/stats${id ? `?binding_id=${encodeURIComponent(id)}` : ""}`);
    const busy = stats.in_flight + stats.bindings.reduce((n, b) => n + b.in_flight, 0);
    if (busy === 0) {
      const seen = new Set((await handlerCalls(handler)).map((c) => c.eventId)).size;
      if (seen >= expected) return Date.now();
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  log(`    (gave up waiting after ${timeoutMs / 1000} s: the pipeline could not keep up)`);
  return null;
}

async function createSource(api: Api): Promise<void> {
  await api("PUT", "/v1/sources/bench-gh", { provider: "github", verify: { style: "github", secret: SECRET } });
}

/** Handler name (its path on the handler server) → binding id. */
const bindingOfHandler = new Map<string, string>();

async function createBinding(api: Api, id: string, spec: Record<string, unknown>, delayMs = 0): Promise<string> {
  const handler = `${id}-${runId}`;
  bindingOfHandler.set(handler, id);
  await scriptHandler(handler, delayMs);
  await api("PUT", `/v1/bindings/${id}`, { ...spec, handler: `${HANDLER}/h/${handler}` });
  return handler;
}

function accepted(load: LoadResult): Map<string, number> {
  const map = new Map<string, number>();
  for (const r of load.replies) {
    if (r.status !== 202) continue;
    const body = JSON.parse(r.body) as { event_id?: string };
    if (body.event_id) map.set(body.event_id, r.doneAt);
  }
  return map;
}

// ---- phases --------------------------------------------------------------------------------------

/** Intake, and the CPU each target's whole process tree (wrangler, workerd) spends per request. */
async function intakePhase(pids: Record<"baseline" | "switchyard", number | undefined>): Promise<void> {
  log("## 1. Intake throughput (signed GitHub webhooks vs the bare baseline Worker)");
  const baselineCall = (i: number): Call => githubDelivery(`${BASELINE}/hooks/bench`, SECRET, i, "edited");
  // `issues.edited` matches no binding: this phase measures intake (and inbox routing), not dispatch.
  const switchyardCall = (i: number): Call => githubDelivery(`${SY}/hooks/bench-gh`, SECRET, i, "edited");
  const c = opts.concurrency;
  await closedLoop(c, opts.warmupSeconds * 1000, baselineCall);
  await closedLoop(c, opts.warmupSeconds * 1000, switchyardCall);
  const runs: Array<{
    target: string;
    round: number;
    rps: number;
    ok: number;
    cpu_ms_per_request: number | null;
    statuses: Record<string, number>;
  }> = [];
  const latency: Record<string, number[]> = { baseline: [], switchyard: [] };
  for (let round = 1; round <= opts.rounds; round++) {
    for (const [target, call] of [
      ["baseline", baselineCall],
      ["switchyard", switchyardCall],
    ] as const) {
      await settle();
      // CPU until the queued work (inbox routing, the baseline's acks) has drained too.
      const { result: load, cpuMs } = await cpuDuring(pids[target], async () => {
        const l = await closedLoop(c, opts.intakeSeconds * 1000, call);
        await settle(0.2, 8000);
        return l;
      });
      const ok = load.replies.filter((r) => r.status === 202);
      const rps = ok.length / (load.elapsedMs / 1000);
      const cpuPerRequest = cpuMs === null ? null : cpuMs / Math.max(1, ok.length);
      latency[target]?.push(...ok.map((r) => r.ms));
      runs.push({
        target,
        round,
        rps,
        ok: ok.length,
        cpu_ms_per_request: cpuPerRequest,
        statuses: statusCounts(load.replies),
      });
      log(
        `  round ${round} ${target.padEnd(10)} ${fmt(rps)} req/s, ${fmt(cpuPerRequest ?? Number.NaN)} ms CPU/request, statuses ${JSON.stringify(statusCounts(load.replies))}`,
      );
    }
  }
  const mean = (t: string) => {
    const rs = runs.filter((r) => r.target === t).map((r) => r.rps);
    return rs.reduce((a, b) => a + b, 0) / rs.length;
  };
  const cpu = (t: string) => {
    const rs = runs.filter((r) => r.target === t && r.cpu_ms_per_request !== null);
    return rs.reduce((a, r) => a + (r.cpu_ms_per_request ?? 0) * r.ok, 0) / rs.reduce((a, r) => a + r.ok, 0);
  };
  const baseline = {
    rps: mean("baseline"),
    cpu_ms_per_request: cpu("baseline"),
    latency: summarize(latency.baseline ?? []),
  };
  const switchyard = {
    rps: mean("switchyard"),
    cpu_ms_per_request: cpu("switchyard"),
    latency: summarize(latency.switchyard ?? []),
  };
  const ratio = switchyard.rps / baseline.rps;
  results.intake = {
    concurrency: c,
    seconds: opts.intakeSeconds,
    rounds: opts.rounds,
    runs,
    baseline,
    switchyard,
    ratio,
  };
  log(`  baseline   ${fmt(baseline.rps)} req/s  ${ms(baseline.latency)}`);
  log(`  switchyard ${fmt(switchyard.rps)} req/s  ${ms(switchyard.latency)}`);
  log(`  ratio switchyard/baseline ${fmt(ratio * 100)} %  (SPEC 17: ≥ 80 %)`);
  log(
    `  CPU per request: baseline ${fmt(baseline.cpu_ms_per_request)} ms, switchyard ${fmt(switchyard.cpu_ms_per_request)} ms (intake + inbox routing) → ratio ${fmt((100 * baseline.cpu_ms_per_request) / switchyard.cpu_ms_per_request)} %`,
  );
  log();
}

/**
 * Where accept → handler time goes, from a sample of dispatches: the 202 at the client, the
 * dispatch row's created_at (the BindingGate admitted it: inbox hop + routing), the attempt's
 * started_at (dispatch hop + circuit check + beginAttempt), the handler's arrival time.
 */
async function hopBreakdown(
  api: Api,
  bindingKey: string,
  acceptedAt: Map<string, number>,
  handler: string,
): Promise<Record<string, Summary>> {
  const arrivals = new Map<string, number>();
  for (const c of await handlerCalls(handler)) if (c.eventId && !arrivals.has(c.eventId)) arrivals.set(c.eventId, c.at);
  const sample = [...acceptedAt.keys()].filter((id) => arrivals.has(id)).slice(0, 40);
  const segments = {
    accept_to_admitted: [] as number[],
    admitted_to_started: [] as number[],
    started_to_call: [] as number[],
  };
  for (const eventId of sample) {
    const d = await api<{ created_at: string; attempts: Array<{ started_at: string }> }>(
      "GET",
      `/v1/dispatches/${encodeURIComponent(bindingKey)}/${eventId}`,
    );
    const admitted = Date.parse(d.created_at);
    const started = Date.parse(d.attempts[0]?.started_at ?? "");
    segments.accept_to_admitted.push(admitted - (acceptedAt.get(eventId) ?? Number.NaN));
    segments.admitted_to_started.push(started - admitted);
    segments.started_to_call.push((arrivals.get(eventId) ?? Number.NaN) - started);
  }
  const out = Object.fromEntries(Object.entries(segments).map(([k, v]) => [k, summarize(v)]));
  for (const [k, v] of Object.entries(out)) log(`    ${k.padEnd(20)} ${ms(v)}`);
  return out;
}

async function latencyPhase(api: Api): Promise<void> {
  log(`## 2. Accept → first handler call`);
  const saturated = await createBinding(api, "bench-saturation", { provider: "github", events: ["issues.saturated"] });
  // Warm-up through the saturation binding, not measured: the isolate's JIT, Durable Objects and
  // connections. At the highest steady rate, since a cold dispatch path at 100 events/s builds a
  // backlog in its first seconds that the rest of the run spends draining (docs/benchmarks.md).
  const warm = accepted(
    await openLoop(Math.max(...opts.rates), opts.warmupSeconds * 1000, (i) =>
      githubDelivery(`${SY}/hooks/bench-gh`, SECRET, i, "saturated"),
    ),
  );
  await waitAllDone(api, saturated, warm.size, 60_000);
  const steady: Record<string, unknown>[] = [];
  let drained = true;
  for (const rate of opts.rates) {
    // One binding per rate, matched by its own kind (`issues.paced<rate>`).
    const action = `paced${rate}`;
    const handler = await createBinding(api, `bench-latency-${rate}`, {
      provider: "github",
      events: [`issues.${action}`],
    });
    await settle();
    const paced = await openLoop(rate, opts.latencySeconds * 1000, (i) =>
      githubDelivery(`${SY}/hooks/bench-gh`, SECRET, i, action),
    );
    const pacedAccepted = accepted(paced);
    const done = await waitAllDone(api, handler, pacedAccepted.size, 60_000);
    const match = acceptToFirstCall(pacedAccepted, await handlerCalls(handler));
    const result: Record<string, unknown> = {
      rate,
      seconds: opts.latencySeconds,
      sent: paced.replies.length,
      accepted: pacedAccepted.size,
      statuses: statusCounts(paced.replies),
      intake_latency: summarize(paced.replies.filter((r) => r.status === 202).map((r) => r.ms)),
      accept_to_call: summarize(match.latencies),
      missing: match.missing,
      extra_calls: match.extraCalls,
      kept_up: done !== null,
    };
    steady.push(result);
    log(`  steady ${rate}/s for ${opts.latencySeconds} s: ${ms(summarize(match.latencies))}`);
    log(`    (intake answer ${ms(result.intake_latency as Summary)}; not dispatched when measured: ${match.missing})`);
    if (rate === Math.min(...opts.rates)) {
      result.hops = await hopBreakdown(api, `bench-latency-${rate}@v1`, pacedAccepted, handler);
    }
    // Let a backlog drain, or the next run measures this one's leftovers.
    if (done === null) drained = (await waitAllDone(api, handler, pacedAccepted.size, 90_000)) !== null;
    if (!drained) break;
  }
  results.latency = { steady };
  if (!drained) {
    log("  saturation run skipped: the backlog of the steady runs did not drain");
    log();
    return;
  }

  await settle();
  const load = await closedLoop(opts.concurrency, opts.saturationSeconds * 1000, (i) =>
    githubDelivery(`${SY}/hooks/bench-gh`, SECRET, i, "saturated"),
  );
  const satAccepted = accepted(load);
  const lastAccept = Math.max(...satAccepted.values());
  const doneAt = (await waitAllDone(api, saturated, warm.size + satAccepted.size, 120_000)) ?? Number.NaN;
  const satMatch = acceptToFirstCall(satAccepted, await handlerCalls(saturated));
  const satResult = {
    concurrency: opts.concurrency,
    seconds: opts.saturationSeconds,
    accepted: satAccepted.size,
    intake_rps: satAccepted.size / (load.elapsedMs / 1000),
    accept_to_call: summarize(satMatch.latencies),
    drain_after_last_accept_ms: doneAt - lastAccept,
    missing: satMatch.missing,
    extra_calls: satMatch.extraCalls,
  };
  log(
    `  saturation (${opts.concurrency} clients, ${fmt(satResult.intake_rps)} accepted/s): ${ms(satResult.accept_to_call)}`,
  );
  log(`    backlog drained ${fmt(satResult.drain_after_last_accept_ms / 1000)} s after the last accept`);
  results.latency = { steady, saturation: satResult };
  log();
}

async function e2ePhase(api: Api, pid: number | undefined): Promise<void> {
  log(`## 3. End-to-end dispatch throughput (${opts.e2eEvents} events published in batches of 100)`);
  const variants = [
    { id: "bench-e2e-plain", label: "no flow control", flow: undefined },
    {
      id: "bench-e2e-concurrency",
      label: `concurrency max ${opts.e2eConcurrencyMax}`,
      flow: { concurrency: { max: opts.e2eConcurrencyMax } },
    },
  ];
  const out: Record<string, unknown>[] = [];
  for (const v of variants) {
    const handler = await createBinding(api, v.id, {
      provider: "bench",
      events: [v.id],
      ...(v.flow ? { flow_control: v.flow } : {}),
    });
    await settle();
    const batches = Array.from({ length: Math.ceil(opts.e2eEvents / 100) }, (_, b) =>
      Array.from({ length: Math.min(100, opts.e2eEvents - b * 100) }, (_, i) => ({
        provider: "bench",
        kind: v.id,
        payload: { n: b * 100 + i, note: "end-to-end throughput" },
      })),
    );
    let t0 = 0;
    let published = 0;
    const { result: done, cpuMs } = await cpuDuring(pid, async () => {
      t0 = Date.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < batches.length) await api("POST", "/v1/events", batches[next++]);
        }),
      );
      published = Date.now();
      return (await waitAllDone(api, handler, opts.e2eEvents, 120_000)) ?? Number.NaN;
    });
    const calls = await handlerCalls(handler);
    const ats = calls.map((c) => c.at);
    const result = {
      variant: v.label,
      events: opts.e2eEvents,
      publish_s: (published - t0) / 1000,
      total_s: (done - t0) / 1000,
      events_per_s: opts.e2eEvents / ((done - t0) / 1000),
      handler_calls_per_s: calls.length / ((Math.max(...ats) - Math.min(...ats)) / 1000),
      cpu_ms_per_event: cpuMs === null ? null : cpuMs / opts.e2eEvents,
    };
    out.push(result);
    log(
      `  ${v.label.padEnd(20)} ${fmt(result.events_per_s)} events/s until all terminal (${fmt(result.total_s)} s; publish took ${fmt(result.publish_s)} s; handler saw ${fmt(result.handler_calls_per_s)} calls/s; ${fmt(result.cpu_ms_per_event ?? Number.NaN)} ms CPU/event)`,
    );
  }
  results.e2e = out;
  log();
}

/** SPEC 5.4: a preview of 1,000 stored events answers well under a second (interactive use). */
async function previewPhase(api: Api): Promise<void> {
  const events = 1000;
  log(`## 7. Binding preview over ${events} stored events`);
  const kind = `preview-${runId}`;
  const since = new Date(Date.now() - 1000).toISOString();
  for (let b = 0; b < events / 100; b++) {
    const batch = Array.from({ length: 100 }, (_, i) => ({
      provider: "bench-preview",
      kind,
      payload: { n: b * 100 + i, customer: `c${i % 10}`, total: i % 7 },
    }));
    await api("POST", "/v1/events", batch);
  }
  const spec = {
    provider: "bench-preview",
    events: [kind],
    when: "event.payload.total > 0",
    handler: "https://example.com/preview",
    flow_control: {
      rate_limit: [
        { key: "event.payload.customer", period: "1s", max: 20 },
        { period: "1m", max: 500 },
      ],
      concurrency: { max: 5 },
    },
  };
  const times: number[] = [];
  let answer: { evaluated: number; summary: Record<string, unknown> } | null = null;
  for (let run = 0; run < 5; run++) {
    const t0 = performance.now();
    answer = await api("POST", "/v1/bindings:preview", { spec, since, limit: events, assume_duration_ms: 50 });
    times.push(performance.now() - t0);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const result = {
    events: answer?.evaluated ?? 0,
    median_ms: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
    max_ms: sorted.at(-1) ?? Number.NaN,
    summary: answer?.summary ?? null,
  };
  results.preview = result;
  log(
    `  ${result.events} events scanned: median ${fmt(result.median_ms)} ms, slowest ${fmt(result.max_ms)} ms (5 runs)`,
  );
  log(`  outcomes: ${JSON.stringify(result.summary)}`);
  log();
}

async function opsPhase(): Promise<void> {
  log(
    `## 4. Billable operations and cost per dispatched event (counting boot, ${opts.opsEvents} events at ${opts.opsRate}/s, handler answering in ${opts.opsHandlerMs} ms)`,
  );
  const sy = await startCountingSwitchyard();
  const api = apiOf(SY_OPS, sy.token);
  await createSource(api);
  const state = join(tmp, "switchyard-ops-state");
  const variants = [
    { id: "ops-plain", action: "opened", label: "no flow control", flow: undefined },
    {
      id: "ops-concurrency",
      action: "closed",
      label: `concurrency max ${opts.e2eConcurrencyMax}`,
      flow: { concurrency: { max: opts.e2eConcurrencyMax } },
    },
  ];
  const out: Record<string, unknown>[] = [];
  for (const v of variants) {
    const handler = await createBinding(
      api,
      v.id,
      { provider: "github", events: [`issues.${v.action}`], ...(v.flow ? { flow_control: v.flow } : {}) },
      opts.opsHandlerMs,
    );
    // Warm up (first window, routing table, gate), then measure from a settled state.
    await openLoop(opts.opsRate, 2000, (i) =>
      githubDelivery(`${SY_OPS}/hooks/bench-gh`, SECRET, 1_000_000 + i, v.action),
    );
    await new Promise((r) => setTimeout(r, 2000));
    await settle();
    const d1Before = storageUsage(state, "d1");
    const doBefore = storageUsage(state, "do");
    await api("DELETE", "/v1/billable-ops");
    let load: LoadResult | null = null;
    const { cpuMs } = await cpuDuring(sy.process.child.pid, async () => {
      load = await openLoop(opts.opsRate, (opts.opsEvents / opts.opsRate) * 1000, (i) =>
        githubDelivery(`${SY_OPS}/hooks/bench-gh`, SECRET, i, v.action),
      );
      const n = load ? accepted(load).size : 0;
      if ((await waitAllDone(api, handler, n + Math.round(opts.opsRate * 2), 120_000)) === null) {
        log("    (counts below are partial)");
      }
      // Final dispatches reach their History window within a flush (20 ms), control rows within 2 s.
      await new Promise((r) => setTimeout(r, 3000));
    });
    const events = load ? accepted(load as LoadResult).size : 0;
    const report = await api<{ d1_counted: boolean; origins: Record<string, OriginCounts> }>("GET", "/v1/billable-ops");
    await settle();
    const d1After = storageUsage(state, "d1");
    const doAfter = storageUsage(state, "do");
    // `api` is the benchmark's own polling (/v1/stats, setup); everything else is the event's.
    const per = perEvent(report.origins, events, ["api"]);
    const ops = billableOpsPerEvent(per);
    const measured = {
      cpu_ms: cpuMs === null ? 0 : cpuMs / Math.max(events, 1),
      d1_rows_kept: (d1After.rows - d1Before.rows) / Math.max(events, 1),
      do_rows_kept: (doAfter.rows - doBefore.rows) / Math.max(events, 1),
    };
    const d1Bytes = (d1After.bytes - d1Before.bytes) / Math.max(events, 1);
    const doBytes = (doAfter.bytes - doBefore.bytes) / Math.max(events, 1);
    const cost = costPerMillionEvents(per, measured);
    const cap = capacity(per, d1Bytes);
    out.push({
      variant: v.label,
      events,
      d1_counted: report.d1_counted,
      per_event: per,
      ops,
      measured: { ...measured, d1_bytes: d1Bytes, do_bytes: doBytes },
      cost,
      capacity: cap,
      raw: report,
    });
    log(`  ${v.label} (${events} events):`);
    log(
      `    D1: ${fmt(per.d1_queries, 2)} statements, ${fmt(per.d1_rows_written, 2)} rows written, ${fmt(per.d1_rows_read, 2)} read; keeps ${fmt(d1Bytes, 0)} B and ${fmt(measured.d1_rows_kept, 2)} rows per event`,
    );
    log(
      `    DO storage: ${fmt(per.do_sql_rows_written, 2)} rows written, keeps ${fmt(doBytes, 0)} B and ${fmt(measured.do_rows_kept, 2)} rows per event`,
    );
    log(
      `    requests: ${fmt(per.invocations, 2)} Workers, ${fmt(per.do_requests, 2)} Durable Object (alarms ${fmt(per.do_alarms, 2)}); queue ops ${fmt(per.queue_ops, 2)}`,
    );
    log(
      `    DO awake ${fmt(per.do_duration_s * 1000, 1)} ms per event; workerd CPU ${fmt(measured.cpu_ms, 1)} ms per event`,
    );
    log(
      `    ${Object.entries(per.do_calls)
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${fmt(n, 2)}`)
        .join(", ")}`,
    );
    for (const [key, st] of Object.entries(per.d1_statements)
      .filter(([, st]) => st.n > 0.001)
      .sort((a, b) => b[1].n - a[1].n)) {
      log(`      D1 ${fmt(st.n, 3).padStart(6)} × ${key} (${fmt(st.rows_written, 2)} rows written)`);
    }
    log(
      `    USD per million events: ${fmt(cost.total, 2)} = Workers ${fmt(cost.workers_requests, 2)} + CPU ${fmt(cost.workers_cpu, 2)} + queues ${fmt(cost.queue_ops, 2)} + DO requests ${fmt(cost.do_requests, 2)} + DO duration ${fmt(cost.do_duration, 2)} + D1 rows ${fmt(cost.d1_rows_written + cost.d1_rows_read, 2)} + DO rows ${fmt(cost.do_storage_rows, 2)} + retention deletes ${fmt(cost.retention_deletes, 2)} (SPEC 17: ≤ 10)`,
    );
    if (!report.d1_counted) log("    (D1 was not counted: the binding's transport was not found)");
  }
  results.ops = { prices: PRICES, variants: out };
  await release(sy.process);
  log();
  const plain = out[0] as
    | { per_event: PerEvent; measured: { d1_bytes: number }; cost: { total: number }; capacity: Capacity }
    | undefined;
  if (plain) {
    log("## 5. Capacity model (docs/scale.md), from the no-flow-control footprint");
    const c = plain.capacity;
    log(
      `  one D1 database: ${fmt(c.d1_sustained_eps, 0)} events/s sustained with 7-day history (${fmt(plain.measured.d1_bytes, 0)} B/event), ${fmt(c.d1_peak_eps, 0)} events/s peak (${fmt(plain.per_event.d1_queries, 2)} statements/event)`,
    );
    log(
      `  one binding's gate: ≈ ${fmt(c.gate_eps, 0)} dispatches/s; one EventLog window (per shard): ≈ ${fmt(c.event_log_eps, 0)} events/s; queues: ${c.queue_eps === null ? "none on the path" : `${fmt(c.queue_eps, 0)} events/s`}`,
    );
    log(`  USD per million events: ${fmt(plain.cost.total, 2)}`);
    const next = [
      ["D1 peak", c.d1_peak_eps],
      ["D1 7-day size", c.d1_sustained_eps],
      ["a binding's gate", c.gate_eps],
      ["an EventLog window (per shard)", c.event_log_eps],
    ].sort((a, b) => Number(a[1]) - Number(b[1]));
    log(`  ceilings in order: ${next.map(([n, v]) => `${n} ${fmt(Number(v), 0)}/s`).join(" < ")}`);
    results.capacity = c;
    log();
  }
}

// ---- main ----------------------------------------------------------------------------------------

/** SPEC 17: a binding's gate makes ≥ 1,000 flow-control decisions/s, measured in a real gate's SQLite. */
async function flowPhase(): Promise<void> {
  log("## 6. Flow-control decisions in one BindingGate's SQLite (workerd; SPEC 17: ≥ 1,000/s per binding)");
  const out = join(tmp, "flow-bench.json");
  const args = ["vitest", "bench", "--run", "test/unit/flow/flow-control-sql.bench.ts", "--outputJson", out];
  await run("npx", args, { cwd: root, env: process.env, log: join(tmp, "flow-bench.log") });
  type Report = { files: { groups: { benchmarks: { name: string; hz: number }[] }[] }[] };
  const report = JSON.parse(readFileSync(out, "utf8")) as Report;
  const scenarios: Record<string, number> = {};
  for (const b of report.files.flatMap((f) => f.groups.flatMap((g) => g.benchmarks))) {
    // One iteration runs a batch of decisions, named in the scenario (`… (×1000)`).
    const batch = Number(/\(×(\d+)\)/.exec(b.name)?.[1] ?? 1);
    const name = b.name.replace(/\s*\(×\d+\)$/, "");
    scenarios[name] = b.hz * batch;
    log(`  ${name.padEnd(62)} ${fmt(b.hz * batch, 0).padStart(7)} decisions/s`);
  }
  const slowest = Math.min(...Object.values(scenarios));
  log(`  slowest scenario: ${fmt(slowest, 0)} decisions/s (SPEC 17: ≥ 1,000)`);
  results.flow = { decisions_per_s: scenarios, slowest };
  log();
}

async function main(): Promise<void> {
  const m = machine();
  log(
    `# Switchyard benchmark (${quick ? "quick" : "full"}) — ${m.cores} cores, ${m.model}, load ${m.load.map((l) => l.toFixed(2)).join(" ")}`,
  );
  log(`state and logs: ${tmp}`);
  for (const [name, port] of Object.entries(ports)) {
    if (!(await portFree(port))) throw new Error(`port ${port} (${name}) is in use: pass --port-base`);
  }
  const t0 = Date.now();
  await startHandler();
  const needsMain = wants("intake") || wants("latency") || wants("e2e") || wants("preview");
  if (needsMain) {
    const [sy, baseline] = await Promise.all([startSwitchyard(), wants("intake") ? startBaseline() : null]);
    const api = apiOf(SY, sy.token);
    await createSource(api);
    log(`booted in ${fmt((Date.now() - t0) / 1000)} s`);
    log();
    if (wants("intake")) await intakePhase({ baseline: baseline?.child.pid, switchyard: sy.process.child.pid });
    if (baseline) await release(baseline);
    if (wants("latency")) await latencyPhase(api);
    if (wants("e2e")) await e2ePhase(api, sy.process.child.pid);
    if (wants("preview")) await previewPhase(api);
    await release(sy.process);
  }
  if (wants("ops")) await opsPhase();
  if (wants("flow")) await flowPhase();
  // wrangler dev rebuilds and restarts the Worker when files it bundles change (e.g. edits in this
  // checkout while the benchmark runs): state and counters restart, so the figures are suspect.
  const reloads = ["switchyard.log", "switchyard-ops.log"]
    .map((f) => join(tmp, f))
    .filter((f) => existsSync(f))
    .reduce((n, f) => n + (readFileSync(f, "utf8").match(/Reloading local server/g)?.length ?? 0), 0);
  results.worker_reloads = reloads;
  if (reloads > 0) log(`WARNING: wrangler reloaded the Worker ${reloads} time(s) during the run; figures are suspect`);
  results.finished_at = new Date().toISOString();
  results.duration_s = (Date.now() - t0) / 1000;
  log(`done in ${fmt((Date.now() - t0) / 1000)} s`);
  if (jsonOut) {
    writeFileSync(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
    log(`figures written to ${jsonOut}`);
  }
}

try {
  await main();
} catch (error) {
  console.error(`bench failed: ${(error as Error).stack ?? error}`);
  console.error(`logs: ${tmp} (kept)`);
  process.exitCode = 1;
} finally {
  await cleanup(keep || process.exitCode === 1);
}
