/**
 * The per-binding-version counters a BindingGate keeps in its own SQLite for SPEC 7 and 8: the
 * predicate breaker, classifier spend per UTC hour/day with the recent costs behind the expected
 * cost, and `act_auto` decisions per UTC hour/day. Synchronous, like every gate decision.
 */
import { type BreakerState, closedBreaker } from "../predicates/breaker";
import { dayBucket, EXPECTED_COST_WINDOW, hourBucket } from "../predicates/budget";

export const GATE_BUDGETS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS budget_buckets (bucket TEXT PRIMARY KEY, amount REAL NOT NULL);
  CREATE TABLE IF NOT EXISTS classifier_costs (seq INTEGER PRIMARY KEY AUTOINCREMENT, cost_usd REAL NOT NULL);`;

/** Buckets older than this are dropped when new ones are written. */
const BUCKET_RETENTION_MS = 3 * 86_400_000;

export class GateBudgets {
  constructor(
    private readonly sql: SqlStorage,
    private readonly meta: { get(key: string): string | null; set(key: string, value: string): void },
  ) {}

  breaker(): BreakerState {
    const text = this.meta.get("predicate_breaker");
    return text ? (JSON.parse(text) as BreakerState) : closedBreaker;
  }

  setBreaker(state: BreakerState): void {
    this.meta.set("predicate_breaker", JSON.stringify(state));
  }

  private amount(bucket: string): number {
    return (
      this.sql.exec<{ amount: number }>("SELECT amount FROM budget_buckets WHERE bucket = ?", bucket).toArray()[0]
        ?.amount ?? 0
    );
  }

  private add(bucket: string, amount: number): void {
    this.sql.exec(
      "INSERT INTO budget_buckets (bucket, amount) VALUES (?, ?) ON CONFLICT(bucket) DO UPDATE SET amount = amount + excluded.amount",
      bucket,
      amount,
    );
  }

  private prune(now: number): void {
    const oldestDay = dayBucket(now - BUCKET_RETENTION_MS);
    // Bucket names are `<kind>:<ISO prefix>`, so the date part compares as text.
    this.sql.exec("DELETE FROM budget_buckets WHERE substr(bucket, instr(bucket, ':') + 1, 10) < ?", oldestDay);
  }

  spent(now: number): { hour: number; day: number } {
    return { hour: this.amount(`spend_h:${hourBucket(now)}`), day: this.amount(`spend_d:${dayBucket(now)}`) };
  }

  recentCosts(): number[] {
    return this.sql
      .exec<{ cost_usd: number }>(
        "SELECT cost_usd FROM (SELECT seq, cost_usd FROM classifier_costs ORDER BY seq DESC LIMIT ?) ORDER BY seq",
        EXPECTED_COST_WINDOW,
      )
      .toArray()
      .map((r) => r.cost_usd);
  }

  /** Books one classifier call's cost in this hour and day; non-zero costs feed the expected cost. */
  spend(costUsd: number, now: number): void {
    if (costUsd <= 0) return;
    this.add(`spend_h:${hourBucket(now)}`, costUsd);
    this.add(`spend_d:${dayBucket(now)}`, costUsd);
    this.sql.exec("INSERT INTO classifier_costs (cost_usd) VALUES (?)", costUsd);
    this.sql.exec(
      "DELETE FROM classifier_costs WHERE seq <= (SELECT MAX(seq) FROM classifier_costs) - ?",
      EXPECTED_COST_WINDOW,
    );
    this.prune(now);
  }

  decisions(now: number): { hour: number; day: number } {
    return { hour: this.amount(`decide_h:${hourBucket(now)}`), day: this.amount(`decide_d:${dayBucket(now)}`) };
  }

  countDecision(now: number): void {
    this.add(`decide_h:${hourBucket(now)}`, 1);
    this.add(`decide_d:${dayBucket(now)}`, 1);
    this.prune(now);
  }
}
