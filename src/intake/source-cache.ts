/**
 * Per-isolate cache of the intake sources `POST /hooks/:source` reads on every request, so the hot
 * path makes no D1 read for its source (nor a decryption: secrets are opened when an entry is filled). Entries (unknown names too) live SOURCE_CACHE_TTL_MS; a
 * change through `/v1/sources` drops the entry in the isolate that made it, other isolates see it
 * once their entry expires. Concurrent misses each read D1: sharing one read's promise across
 * requests would let a request continue outside its own I/O context, where Workers refuse it its own
 * request body ("Cannot perform I/O on behalf of a different request").
 */
import { getSource, type SourceRow } from "../db/sources-repo";
import { open, requireSecretKeys, type SecretKeys } from "../lib/secret-box";

/** How long an isolate may answer with a source as it was read: the propagation delay of a change. */
export const SOURCE_CACHE_TTL_MS = 5_000;

/** Bounds the memory of an isolate that sees many names (unknown ones included). */
const MAX_ENTRIES = 1_000;

/** A source row with its secrets already parsed. */
export interface IntakeSource {
  row: SourceRow;
  secrets: string[];
}

interface Entry {
  source: IntakeSource | null;
  expiresAt: number;
}

const entries = new Map<string, Entry>();
/** Bumped by every invalidation: a read that started before one is not cached. */
let generation = 0;

/** The source named `name` as this isolate last read it (at most SOURCE_CACHE_TTL_MS ago), or null. */
export async function intakeSource(
  d1: D1Database,
  name: string,
  keys: SecretKeys | null,
  now = Date.now(),
): Promise<IntakeSource | null> {
  const hit = entries.get(name);
  if (hit && hit.expiresAt > now) return hit.source;
  const started = generation;
  const row = await getSource(d1, name);
  const source = row ? { row, secrets: await openSecrets(row.secrets, keys) } : null;
  if (started === generation) remember(name, { source, expiresAt: now + SOURCE_CACHE_TTL_MS });
  return source;
}

/** A source's stored secrets, opened (they are sealed at rest; SPEC 16). */
async function openSecrets(stored: string, keys: SecretKeys | null): Promise<string[]> {
  const sealed = JSON.parse(stored) as string[];
  if (sealed.length === 0) return [];
  const usable = keys ?? requireSecretKeys({});
  return Promise.all(sealed.map((s) => open(s, usable)));
}

function remember(name: string, entry: Entry): void {
  entries.delete(name);
  if (entries.size >= MAX_ENTRIES) {
    // Oldest first (Map keeps insertion order): expired entries go, or the oldest one when none has.
    const now = Date.now();
    for (const [key, old] of entries) if (old.expiresAt <= now) entries.delete(key);
    if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value as string);
  }
  entries.set(name, entry);
}

/** Drops this isolate's copy of `name` after it was created, changed or deleted here. */
export function forgetSource(name: string): void {
  generation++;
  entries.delete(name);
}

/** Empties this isolate's cache (tests). */
export function clearSourceCache(): void {
  generation++;
  entries.clear();
}
