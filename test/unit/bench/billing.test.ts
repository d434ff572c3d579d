import { describe, expect, it } from "vitest";
import {
  billableOpsPerEvent,
  capacity,
  costPerMillionEvents,
  type OriginCounts,
  PRICES,
  perEvent,
} from "../../../bench/lib/billing";

const counts = (over: Partial<OriginCounts>): OriginCounts => ({
  invocations: 0,
  d1_queries: 0,
  d1_rows_read: 0,
  d1_rows_written: 0,
  queue_writes: 0,
  queue_reads: 0,
  queue_deletes: 0,
  do_requests: 0,
  do_alarms: 0,
  do_calls: {},
  ...over,
});

const origins = {
  intake: counts({ invocations: 100, d1_queries: 200, d1_rows_read: 300, d1_rows_written: 400, queue_writes: 100 }),
  "queue:switchyard-inbox": counts({
    invocations: 10,
    queue_reads: 100,
    queue_deletes: 100,
    do_requests: 100,
    do_calls: { "BINDING_GATE.admit": 100 },
  }),
  BindingGate: counts({
    d1_rows_written: 300,
    queue_writes: 100,
    do_alarms: 50,
    do_sql_rows_written: 200,
    do_sql_rows_read: 100,
    d1_statements: { "insert records": { n: 200, rows_read: 0, rows_written: 300 } },
  }),
  api: counts({ invocations: 40, d1_rows_read: 9999, do_requests: 40, do_calls: { "BINDING_GATE.snapshot": 40 } }),
};

describe("perEvent", () => {
  it("sums every origin but the excluded ones and divides by the events", () => {
    const per = perEvent(origins, 100, ["api"]);
    expect(per).toMatchObject({
      events: 100,
      d1_queries: 2,
      d1_rows_read: 3,
      d1_rows_written: 7,
      queue_writes: 2,
      queue_reads: 1,
      queue_deletes: 1,
      queue_ops: 4,
      do_requests: 1.5,
      do_alarms: 0.5,
      do_sql_rows_written: 2,
      do_sql_rows_read: 1,
      invocations: 1.1,
    });
    expect(per.do_calls).toEqual({ "BINDING_GATE.admit": 1, "BindingGate.alarm": 0.5 });
    expect(per.by_origin).toEqual({ intake: 5, "queue:switchyard-inbox": 3, BindingGate: 6.5 });
    expect(per.d1_statements).toEqual({ "BindingGate: insert records": { n: 2, rows_read: 0, rows_written: 3 } });
  });

  it("counts nothing for zero events", () => {
    expect(perEvent(origins, 0).d1_rows_written).toBe(0);
  });
});

describe("billable operations and their cost", () => {
  const per = perEvent(origins, 100, ["api"]);

  it("adds rows written, queue operations and DO requests, with and without rows read", () => {
    expect(billableOpsPerEvent(per)).toEqual({
      excluding_rows_read: 7 + 4 + 1.5,
      including_rows_read: 15.5,
      with_do_storage_rows: 14.5,
    });
  });

  it("prices everything Cloudflare bills per million events at the list price", () => {
    const measured = { cpu_ms: 10, d1_rows_kept: 1, do_rows_kept: 2 };
    const cost = costPerMillionEvents({ ...per, do_duration_s: 0.1 }, measured);
    expect(cost.workers_requests).toBeCloseTo(1.1 * 0.3);
    expect(cost.workers_cpu).toBeCloseTo(10 * 0.02);
    expect(cost.d1_rows_written).toBeCloseTo(7 * PRICES.d1_rows_written);
    expect(cost.d1_rows_read).toBeCloseTo(0.003);
    expect(cost.queue_ops).toBeCloseTo(1.6);
    expect(cost.do_requests).toBeCloseTo(0.225);
    // 0.1 s awake at 128 MB: 0.0125 GB-s at $12.50 per million.
    expect(cost.do_duration).toBeCloseTo(0.15625);
    expect(cost.do_storage_rows).toBeCloseTo(2 * PRICES.do_sql_rows_written + PRICES.do_sql_rows_read);
    // Every row kept is deleted by retention later: one more row written each.
    expect(cost.retention_deletes).toBeCloseTo(3);
    expect(cost.total).toBeCloseTo(0.33 + 0.2 + 7 + 0.003 + 1.6 + 0.225 + 0.15625 + 2.001 + 3);
  });

  it("uses the prices it is given", () => {
    const free = Object.fromEntries(Object.keys(PRICES).map((k) => [k, 0])) as unknown as typeof PRICES;
    expect(costPerMillionEvents(per, { cpu_ms: 5, d1_rows_kept: 1, do_rows_kept: 1 }, free).total).toBe(0);
  });
});

describe("capacity", () => {
  it("turns the footprint into events/s per D1 database, per gate and per EventLog window", () => {
    const c = capacity(
      {
        ...perEvent({}, 1),
        d1_queries: 1,
        do_calls: { "BINDING_GATE.admit": 1, "EVENT_LOG.accept": 1, "BindingGate.alarm": 0.25 },
      },
      150,
    );
    expect(c.d1_sustained_eps).toBeCloseTo(10e9 / (150 * 7 * 86_400));
    expect(c.d1_peak_eps).toBeCloseTo(1000);
    expect(c.gate_eps).toBeCloseTo(800);
    expect(c.event_log_eps).toBeCloseTo(1000);
    expect(c.queue_eps).toBeNull();
  });
});
