/**
 * What a BindingGate does when it wakes (after eviction, a deploy or a crash): every live dispatch
 * gets its timer back; a dispatch that ended but may not be in History yet is handed over again
 * (appends are idempotent); an attempt found running died with the previous instance and is settled
 * through its lease before anything reads it. Objects of the earlier layout get their converted
 * dispatches filled in from the D1 mirror they had, and their pending trust records sent.
 */
import type { DispatchStatus } from "../contracts/dispatch";
import { isTerminal } from "../contracts/dispatch";
import type { DispatchTimer } from "../contracts/dispatch-doc";
import { viewOf } from "../dispatch/dispatch-view";
import type { TrustInput } from "../history/history-store";
import { legacyDispatches } from "../history/legacy-layout";
import { historyReads } from "../history/stubs";
import { dispatchKeyTime, historyName, partitionSpanMs, partitionStart } from "../lib/partitions";
import { appendTrust } from "../trust/trust-reader";
import type { GateCore } from "./gate-core";
import { pendingLegacyTrust } from "./legacy-gate";

/** The final status of a dispatch History already holds (a recovering EventLog admits again). */
export async function finishedElsewhere(env: Env, dispatchId: string): Promise<DispatchStatus | null> {
  const bindingId = dispatchId.split("@v")[0] ?? "";
  const name = historyName(bindingId, partitionStart(dispatchKeyTime(dispatchId), partitionSpanMs(env)));
  const [found] = await historyReads(env, name).get([dispatchId]);
  return found ? found.doc.status : null;
}

export class Activation {
  /** Attempts found running on activation, not yet settled. */
  private readonly orphans = new Set<string>();
  private settling: Promise<void> | null = null;

  /** Rebuilds the timers from the live documents; `fireLease` settles an orphaned attempt's lease. */
  constructor(
    private readonly gate: GateCore,
    private readonly fireLease: (id: string, timer: DispatchTimer, now: number) => Promise<void>,
  ) {
    const now = Date.now();
    let orphaned = false;
    for (const doc of gate.live.live()) {
      if (isTerminal(doc.status) && doc.status !== "waiting") {
        // Final and written here, but History may not hold it yet: hand it over (appends are idempotent).
        gate.live.finalize(doc, false);
        gate.outbox.add(doc, gate.finalTrust(doc, doc.status, doc.terminal_at ?? now, viewOf(doc).error));
        continue;
      }
      // An attempt found running on activation died with the previous instance (or finished, and its
      // slot was freed but not yet overwritten): settled before anything reads it.
      if (doc.attempt_running) {
        gate.timers.set(doc.dispatch_id, { kind: "lease", at: now, attempt: doc.attempt });
        this.orphans.add(doc.dispatch_id);
        orphaned = true;
      } else {
        gate.timers.set(doc.dispatch_id, doc.timer);
      }
    }
    if (orphaned) void gate.state.storage.setAlarm(now);
    if (gate.converted.length > 0) {
      gate.waitUntil(this.fillLegacy(gate.converted.map((d) => d.dispatch_id)));
      void gate.armAlarm();
    }
    const legacyTrust = pendingLegacyTrust(gate.sql);
    if (legacyTrust.length > 0) gate.waitUntil(this.sendLegacyTrust(legacyTrust));
  }

  /** Settles orphaned attempts (History holds the dispatch, or the attempt is declared lost) before a read. */
  settleOrphans(): Promise<void> {
    if (this.orphans.size === 0) return this.settling ?? Promise.resolve();
    const ids = [...this.orphans];
    this.orphans.clear();
    const run = (async () => {
      const now = Date.now();
      for (const id of ids) {
        const timer = this.gate.timers.get(id);
        if (timer?.kind !== "lease") continue;
        this.gate.timers.set(id, null);
        await this.fireLease(id, timer, now);
      }
      await this.gate.settle();
    })();
    this.settling = (this.settling ?? Promise.resolve()).then(() => run);
    return this.settling;
  }

  /** Converted dispatches get their outcome so far and their attempts from the D1 mirror they had. */
  private async fillLegacy(ids: string[]): Promise<void> {
    const live = this.gate.live;
    try {
      for (const old of await legacyDispatches(this.gate.env.DB, ids)) {
        const doc = live.get(old.dispatch_id);
        const first = doc?.log[0];
        const from = old.log[0];
        if (!doc || first?.op !== "legacy" || from?.op !== "legacy") continue;
        doc.log[0] = { ...from, status: first.status, attempt_count: first.attempt_count };
        live.touch(doc);
      }
      live.commit();
    } catch (error) {
      console.error(JSON.stringify({ msg: "legacy dispatches not filled in", error: String(error) }));
    }
  }

  private async sendLegacyTrust(pending: { seq: number; record: TrustInput }[]): Promise<void> {
    try {
      await appendTrust(
        this.gate.env,
        this.gate.meta("binding_id") ?? "",
        pending.map((p) => p.record),
      );
      this.gate.sql.exec("DELETE FROM trust_outbox WHERE seq <= ?", pending.at(-1)?.seq ?? 0);
    } catch (error) {
      console.error(JSON.stringify({ msg: "legacy trust records not sent", error: String(error) }));
    }
  }
}
