/**
 * SPEC 6 delivery guarantees and SPEC 17 "zero lost or duplicated terminal outcomes", under load:
 * thousands of events (signed GitHub webhooks and API publishes, with concurrent duplicate
 * deliveries) to three bindings whose handlers fail at random, while dispatches are admitted again,
 * EventLog windows restart without their routing watermark and BindingGate objects are evicted.
 * Once every dispatch is terminal, the oracle checks each event, dispatch, attempt and handler call,
 * and reconciles the stored counts with the API, the records log and `/metrics`. Scale and seed:
 * see scale.ts and docs/reliability.md.
 */
import { describe, expect, it } from "vitest";
import { api, handler, unique } from "../support/api";
import { emptyFaultCounts, evictGate, injectFaults, type LiveBinding, readmit, restartWindow } from "./faults";
import { checkRun, type RunBinding } from "./oracle";
import { BINDINGS, NEVER_OPEN_CIRCUIT, OTHERWISE, providerOf, rng, scriptFor, trafficPlan } from "./plan";
import { scale } from "./scale";
import { dispatchProgress, readSnapshot } from "./snapshot";
import { emptyAnswers, sendAll } from "./traffic";

const run = scale();
/** Bound on the wait for every dispatch to end once intake is done. */
const SETTLE_MS = 120_000 + run.events * 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => console.log(`[reliability seed=${run.seed}] ${msg}`);

async function createRun(tag: string) {
  const secret = `reliability-secret-${tag}`;
  const source = unique("rel-gh").toLowerCase();
  const created = await api("PUT", `/v1/sources/${source}`, {
    provider: "github",
    verify: { style: "github", secret },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const runs: RunBinding[] = [];
  for (const [i, plan] of BINDINGS.entries()) {
    const hook = unique(`rel-${plan.role}`);
    // One PRNG stream per handler, so the traffic and the scripts do not shift each other.
    const script = scriptFor(rng(run.seed + 1 + i), plan, run.events * plan.max_attempts);
    await handler.script(hook, { responses: script, otherwise: OTHERWISE });
    const id = unique(`rel-${plan.role}`);
    const res = await api("PUT", `/v1/bindings/${id}`, {
      provider: plan.provider,
      events: plan.events,
      handler: handler.url(hook),
      timeout_ms: plan.timeout_ms,
      retry: { max_attempts: plan.max_attempts, policy: { linear: { delay_ms: plan.delay_ms } } },
      circuit: NEVER_OPEN_CIRCUIT,
      ...(plan.when ? { when: plan.when } : {}),
      ...(plan.flow_control ? { flow_control: plan.flow_control } : {}),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    runs.push({ plan, bindingId: id, bindingKey: res.body.binding_key, hook, script });
  }
  return { source, secret, runs };
}

/** Polls the stored state until every expected dispatch exists and is terminal, or the bound passes. */
async function settle(expectedEvents: number, expectedDispatches: number, boundMs: number): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  let lastLog = 0;
  for (;;) {
    const p = await dispatchProgress();
    if (p.events === expectedEvents && p.total === expectedDispatches && p.terminal === p.total) return true;
    if (Date.now() - lastLog > 5_000) {
      lastLog = Date.now();
      log(`events ${p.events}/${expectedEvents}, dispatches ${p.total}/${expectedDispatches}, terminal ${p.terminal}`);
    }
    if (Date.now() > deadline) return false;
    await sleep(400);
  }
}

describe("reliability under redelivery, eviction and handler faults", () => {
  it(
    `every accepted event ends exactly once per matching binding (${run.events} events)`,
    async () => {
      const started = Date.now();
      const tag = `r${run.seed.toString(36)}`;
      log(`events=${run.events} parallel=${run.parallel} faults=${run.faults}`);
      const { source, secret, runs } = await createRun(tag);
      const traffic = trafficPlan(rng(run.seed), run.events, tag);
      const expectedDispatches = [...traffic.events.values()]
        .map((e) => runs.filter((b) => b.plan.provider === providerOf(e) && b.plan.matches(e.kind)).length)
        .reduce((a, b) => a + b, 0);
      const live = new Map<string, LiveBinding>(
        runs.map((b) => [
          b.bindingKey,
          { bindingKey: b.bindingKey, handlerUrl: handler.url(b.hook), timeoutMs: b.plan.timeout_ms },
        ]),
      );

      // Traffic and faults at the same time; faults go on until everything has settled.
      const answers = emptyAnswers();
      const faults = emptyFaultCounts();
      let settled = false;
      const acceptedIds = () => [...answers.byIdentity.values()].flatMap((a) => a.accepted);
      const faultLoop = injectFaults(rng(run.seed + 99), live, acceptedIds, faults, () => settled || !run.faults);
      await sendAll(answers, source, secret, traffic.units, run.parallel);
      const intakeMs = Date.now() - started;
      log(`intake done in ${intakeMs}ms: ${answers.requests} requests, ${traffic.events.size} distinct events`);
      const ok = await settle(traffic.events.size, expectedDispatches, SETTLE_MS);
      settled = true;
      await faultLoop;
      const settledMs = Date.now() - started;

      // After the end: a burst of re-admits, the window restarted and every gate evicted; nothing may change.
      if (ok && run.faults) {
        const r = rng(run.seed + 7);
        for (let i = 0; i < 30; i++) await readmit(r, acceptedIds(), faults);
        await restartWindow(faults);
        for (const key of live.keys()) await evictGate(key, faults);
        await sleep(1_500);
      }
      const snap = await readSnapshot(
        runs.map((b) => b.bindingKey),
        runs.map((b) => b.hook),
      );
      const { violations, figures } = checkRun(runs, traffic.events, answers, source, snap);
      log(
        JSON.stringify({
          seed: run.seed,
          settled: ok,
          ms: { intake: intakeMs, settled: settledMs, total: Date.now() - started },
          requests: answers.requests,
          answers: answers.counts,
          backpressure_retries: answers.backpressure,
          ...figures,
          faults,
        }),
      );
      if (violations.length > 0) log(`${violations.length} violations:\n${violations.slice(0, 40).join("\n")}`);
      expect({ settled: ok, violations, consumerErrors: faults.consumerErrors }, `seed ${run.seed}`).toEqual({
        settled: true,
        violations: [],
        consumerErrors: [],
      });
    },
    180_000 + SETTLE_MS + run.events * 100,
  );
});
