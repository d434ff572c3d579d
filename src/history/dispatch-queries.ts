/**
 * Reads dispatches wherever they are (docs/scale.md): the BindingGate while they are live (or final
 * but not yet appended), else the History window of their binding id that their creation time names
 * (an entry, or a stub naming the window that holds it). Lists merge the gate with the windows in
 * the D1 directory, newest first by (creation key, dispatch id), so pages cross windows without gaps
 * or repeats.
 */
import type { DispatchDoc } from "../contracts/dispatch-doc";
import { listPartitions } from "../db/partitions-repo";
import { dispatchKeyTime, historyName, partitionSpanMs, partitionStart } from "../lib/partitions";
import type { ListQuery } from "./history-store";
import { legacyBindingDispatches, legacyDispatches } from "./legacy-layout";
import { gateReads, historyReads } from "./stubs";

export function bindingIdOf(bindingKey: string): string {
  const at = bindingKey.lastIndexOf("@v");
  return at > 0 ? bindingKey.slice(0, at) : bindingKey;
}

export function bindingKeyOfDispatch(dispatchId: string): string {
  return dispatchId.split("|")[0] ?? "";
}

/** Dispatch documents by id (missing ones are left out). */
export async function findDispatches(env: Env, ids: readonly string[]): Promise<Map<string, DispatchDoc>> {
  const found = new Map<string, DispatchDoc>();
  const byKey = new Map<string, string[]>();
  for (const id of new Set(ids)) {
    const key = bindingKeyOfDispatch(id);
    byKey.set(key, [...(byKey.get(key) ?? []), id]);
  }
  await Promise.all(
    [...byKey].map(async ([key, list]) => {
      for (const doc of await gateReads(env, key).get(list)) found.set(doc.dispatch_id, doc);
    }),
  );
  const span = partitionSpanMs(env);
  const byWindow = new Map<string, string[]>();
  for (const id of ids) {
    if (found.has(id)) continue;
    const name = historyName(bindingIdOf(bindingKeyOfDispatch(id)), partitionStart(dispatchKeyTime(id), span));
    byWindow.set(name, [...(byWindow.get(name) ?? []), id]);
  }
  const stubs = new Map<string, string[]>();
  await Promise.all(
    [...byWindow].map(async ([name, list]) => {
      for (const f of await historyReads(env, name).get(list)) {
        if (f.stub_of) stubs.set(f.stub_of, [...(stubs.get(f.stub_of) ?? []), f.doc.dispatch_id]);
        else found.set(f.doc.dispatch_id, f.doc);
      }
    }),
  );
  await Promise.all(
    [...stubs].map(async ([holder, list]) => {
      for (const f of await historyReads(env, holder).get(list)) {
        if (!f.stub_of) found.set(f.doc.dispatch_id, f.doc);
      }
    }),
  );
  const older = ids.filter((id) => !found.has(id));
  if (older.length > 0) for (const doc of await legacyDispatches(env.DB, older)) found.set(doc.dispatch_id, doc);
  return found;
}

export async function findDispatch(env: Env, id: string): Promise<DispatchDoc | null> {
  return (await findDispatches(env, [id])).get(id) ?? null;
}

export interface DispatchListFilter {
  binding_id: string;
  binding_key?: string | undefined;
  status?: string | undefined;
  event_id?: string | undefined;
  replay_of_event_id?: string | undefined;
  tenant_id?: string | null | undefined;
}

function order(a: DispatchDoc, b: DispatchDoc): number {
  const ka = dispatchKeyTime(a.dispatch_id);
  const kb = dispatchKeyTime(b.dispatch_id);
  if (ka !== kb) return kb - ka;
  return a.dispatch_id < b.dispatch_id ? 1 : a.dispatch_id > b.dispatch_id ? -1 : 0;
}

export function cursorOf(doc: DispatchDoc): [number, string] {
  return [dispatchKeyTime(doc.dispatch_id), doc.dispatch_id];
}

function before(doc: DispatchDoc, cursor: [number, string] | null): boolean {
  if (!cursor) return true;
  const k = dispatchKeyTime(doc.dispatch_id);
  return k < cursor[0] || (k === cursor[0] && doc.dispatch_id < cursor[1]);
}

function matches(doc: DispatchDoc, f: DispatchListFilter): boolean {
  return (
    (f.binding_key === undefined || doc.binding_key === f.binding_key) &&
    (f.status === undefined || doc.status === f.status) &&
    (f.event_id === undefined || doc.event_id === f.event_id) &&
    (f.replay_of_event_id === undefined || doc.replay_of_event_id === f.replay_of_event_id) &&
    (f.tenant_id === undefined || f.tenant_id === null || doc.tenant_id === f.tenant_id)
  );
}

/**
 * One binding id's dispatches newest first, below `cursor`: the live ones of its versions' gates and
 * the entries and stubs of its History windows (a stub stands for an entry created in its window).
 */
export async function listBindingDispatches(
  env: Env,
  f: DispatchListFilter,
  bindingKeys: readonly string[],
  cursor: [number, string] | null,
  limit: number,
): Promise<DispatchDoc[]> {
  const gathered = new Map<string, DispatchDoc>();
  const live = await Promise.all(bindingKeys.map((key) => gateReads(env, key).held()));
  for (const doc of live.flat()) if (matches(doc, f) && before(doc, cursor)) gathered.set(doc.dispatch_id, doc);
  const windows = await listPartitions(env.DB, `history:${f.binding_id}:`, { live: true });
  const span = partitionSpanMs(env);
  const q: ListQuery = {
    binding_key: f.binding_key,
    status: f.status,
    event_id: f.event_id,
    replay_of_event_id: f.replay_of_event_id,
    tenant_id: f.tenant_id,
    before: cursor,
    limit: limit + 1,
  };
  for (const w of windows) {
    // A window starting after the cursor holds nothing below it of its own (a late entry there
    // has a stub in the window it was created in).
    if (cursor && w.start > cursor[0]) continue;
    // Windows are visited newest first; one older than every row already kept cannot add to the page.
    const sorted = [...gathered.values()].sort(order);
    const last = sorted[limit];
    if (last && dispatchKeyTime(last.dispatch_id) >= w.start + span) break;
    for (const row of await historyReads(env, w.name).list(q)) {
      if (!gathered.has(row.doc.dispatch_id) && !(row.stub_of && gathered.has(row.doc.dispatch_id))) {
        gathered.set(row.doc.dispatch_id, row.doc);
      }
    }
  }
  // Dispatches of the earlier layout (D1), until retention ends them.
  for (const doc of await legacyBindingDispatches(env.DB, bindingKeys)) {
    if (!gathered.has(doc.dispatch_id) && matches(doc, f) && before(doc, cursor)) gathered.set(doc.dispatch_id, doc);
  }
  return [...gathered.values()].sort(order).slice(0, limit + 1);
}
