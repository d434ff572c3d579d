/**
 * Binding versioning (SPEC 5.2): identical specs (canonical JSON) change nothing, a different spec
 * creates version n+1 and drains the previous live versions; drained versions terminate once their
 * last dispatch ends (the BindingGate checks at every terminal outcome).
 */
import { and, eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { drizzle } from "drizzle-orm/d1";
import { type BindingSpec, formatBindingKey } from "../contracts/binding-spec";
import { type BindingVersionRow, listVersions, stateTransitionRecord, toCandidate } from "../db/bindings-repo";
import type { Db } from "../db/client";
import { bindingControls, bindingVersions } from "../db/schema";
import { notifyRoutingChanged } from "../dispatch/routing-notify";
import { canonicalJson, sha256Hex } from "../lib/canonical-json";
import { AppError } from "../lib/errors";
import { newSigningSecret } from "../lib/ids";
import { requireSecretKeys, seal } from "../lib/secret-box";
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
  const { id, version, bindingKey, state, spec } = toCandidate(row);
  return { id, version, binding_key: bindingKey, state, spec, created_at: row.createdAt };
}

export type UpsertResult =
  | { change: "unchanged"; row: BindingVersionRow }
  | { change: "created" | "updated"; row: BindingVersionRow; drained: BindingVersionRow[] };

/** Concurrent writers of one id collide on (id, version); a loser re-reads and decides again. */
const UPSERT_TRIES = 3;

const isUniqueViolation = (error: unknown) => /UNIQUE constraint failed/i.test(String(error));

/** What is known about one binding id before a write: its active versions and its highest version. */
interface IdState {
  active: BindingVersionRow[];
  maxVersion: number;
}

interface Plan<R> {
  result: R;
  drained: BindingVersionRow[];
  items: BatchItem<"sqlite">[];
}

function drainItems(db: Db, active: BindingVersionRow[], at: string): Plan<BindingVersionRow[]> {
  const drained = active.map((v) => ({ ...v, state: "draining" as const, updatedAt: at }));
  const items = drained.flatMap((v) => [
    db
      .update(bindingVersions)
      .set({ state: "draining", updatedAt: at })
      .where(and(eq(bindingVersions.bindingKey, v.bindingKey), eq(bindingVersions.state, "active"))),
    stateTransitionRecord(db, v, "active", "draining", at),
  ]);
  return { result: drained, drained, items };
}

/** Decides one upsert (SPEC 5.2) and the statements that carry it out; writes nothing. */
function planUpsert(
  db: Db,
  state: IdState,
  id: string,
  spec: BindingSpec,
  hash: string,
  at: string,
  sealedSecret: string,
): Plan<UpsertResult> {
  const same = state.active.find((v) => v.specHash === hash);
  if (same && state.active.length === 1) return { result: { change: "unchanged", row: same }, drained: [], items: [] };
  const version = state.maxVersion + 1;
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
  const drain = drainItems(db, state.active, at);
  return {
    result: { change: state.maxVersion === 0 ? "created" : "updated", row, drained: drain.drained },
    drained: drain.drained,
    items: [
      db.insert(bindingVersions).values(row),
      db
        .insert(bindingControls)
        .values({ id, paused: false, signingSecret: sealedSecret, createdAt: at, updatedAt: at })
        .onConflictDoNothing(),
      stateTransitionRecord(db, row, null, "active", at),
      ...drain.items,
    ],
  };
}

function idState(versions: BindingVersionRow[]): IdState {
  return {
    active: versions.filter((v) => v.state === "active"),
    maxVersion: Math.max(0, ...versions.map((v) => v.version)),
  };
}

async function runBatch(db: Db, items: BatchItem<"sqlite">[]): Promise<void> {
  if (items.length > 0) await db.batch(items as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}

/**
 * Creates version n+1 unless `spec` equals the single active version. Idempotent under concurrency:
 * when another request wins the race for the next version, this one re-reads and either finds its spec
 * already live (unchanged) or supersedes the winner, as if the two had arrived one after the other.
 */
export async function upsertBinding(env: Env, id: string, spec: BindingSpec, now: number): Promise<UpsertResult> {
  const db = drizzle(env.DB);
  const hash = await sha256Hex(canonicalJson(spec));
  for (let attempt = 1; ; attempt++) {
    const sealed = await seal(newSigningSecret(), requireSecretKeys(env));
    const plan = planUpsert(db, idState(await listVersions(env.DB, id)), id, spec, hash, iso(now), sealed);
    try {
      await runBatch(db, plan.items);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      if (attempt >= UPSERT_TRIES) {
        throw new AppError("conflict", `binding '${id}' was changed concurrently; retry the request`);
      }
      continue;
    }
    await drainGates(env, plan.drained);
    if (plan.result.change !== "unchanged") await notifyRoutingChanged(env);
    return plan.result;
  }
}

export interface ApplyResult {
  created: string[];
  updated: string[];
  unchanged: string[];
  drained: string[];
}

/**
 * Reconciles the whole binding set with a validated manifest (SPEC 5.2 GitOps): creates and updates the
 * listed ids, drains every other active id. All writes go in one D1 batch, so a failure (e.g. a
 * concurrent change) applies nothing; a handful of reads and one write whatever the manifest size.
 */
export async function applyManifest(
  env: Env,
  entries: { id: string; spec: BindingSpec }[],
  now: number,
  tenant: string | null = null,
): Promise<ApplyResult> {
  const db = drizzle(env.DB);
  const at = iso(now);
  const hashes = await Promise.all(entries.map((e) => sha256Hex(canonicalJson(e.spec))));
  const keys = requireSecretKeys(env);
  const sealedSecrets = await Promise.all(entries.map(() => seal(newSigningSecret(), keys)));
  // With a tenant, only that tenant's bindings are reconciled (drained when unlisted).
  const active = await db
    .select()
    .from(bindingVersions)
    .where(and(eq(bindingVersions.state, "active"), tenant ? eq(bindingVersions.tenantId, tenant) : undefined));
  const maxVersions = new Map(
    (
      await db
        .select({ id: bindingVersions.id, max: sql<number>`max(${bindingVersions.version})` })
        .from(bindingVersions)
        .groupBy(bindingVersions.id)
    ).map((r) => [r.id, Number(r.max)]),
  );
  const out: ApplyResult = { created: [], updated: [], unchanged: [], drained: [] };
  const items: BatchItem<"sqlite">[] = [];
  const drained: BindingVersionRow[] = [];
  const listed = new Set<string>();
  entries.forEach((entry, i) => {
    listed.add(entry.id);
    const state = {
      active: active.filter((v) => v.id === entry.id),
      maxVersion: maxVersions.get(entry.id) ?? 0,
    };
    const plan = planUpsert(db, state, entry.id, entry.spec, hashes[i] ?? "", at, sealedSecrets[i] ?? "");
    out[plan.result.change].push(plan.result.row.bindingKey);
    items.push(...plan.items);
    drained.push(...plan.drained);
  });
  const unlisted = active
    .filter((v) => !listed.has(v.id))
    .sort((a, b) => (a.id === b.id ? a.version - b.version : a.id < b.id ? -1 : 1));
  const removal = drainItems(db, unlisted, at);
  items.push(...removal.items);
  drained.push(...removal.drained);
  try {
    await runBatch(db, items);
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new AppError("conflict", "bindings were changed concurrently; nothing was applied, retry the request");
    }
    throw error;
  }
  out.drained = drained.map((v) => v.bindingKey);
  await drainGates(env, drained);
  await notifyRoutingChanged(env);
  return out;
}

/** Moves every active version of `id` to draining (DELETE, or an id dropped from a manifest). */
export async function drainBinding(env: Env, id: string, now: number): Promise<BindingVersionRow[]> {
  const db = drizzle(env.DB);
  const plan = drainItems(db, idState(await listVersions(env.DB, id)).active, iso(now));
  await runBatch(db, plan.items);
  await drainGates(env, plan.drained);
  await notifyRoutingChanged(env);
  return plan.drained;
}

/**
 * Tells each drained version's gate, so it terminates the version after its last dispatch. Best effort:
 * D1 already says draining (the request must not fail after that commit, or a retry would find the spec
 * unchanged and never reach the gate), and the cron sweep terminates drained versions a gate missed.
 */
async function drainGates(env: Env, rows: BindingVersionRow[]): Promise<void> {
  const results = await Promise.allSettled(
    rows.map((v) => env.BINDING_GATE.getByName(v.bindingKey).drain(v.bindingKey)),
  );
  results.forEach((r, i) => {
    if (r.status === "rejected") {
      console.error(
        JSON.stringify({ msg: "gate drain failed", binding_key: rows[i]?.bindingKey, error: String(r.reason) }),
      );
    }
  });
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
  await notifyRoutingChanged(env);
}

/** SPEC 12.1: how long a replaced signing secret keeps signing unless the caller says otherwise. */
export const SIGNING_OVERLAP_DEFAULT_MS = 24 * 3_600_000;

/**
 * Rotates a binding's signing secret (SPEC 12.1): a new secret signs every outbound call from now on,
 * and the replaced one signs alongside it for `overlapMs`, so receivers verifying with either keep
 * working while they switch. Every live version's gate is told at once. Null for an unknown binding.
 */
export async function rotateSigningSecret(
  env: Env,
  id: string,
  overlapMs: number,
  now: number,
): Promise<{ signing_secret: string; previous_valid_until: string | null } | null> {
  const db = drizzle(env.DB);
  const control = (await db.select().from(bindingControls).where(eq(bindingControls.id, id)))[0];
  if (!control) return null;
  const secret = newSigningSecret();
  const sealed = await seal(secret, requireSecretKeys(env));
  const previous = overlapMs > 0 ? { secret: control.signingSecret, until: now + overlapMs } : null;
  const rotated = await db
    .update(bindingControls)
    .set({
      signingSecret: sealed,
      previousSigningSecret: previous?.secret ?? null,
      previousUntil: previous?.until ?? null,
      updatedAt: iso(now),
    })
    // Two rotations at once: only the one that saw the current secret wins.
    .where(and(eq(bindingControls.id, id), eq(bindingControls.signingSecret, control.signingSecret)))
    .returning({ id: bindingControls.id });
  if (rotated.length === 0) throw new AppError("conflict", `binding '${id}' was rotated by another request; retry`);
  const live = (await listVersions(env.DB, id)).filter((v) => v.state !== "terminated");
  await Promise.all(live.map((v) => env.BINDING_GATE.getByName(v.bindingKey).setSigningSecrets(sealed, previous)));
  await notifyRoutingChanged(env);
  return { signing_secret: secret, previous_valid_until: previous ? iso(previous.until) : null };
}
