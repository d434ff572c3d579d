/**
 * Flow-control decisions on REAL Durable Object SQLite (SqlFlowStore inside a BindingGate instance,
 * workerd via the Workers vitest pool):
 *
 *   npx vitest bench --run test/unit/flow/flow-control-sql.bench.ts
 *
 * workerd freezes clocks during synchronous code, so one bench iteration runs BATCH decisions inside
 * one `runInDurableObject` call; decisions/s = hz × BATCH. This is the engine plus its SQL, without
 * the gate's own writes (dispatch rows, D1 outbox, timers).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { bench, describe } from "vitest";
import type { FlowControlSpec } from "../../../src/contracts/binding-spec";
import { FlowControl } from "../../../src/flow/flow-control";
import { SqlFlowStore } from "../../../src/flow/sql-flow-store";

const BATCH = 1000;
const options = { time: 2000, warmupIterations: 2 };
const tiers = ["gold", "silver", "bronze", "other"];
const eventFor = (i: number) => ({
  id: `evt_${i}`,
  payload: { customer: `c${i % 100}`, repo: `r${i % 20}`, tier: tiers[i % 4], n: i, k: i % 1000 },
});

let objects = 0;

/** One DO per scenario; `step(engine, i)` runs BATCH times per iteration with a global counter. */
function scenario(name: string, flow: FlowControlSpec, step: (fc: FlowControl, i: number) => void): void {
  const stub = env.BINDING_GATE.getByName(`bench-flow-${Date.now()}-${objects++}`);
  let i = 0;
  let ready = false;
  bench(
    `${name} (×${BATCH})`,
    async () => {
      await runInDurableObject(stub, (_instance, state) => {
        const store = new SqlFlowStore(state.storage.sql);
        if (!ready) {
          store.ensureSchema();
          ready = true;
        }
        // Every event counts as routed: ordering heads start at once, as behind a current watermark.
        const fc = new FlowControl({ bindingKey: "hot@v1", flow, store, routedThrough: () => Number.MAX_SAFE_INTEGER });
        for (let k = 0; k < BATCH; k++) step(fc, i++);
      });
    },
    options,
  );
}

const admit = (fc: FlowControl, i: number) =>
  fc.admit({ dispatchId: `d${i}`, eventId: `e${i}`, event: eventFor(i), now: i });

describe("flow control on DO SQLite, one hot binding", () => {
  scenario("keyed rate_limit admit", { rate_limit: { key: "event.payload.customer", period: 60_000, max: 50 } }, admit);
  scenario("singleton admit+release", { singleton: { key: "event.payload.repo" } }, (fc, i) => {
    admit(fc, i);
    fc.release(`d${i}`, i);
  });
  const running: string[] = [];
  scenario(
    "rate_limit+singleton+concurrency(50)+priority admit+release",
    {
      rate_limit: { key: "event.payload.customer", period: 1000, max: 50 },
      singleton: { key: "event.payload.n" },
      concurrency: { max: 50 },
      priority: { key: "event.payload.tier", order: ["gold", "silver", "bronze"] },
    },
    (fc, i) => {
      if (admit(fc, i).kind === "admit") running.push(`d${i}`);
      if (running.length >= 50 || i % 3 === 0) {
        const done = running.shift();
        if (done)
          for (const t of fc.release(done, i).others) if (t.outcome.kind === "admit") running.push(t.dispatch_id);
      }
    },
  );
  scenario("debounce (20 keys) admit", { debounce: { key: "event.payload.repo", period: 1000 } }, admit);
  scenario(
    "debounce deliver all (20 keys, bursts of 100) admit",
    { debounce: { key: "event.payload.repo", period: 60_000, deliver: "all" } },
    admit,
  );
  scenario(
    "stacked rate_limit (per customer + per repo) admit",
    {
      rate_limit: [
        { key: "event.payload.customer", period: 60_000, max: 50 },
        { key: "event.payload.repo", period: 60_000, max: 200 },
      ],
    },
    admit,
  );
  scenario(
    "stacked throttle (per customer + per repo) admit",
    {
      throttle: [
        { key: "event.payload.customer", period: 1000, max: 20 },
        { key: "event.payload.repo", period: 1000, max: 60 },
      ],
    },
    admit,
  );
  scenario("ordering (100 keys) admit+release", { ordering: { key: "event.payload.customer" } }, (fc, i) => {
    admit(fc, i);
    fc.release(`d${i}`, i);
  });
  scenario("batch size 10 (20 keys) admit", { batch: { key: "event.payload.repo", size: 10, timeout: 60_000 } }, admit);
  scenario("1,000 concurrency gates admit+release", { concurrency: { key: "event.payload.k", max: 1 } }, (fc, i) => {
    admit(fc, i);
    fc.release(`d${i}`, i);
  });
});
