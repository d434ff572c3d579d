/**
 * Flow-control decision throughput with the IN-MEMORY store (MemoryFlowStore): the engine's own cost
 * (key evaluation, ordering logic, audit entries), without DO SQLite. Run with Node 22 (type stripping):
 *
 *   npx node bench/flow-control.ts            (npx puts the project's Node 22 on PATH)
 *   npx node bench/flow-control.ts --quick    (shorter runs)
 *
 * SPEC 17 target: ≥ 1,000 decisions/s for one hot binding, scaling with the number of bindings.
 * A "decision" is one admit(); rows that also release count admit + release as one op.
 *
 * The same engine on real DO SQLite (SqlFlowStore in workerd) is measured by
 * test/unit/flow/flow-control-sql.bench.ts (it needs the Workers pool and Workers types):
 *   npx vitest bench --run test/unit/flow/flow-control-sql.bench.ts
 */
import { register } from "node:module";

register("./resolve-ts.mjs", import.meta.url);

const { FlowControl } = await import("../src/flow/flow-control.ts");
const { MemoryFlowStore } = await import("../src/flow/memory-flow-store.ts");
type Flow = NonNullable<ConstructorParameters<typeof FlowControl>[0]["flow"]>;

const quick = process.argv.includes("--quick");
const DURATION_MS = quick ? 300 : 1000;
const RUNS = quick ? 1 : 5;

const tiers = ["gold", "silver", "bronze", "other"];
function eventFor(i: number) {
  return {
    id: `evt_${i}`,
    provider: "github",
    kind: "issues.opened",
    payload: { customer: `c${i % 100}`, repo: `r${i % 20}`, tier: tiers[i % 4], n: i },
  };
}

interface Row {
  name: string;
  ops: number;
  perSec: number;
  usPerOp: number;
}

/**
 * Runs `step(i)` for DURATION_MS after a warm-up, RUNS times with fresh state (`setup`), and reports the
 * median ops/s. Machines here are shared; the median damps other processes' bursts.
 */
function measure(name: string, setup: () => (i: number) => void): Row {
  const results: Array<{ ops: number; elapsed: number }> = [];
  for (let run = 0; run < RUNS; run++) {
    const step = setup();
    for (let i = 0; i < 2000; i++) step(i);
    let i = 2000;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < DURATION_MS) {
      for (let k = 0; k < 500; k++) step(i++);
      elapsed = performance.now() - start;
    }
    results.push({ ops: i - 2000, elapsed });
  }
  results.sort((a, b) => a.ops / a.elapsed - b.ops / b.elapsed);
  const mid = results[Math.floor(results.length / 2)] as { ops: number; elapsed: number };
  return {
    name,
    ops: mid.ops,
    perSec: Math.round((mid.ops / mid.elapsed) * 1000),
    usPerOp: (mid.elapsed * 1000) / mid.ops,
  };
}

function engine(flow: Flow | null, bindingKey = "hot@v1") {
  // Every event counts as routed: ordering heads start at once, as behind a current watermark.
  return new FlowControl({
    bindingKey,
    flow,
    store: new MemoryFlowStore(),
    routedThrough: () => Number.MAX_SAFE_INTEGER,
  });
}

const rows: Row[] = [];
const admitOnly = (fc: InstanceType<typeof FlowControl>) => (i: number) => {
  fc.admit({ dispatchId: `d${i}`, eventId: `e${i}`, event: eventFor(i), now: i });
};

// ---- one hot binding ----
rows.push(measure("hot binding, no flow control (baseline)", () => admitOnly(engine(null))));
rows.push(
  measure("hot binding, keyed rate_limit (100 keys) admit", () =>
    admitOnly(engine({ rate_limit: { key: "event.payload.customer", period: 60_000, max: 50 } })),
  ),
);
let throttleCalls = 0;
let throttleWaits = 0;
rows.push(
  measure("hot binding, throttle 110/100ms, bursts of 200 every 200ms, admit + timers", () => {
    // Engine time, not wall time: 1000 arrivals/s in bursts of 200 every 200 ms against a window of
    // 110 per 100 ms, so about half of each burst waits one window; timers fire as they fall due.
    const fc = engine({ throttle: { period: 100, max: 110 } });
    const due = new Map<string, number>();
    const track = (id: string, o: { kind: string; until?: number | null }) => {
      if (o.kind === "wait" && typeof o.until === "number") due.set(id, o.until);
    };
    return (n) => {
      const now = n - (n % 200);
      // The alarm fires each timer at its due time, before later arrivals.
      for (const [id, at] of [...due].sort((a, b) => a[1] - b[1])) {
        if (at > now) break;
        due.delete(id);
        const r = fc.onTimer(id, at);
        track(id, r);
        for (const t of r.others) track(t.dispatch_id, t.outcome);
      }
      const d = fc.admit({ dispatchId: `d${n}`, eventId: `e${n}`, event: eventFor(n), now });
      throttleCalls++;
      if (d.kind === "wait") throttleWaits++;
      track(`d${n}`, d);
      for (const t of d.others) track(t.dispatch_id, t.outcome);
    };
  }),
);
rows.push(
  measure("hot binding, rate_limit+singleton+concurrency(50)+priority admit+release", () => {
    const fc = engine({
      rate_limit: { key: "event.payload.customer", period: 1000, max: 50 },
      singleton: { key: "event.payload.n" },
      concurrency: { max: 50 },
      priority: { key: "event.payload.tier", order: ["gold", "silver", "bronze"] },
    });
    const running: string[] = [];
    return (i) => {
      const id = `d${i}`;
      const d = fc.admit({ dispatchId: id, eventId: `e${i}`, event: eventFor(i), now: i });
      if (d.kind === "admit") running.push(id);
      if (running.length >= 50 || i % 3 === 0) {
        const done = running.shift();
        if (done) {
          for (const t of fc.release(done, i).others) if (t.outcome.kind === "admit") running.push(t.dispatch_id);
        }
      }
    };
  }),
);
rows.push(
  measure("hot binding, debounce (20 keys, supersede) admit", () =>
    admitOnly(engine({ debounce: { key: "event.payload.repo", period: 1000 } })),
  ),
);
rows.push(
  measure("hot binding, debounce deliver all (20 keys, bursts of 100) admit", () =>
    admitOnly(engine({ debounce: { key: "event.payload.repo", period: 60_000, deliver: "all" } })),
  ),
);
rows.push(
  measure("hot binding, stacked rate_limit (per customer + per repo) admit", () =>
    admitOnly(
      engine({
        rate_limit: [
          { key: "event.payload.customer", period: 60_000, max: 50 },
          { key: "event.payload.repo", period: 60_000, max: 200 },
        ],
      }),
    ),
  ),
);
rows.push(
  measure("hot binding, stacked throttle (per customer + per repo) admit", () =>
    admitOnly(
      engine({
        throttle: [
          { key: "event.payload.customer", period: 1000, max: 20 },
          { key: "event.payload.repo", period: 1000, max: 60 },
        ],
      }),
    ),
  ),
);
rows.push(
  measure("hot binding, ordering (100 keys) admit+release", () => {
    const fc = engine({ ordering: { key: "event.payload.customer" } });
    return (i) => {
      fc.admit({ dispatchId: `d${i}`, eventId: `e${i}`, event: eventFor(i), now: i });
      fc.release(`d${i}`, i);
    };
  }),
);
rows.push(
  measure("hot binding, batch size 10 (20 keys) admit", () =>
    admitOnly(engine({ batch: { key: "event.payload.repo", size: 10, timeout: 60_000 } })),
  ),
);

// ---- many gates, many bindings ----
for (const keys of [1_000, 100_000]) {
  rows.push(
    measure(`one binding, ${keys.toLocaleString("en")} concurrency gates admit+release`, () => {
      const fc = engine({ concurrency: { key: "event.payload.k", max: 1 } });
      return (i) => {
        fc.admit({ dispatchId: `d${i}`, eventId: `e${i}`, event: { payload: { k: i % keys } }, now: i });
        fc.release(`d${i}`, i);
      };
    }),
  );
}
for (const bindings of [10, 1_000]) {
  rows.push(
    measure(`${bindings.toLocaleString("en")} bindings round-robin, rate_limit+concurrency admit+release`, () => {
      const engines = Array.from({ length: bindings }, (_, b) =>
        engine(
          { rate_limit: { key: "event.payload.customer", period: 60_000, max: 50 }, concurrency: { max: 5 } },
          `b${b}@v1`,
        ),
      );
      return (i) => {
        const fc = engines[i % bindings] as InstanceType<typeof FlowControl>;
        fc.admit({ dispatchId: `d${i}`, eventId: `e${i}`, event: eventFor(i), now: i });
        fc.release(`d${i}`, i);
      };
    }),
  );
}

console.log(
  `Flow-control decisions with the IN-MEMORY store (Node ${process.version}, median of ${RUNS} runs of ${DURATION_MS} ms per row)\n`,
);
const width = Math.max(...rows.map((r) => r.name.length));
for (const r of rows) {
  console.log(
    `${r.name.padEnd(width)}  ${r.perSec.toLocaleString("en").padStart(11)} ops/s  ${r.usPerOp.toFixed(2).padStart(7)} µs/op`,
  );
}
console.log(`\nthrottle row: ${((throttleWaits / throttleCalls) * 100).toFixed(1)}% of arrivals waited for a slot`);
