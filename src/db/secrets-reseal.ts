/**
 * Re-sealing stored secrets (SPEC 16): plaintext written before encryption existed, and values sealed
 * under `SECRETS_KEY_PREVIOUS` during a key rotation, are sealed again under the current key, in D1
 * (`sources.secrets`, `binding_controls` signing secrets) and in every BindingGate's copy. Each row
 * is rewritten only if it did not change meanwhile, so it is safe to run while traffic flows.
 */
import { drizzle } from "drizzle-orm/d1";
import { needsReseal, open, type SecretKeys, seal } from "../lib/secret-box";
import { bindingControls, bindingVersions, sources } from "./schema";

export interface ResealCounts {
  sources: number;
  bindings: number;
  gates: number;
}

async function resealed(stored: string, keys: SecretKeys): Promise<string | null> {
  return (await needsReseal(stored, keys)) ? seal(await open(stored, keys), keys) : null;
}

export async function resealStoredSecrets(env: Env, keys: SecretKeys): Promise<ResealCounts> {
  const db = drizzle(env.DB);
  const counts: ResealCounts = { sources: 0, bindings: 0, gates: 0 };

  for (const row of await db.select({ name: sources.name, secrets: sources.secrets }).from(sources)) {
    const stored = JSON.parse(row.secrets) as string[];
    const fresh = await Promise.all(stored.map(async (s) => (await resealed(s, keys)) ?? s));
    if (fresh.every((s, i) => s === stored[i])) continue;
    const done = await env.DB.prepare("UPDATE sources SET secrets = ? WHERE name = ? AND secrets = ?")
      .bind(JSON.stringify(fresh), row.name, row.secrets)
      .run();
    counts.sources += done.meta.changes ?? 0;
  }

  for (const row of await db.select().from(bindingControls)) {
    const current = await resealed(row.signingSecret, keys);
    const previous = row.previousSigningSecret ? await resealed(row.previousSigningSecret, keys) : null;
    if (current === null && previous === null) continue;
    const done = await env.DB.prepare(
      `UPDATE binding_controls SET signing_secret = ?, previous_signing_secret = ?
       WHERE id = ? AND signing_secret = ? AND previous_signing_secret IS ?`,
    )
      .bind(
        current ?? row.signingSecret,
        previous ?? row.previousSigningSecret,
        row.id,
        row.signingSecret,
        row.previousSigningSecret,
      )
      .run();
    counts.bindings += done.meta.changes ?? 0;
  }

  // Every gate that ever existed keeps a copy, terminated versions included.
  const gates = await db.select({ bindingKey: bindingVersions.bindingKey }).from(bindingVersions);
  const changed = await Promise.all(gates.map((g) => env.BINDING_GATE.getByName(g.bindingKey).resealSecrets()));
  counts.gates = changed.filter((n) => n > 0).length;
  return counts;
}
