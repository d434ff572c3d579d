/**
 * The BindingGate's timers (retry waits, attempt leases, flow-control waits, predicate restarts)
 * multiplexed onto the object's one alarm. Each live dispatch has at most one timer, stored in its
 * document, so this index is only memory: rebuilt from the live documents on activation. A min-heap
 * with lazy deletion finds the next due time without scanning every dispatch.
 */
import type { DispatchTimer } from "../contracts/dispatch-doc";

type Entry = { at: number; id: string; version: number };

export class GateTimers {
  private readonly current = new Map<string, { timer: DispatchTimer; version: number }>();
  private heap: Entry[] = [];
  private version = 0;

  set(id: string, timer: DispatchTimer | null): void {
    if (timer === null) {
      this.current.delete(id);
      return;
    }
    const existing = this.current.get(id);
    if (existing && existing.timer.at === timer.at && existing.timer.kind === timer.kind) {
      existing.timer = timer;
      return;
    }
    const version = ++this.version;
    this.current.set(id, { timer, version });
    this.push({ at: timer.at, id, version });
  }

  get(id: string): DispatchTimer | null {
    return this.current.get(id)?.timer ?? null;
  }

  /** The earliest due time, or null. */
  next(): number | null {
    this.dropStale();
    return this.heap[0]?.at ?? null;
  }

  /** Removes and returns the timers due at `now`, earliest first. */
  due(now: number, max = 200): { id: string; timer: DispatchTimer }[] {
    const out: { id: string; timer: DispatchTimer }[] = [];
    while (out.length < max) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.at > now) break;
      this.pop();
      const entry = this.current.get(top.id);
      if (!entry) continue;
      this.current.delete(top.id);
      out.push({ id: top.id, timer: entry.timer });
    }
    return out;
  }

  private dropStale(): void {
    for (;;) {
      const top = this.heap[0];
      if (!top) return;
      const entry = this.current.get(top.id);
      if (entry && entry.version === top.version) return;
      this.pop();
    }
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(h[i] as Entry, h[parent] as Entry)) break;
      [h[i], h[parent]] = [h[parent] as Entry, h[i] as Entry];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (!last || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && less(h[l] as Entry, h[m] as Entry)) m = l;
      if (r < h.length && less(h[r] as Entry, h[m] as Entry)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m] as Entry, h[i] as Entry];
      i = m;
    }
  }
}

function less(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.id < b.id);
}
