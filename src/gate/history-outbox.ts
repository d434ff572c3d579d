/**
 * Hands final dispatches from a BindingGate to its binding id's History window (docs/scale.md),
 * batched for a few milliseconds so busy gates append many at once. A dispatch's History append is
 * the point where it becomes final for readers: then its live slot is freed. A dispatch that was
 * created in an earlier window also leaves a stub there, so a lookup by its id finds it. Trust
 * records that are not final outcomes go along with the batch.
 */
import type { DispatchDoc } from "../contracts/dispatch-doc";
import type { AppendEntry } from "../history/dispatch-history";
import type { TrustInput } from "../history/history-store";
import { dispatchKeyTime, historyName, partitionSpanMs, partitionStart } from "../lib/partitions";

/** How long a flush waits for more finals to share its append. */
const FLUSH_DELAY_MS = 20;

export interface OutboxHost {
  env: Env;
  bindingId(): string;
  /** History holds these dispatches now. */
  released(ids: string[]): void;
  /** Something stays unsent: retry at this time. */
  retryAt(at: number): void;
  waitUntil(p: Promise<unknown>): void;
}

export class HistoryOutbox {
  private readonly entries = new Map<string, AppendEntry>();
  private trust: TrustInput[] = [];
  private running: Promise<void> | null = null;
  private scheduled = false;
  private failures = 0;

  constructor(private readonly host: OutboxHost) {}

  add(doc: DispatchDoc, trust: TrustInput | null): void {
    this.entries.set(doc.dispatch_id, { doc, trust });
    this.schedule();
  }

  addTrust(record: TrustInput): void {
    this.trust.push(record);
    this.schedule();
  }

  pending(): boolean {
    return this.entries.size > 0 || this.trust.length > 0;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.host.waitUntil(
      new Promise((resolve) => setTimeout(resolve, FLUSH_DELAY_MS)).then(() => {
        this.scheduled = false;
        return this.flush().catch(() => {});
      }),
    );
  }

  /** Sends everything queued; resolves when History holds it (rejects when it could not). */
  flush(): Promise<void> {
    if (!this.running) {
      this.running = this.send().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    // A flush is under way: send what arrived since once it ends.
    return this.running.then(() => (this.pending() ? this.flush() : undefined));
  }

  private async send(): Promise<void> {
    const entries = [...this.entries.values()];
    const trust = this.trust;
    this.trust = [];
    if (entries.length === 0 && trust.length === 0) return;
    try {
      const span = partitionSpanMs(this.host.env);
      const bindingId = this.host.bindingId();
      let holder = historyName(bindingId, partitionStart(Date.now(), span));
      for (let hop = 0; hop < 3; hop++) {
        const answer = await this.host.env.DISPATCH_HISTORY.getByName(holder).append(entries);
        if (answer.ok) break;
        holder = answer.moved_to;
        if (hop === 2) throw new Error(`history append moved too often (last: ${holder})`);
      }
      const stubs = new Map<string, { doc: DispatchDoc; holder: string }[]>();
      for (const e of entries) {
        const home = historyName(bindingId, partitionStart(dispatchKeyTime(e.doc.dispatch_id), span));
        if (home !== holder) stubs.set(home, [...(stubs.get(home) ?? []), { doc: e.doc, holder }]);
      }
      await Promise.all(
        [...stubs].map(([home, list]) => this.host.env.DISPATCH_HISTORY.getByName(home).appendStubs(list)),
      );
      if (trust.length > 0) {
        let target = holder;
        for (let hop = 0; hop < 3; hop++) {
          const answer = await this.host.env.DISPATCH_HISTORY.getByName(target).appendTrust(trust);
          if (answer.ok) break;
          target = answer.moved_to;
        }
      }
      const ids = entries.map((e) => e.doc.dispatch_id);
      for (const id of ids) this.entries.delete(id);
      this.failures = 0;
      this.host.released(ids);
    } catch (error) {
      this.trust = [...trust, ...this.trust];
      this.failures += 1;
      this.host.retryAt(Date.now() + Math.min(30_000, 500 * 2 ** this.failures));
      console.error(JSON.stringify({ msg: "history append failed", error: String(error) }));
      throw error;
    }
  }
}
