/**
 * Binding versioning (SPEC 5.2): identical specs (canonical JSON) change nothing, a different spec
 * creates version n+1 and drains the previous live versions; drained versions terminate once their
 * last dispatch ends (the BindingGate checks at every terminal outcome).
 */
import { and, eq } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle } from "drizzle-orm/d1";
import { type BindingSpec, formatBindingKey } from "../contracts/binding-spec";
import { type BindingVersionRow, listVersions, stateTransitionRecord } from "../db/bindings-repo";
import { bindingControls, bindingVersions } from "../db/schema";
import { canonicalJson, sha256Hex } from "../lib/canonical-json";
import { AppError } from "../lib/errors";
import { newSigningSecret } from "../lib/ids";
import { iso } from "../lib/time";

export interface BindingVersionView {
  id: string;
  version: number;
  binding_key: string;
  state: string;
  spec: BindingSpec;
  created_at: string;
}

export function versionView(row: BindingVersionRow): BindingVersionView {
  return {
    id: row.id,
    version: row.version,
    binding_key: row.bindingKey,
    state: row.state,
    spec: JSON.parse(row.spec) as BindingSpec,
    created_at: row.createdAt,
  };
}

export type UpsertResult =
  | { change: "unchanged"; row: BindingVersionRow }
  | { change: "created" | "updated"; row: BindingVersionRow; drained: BindingVersionRow[] };

export async function upsertBinding(env: Env, id: string, spec: BindingSpec, now: number): Promise<UpsertResult> {
  const db = drizzle(env.DB);
  const versions = await listVersions(env.DB, id);
  const hash = await sha256Hex(canonicalJson(spec));
  const active = versions.filter((v) => v.state === "active");
  const same = active.find((v) => v.specHash === hash);
  if (same && active.length === 1) return { change: "unchanged", row: same };

  const at = iso(now);
  const version = Math.max(0, ...versions.map((v) => v.version)) + 1;
  const row: BindingVersionRow = {
    bindingKey: formatBindingKey(id, version),
    id,
    version,
    state: "active",
    provider: spec.provider,
    tenantId: spec.tenant_id ?? null,
    spec: JSON.stringify(spec),
    specHash: hash,
    createdAt: at,
    updatedAt: at,
  };
  const drained = active.map((v) => ({ ...v, state: "draining" as const, updatedAt: at }));
  const items: BatchItem<"sqlite">[] = [
    db.insert(bindingVersions).values(row),
    db
      .insert(bindingControls)
      .values({ id, paused: false, signingSecret: newSigningSecret(), createdAt: at, updatedAt: at })
      .onConflictDoNothing(),
    stateTransitionRecord(db, row, null, "active", at),
    ...drained.flatMap((v) => [
      db
        .update(bindingVersions)
        .set({ state: "draining", updatedAt: at })
        .where(and(eq(bindingVersions.bindingKey, v.bindingKey), eq(bindingVersions.state, "active"))),
      stateTransitionRecord(db, v, "active", "draining", at),
    ]),
  ];
  try {
    await db.batch(items as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  } catch (error) {
    if (/UNIQUE constraint failed/i.test(String(error))) {
      throw new AppError("conflict", `binding '${id}' was changed concurrently; retry the request`);
    }
    throw error;
  }
  await drainGates(env, drained);
  return { change: versions.length === 0 ? "created" : "updated", row, drained };
}

/** Moves every active version of `id` to draining (DELETE, or an id dropped from a manifest). */
export async function drainBinding(env: Env, id: string, now: number): Promise<BindingVersionRow[]> {
  const db = drizzle(env.DB);
  const at = iso(now);
  const active = (await listVersions(env.DB, id)).filter((v) => v.state === "active");
  if (active.length === 0) return [];
  const drained = active.map((v) => ({ ...v, state: "draining" as const, updatedAt: at }));
  const items: BatchItem<"sqlite">[] = drained.flatMap((v) => [
    db
      .update(bindingVersions)
      .set({ state: "draining", updatedAt: at })
      .where(and(eq(bindingVersions.bindingKey, v.bindingKey), eq(bindingVersions.state, "active"))),
    stateTransitionRecord(db, v, "active", "draining", at),
  ]);
  await db.batch(items as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  await drainGates(env, drained);
  return drained;
}

async function drainGates(env: Env, rows: BindingVersionRow[]): Promise<void> {
  await Promise.all(rows.map((v) => env.BINDING_GATE.getByName(v.bindingKey).drain(v.bindingKey)));
}

/** Pause/resume applies to every live version of the binding id. */
export async function setBindingPaused(env: Env, id: string, paused: boolean, now: number): Promise<void> {
  const db = drizzle(env.DB);
  await db
    .update(bindingControls)
    .set({ paused, updatedAt: iso(now) })
    .where(eq(bindingControls.id, id));
  const live = (await listVersions(env.DB, id)).filter((v) => v.state !== "terminated");
  await Promise.all(live.map((v) => env.BINDING_GATE.getByName(v.bindingKey).setPaused(paused)));
}
