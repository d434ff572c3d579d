/**
 * The seeded plan of a reliability run: the bindings, what each handler answers (one scripted
 * response per call, in arrival order), and the intake traffic with its duplicate deliveries.
 * Pure: the same seed and scale give the same plan.
 */

/** mulberry32: a small, well-mixed 32-bit PRNG; good enough to make a run reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rand = () => number;
export const int = (r: Rand, min: number, max: number) => min + Math.floor(r() * (max - min + 1));
export const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)] as T;

/** The API publisher's provider; webhooks come from a `github` source. */
export const API_PROVIDER = "relapi";
export const CUSTOMERS = ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"];
const HOOK_KINDS = [
  { event: "issues", action: "opened" },
  { event: "issues", action: "closed" },
  { event: "push", action: null },
] as const;
const API_KINDS = ["order.created", "order.updated"] as const;

export interface BindingPlan {
  /** Short role name, also the handler script name suffix. */
  role: "plain" | "flow" | "pred";
  provider: string;
  events: string[];
  when?: string;
  timeout_ms: number;
  max_attempts: number;
  delay_ms: number;
  flow_control?: Record<string, unknown>;
  /** Whether a binding takes an event of this kind and payload (kind filter and predicate). */
  matches: (kind: string) => boolean;
  passes: (payload: { pick: boolean }) => boolean;
}

/**
 * Three bindings with different shapes: a plain https binding with a short timeout, one with keyed
 * concurrency (leases held across retry waits), and one whose CEL predicate skips about half.
 */
export const BINDINGS: readonly BindingPlan[] = [
  {
    role: "plain",
    provider: "github",
    events: [],
    timeout_ms: 400,
    max_attempts: 4,
    delay_ms: 100,
    matches: () => true,
    passes: () => true,
  },
  {
    role: "flow",
    provider: API_PROVIDER,
    events: [],
    timeout_ms: 800,
    max_attempts: 3,
    delay_ms: 150,
    flow_control: { concurrency: { key: "event.payload.customer", max: 3 } },
    matches: () => true,
    passes: () => true,
  },
  {
    role: "pred",
    provider: "github",
    events: ["issues.opened", "issues.closed"],
    when: "event.payload.pick == true",
    timeout_ms: 800,
    max_attempts: 3,
    delay_ms: 100,
    matches: (kind) => kind === "issues.opened" || kind === "issues.closed",
    passes: (payload) => payload.pick,
  },
];

/** Circuit settings that keep the breaker closed, so outcomes depend on retries alone. */
export const NEVER_OPEN_CIRCUIT = { threshold: 100_000, cooldown_ms: 60_000, mode: "dlq" as const };

// ---- handler scripts ----

export interface ScriptedResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  delay_ms?: number;
}

/** What a scripted answer is, seen against the binding's timeout. */
export type Expected =
  | { kind: "success"; status: number }
  | { kind: "http_error"; status: number }
  | { kind: "timeout" };

/** Answers slower than this much past the timeout count as timeouts; faster answers stay far below it. */
const SLOW_MARGIN_MS = 400;
const FAST_MAX_MS = 40;
export const HANG_MS = 5_000;
/** `Retry-After` of scripted 429 answers, in seconds. */
export const RETRY_AFTER_S = 1;

/**
 * One answer per call: ~55% fast 2xx, ~17% 5xx, ~8% 429 with `Retry-After: 1`, ~13% an answer
 * slower than the timeout, ~7% a hang. Delays are far from the timeout on both sides; the oracle
 * still allows for a saturated machine reading a fast answer too late (see oracle.ts).
 */
export function scriptFor(r: Rand, binding: BindingPlan, calls: number): ScriptedResponse[] {
  const out: ScriptedResponse[] = [];
  for (let i = 0; i < calls; i++) {
    const x = r();
    if (x < 0.55)
      out.push({ status: pick(r, [200, 200, 201, 204]), body: { ok: true }, delay_ms: int(r, 0, FAST_MAX_MS) });
    else if (x < 0.72) out.push({ status: pick(r, [500, 502, 503]), body: { error: `scripted ${i}` } });
    else if (x < 0.8)
      out.push({ status: 429, headers: { "retry-after": String(RETRY_AFTER_S) }, body: { error: "slow down" } });
    else if (x < 0.93) {
      const delay = binding.timeout_ms + SLOW_MARGIN_MS + int(r, 0, 500);
      out.push({ status: 200, body: { late: true }, delay_ms: delay });
    } else out.push({ status: 200, body: { hung: true }, delay_ms: HANG_MS });
  }
  return out;
}

/** Calls past the script get this answer (the handler server's `otherwise`). */
export const OTHERWISE: ScriptedResponse = { status: 200, body: { otherwise: true } };

export function expectedOf(answer: ScriptedResponse, timeoutMs: number): Expected {
  if ((answer.delay_ms ?? 0) >= timeoutMs) return { kind: "timeout" };
  if (answer.status >= 200 && answer.status < 300) return { kind: "success", status: answer.status };
  return { kind: "http_error", status: answer.status };
}

// ---- intake traffic ----

export interface HookEvent {
  via: "hook";
  /** Dedupe identity: the X-GitHub-Delivery id. */
  identity: string;
  kind: string;
  event: string;
  delivery: string;
  body: string;
  pick: boolean;
}

export interface ApiEvent {
  via: "api";
  /** Dedupe identity: the dedupe key. */
  identity: string;
  kind: string;
  payload: { customer: string; seq: number; pick: boolean };
  pick: boolean;
}

export type PlannedEvent = HookEvent | ApiEvent;

export const providerOf = (e: PlannedEvent) => (e.via === "hook" ? "github" : API_PROVIDER);

/** One intake request shape, fired `copies` times in parallel (the copies are duplicate deliveries). */
export type Unit =
  | { via: "hook"; event: HookEvent; copies: number }
  | { via: "api-one"; event: ApiEvent; copies: number; useHeader: boolean }
  | { via: "api-batch"; events: ApiEvent[] };

export interface TrafficPlan {
  units: Unit[];
  /** Every distinct event (by dedupe identity). */
  events: Map<string, PlannedEvent>;
}

/**
 * `count` distinct events, about 45% signed GitHub webhooks, the rest API publishes (single or in arrays).
 * About 7% are delivered 2–3 times in parallel, about 3% again later, and some arrays repeat a key.
 */
export function trafficPlan(r: Rand, count: number, runTag: string): TrafficPlan {
  const units: Unit[] = [];
  const events = new Map<string, PlannedEvent>();
  const copies = () => (r() < 0.07 ? int(r, 2, 3) : 1);
  let seq = 0;
  const apiEvent = (): ApiEvent => {
    seq += 1;
    const pickIt = r() < 0.5;
    const e: ApiEvent = {
      via: "api",
      identity: `${runTag}-api-${seq}`,
      kind: pick(r, API_KINDS),
      payload: { customer: pick(r, CUSTOMERS), seq, pick: pickIt },
      pick: pickIt,
    };
    events.set(e.identity, e);
    return e;
  };
  while (events.size < count) {
    const x = r();
    if (x < 0.65) {
      seq += 1;
      const k = pick(r, HOOK_KINDS);
      const pickIt = r() < 0.5;
      const delivery = `${runTag}-gh-${seq}`;
      const payload: Record<string, unknown> =
        k.action === null
          ? { ref: "refs/heads/main", after: delivery, pick: pickIt, seq }
          : { action: k.action, issue: { number: seq, title: `issue ${seq}` }, pick: pickIt, seq };
      const e: HookEvent = {
        via: "hook",
        identity: delivery,
        kind: k.action === null ? k.event : `${k.event}.${k.action}`,
        event: k.event,
        delivery,
        body: JSON.stringify({ ...payload, repository: { full_name: "switchyard/reliability" } }),
        pick: pickIt,
      };
      events.set(e.identity, e);
      units.push({ via: "hook", event: e, copies: copies() });
    } else if (x < 0.85) {
      units.push({ via: "api-one", event: apiEvent(), copies: copies(), useHeader: r() < 0.3 });
    } else {
      const batch = Array.from({ length: Math.min(int(r, 2, 6), Math.max(1, count - events.size)) }, apiEvent);
      // Now and then an array repeats one of its own keys: the second item is a duplicate.
      if (batch.length > 1 && r() < 0.15) batch.push(pick(r, batch));
      units.push({ via: "api-batch", events: batch });
    }
    // A later redelivery of something already sent.
    if (units.length > 10 && r() < 0.03) {
      const earlier = pick(r, units);
      units.push(
        earlier.via === "api-batch"
          ? { via: "api-one", event: pick(r, earlier.events), copies: 1, useHeader: false }
          : { ...earlier, copies: 1 },
      );
    }
  }
  return { units, events };
}
