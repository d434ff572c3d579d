/**
 * Secrets at rest (SPEC 16): source secrets and binding signing secrets are stored only as AES-GCM
 * ciphertext under the Worker secret `SECRETS_KEY` (base64 of 32 random bytes), never as plaintext,
 * in D1 and in Durable Object copies alike. A sealed value is `sy1:<key id>:<iv>:<ciphertext>`
 * (base64url); the key id (the first bytes of the key's SHA-256) says which key sealed it, so a value
 * sealed under `SECRETS_KEY_PREVIOUS` still opens while a rotation re-seals everything.
 *
 * Values written before encryption existed are plaintext without the prefix: they still open (so an
 * upgrade needs no downtime) and `needsReseal` tells the re-seal step to encrypt them.
 */

import { AppError } from "./errors";

const PREFIX = "sy1:";

export interface SecretKeys {
  current: string;
  previous: string | null;
}

/** The configured keys, or null when `SECRETS_KEY` is not set (routes that need a secret answer 503). */
export function secretKeysOf(env: object): SecretKeys | null {
  const vars = env as { SECRETS_KEY?: unknown; SECRETS_KEY_PREVIOUS?: unknown };
  const current = typeof vars.SECRETS_KEY === "string" ? vars.SECRETS_KEY.trim() : "";
  if (!current) return null;
  const previous = typeof vars.SECRETS_KEY_PREVIOUS === "string" ? vars.SECRETS_KEY_PREVIOUS.trim() : "";
  return { current, previous: previous ? previous : null };
}

export class SecretKeyError extends Error {}

/** How to fix a missing key, in every 503 that needs one. */
export const MISSING_KEY_HINT =
  "SECRETS_KEY is not set: `npm start` generates one into .dev.vars; deployed, run `openssl rand -base64 32 | wrangler secret put SECRETS_KEY`";

/** The keys, or a 503 that says how to set them: secrets are never stored or read as plaintext. */
export function requireSecretKeys(env: object): SecretKeys {
  const keys = secretKeysOf(env);
  if (!keys) throw new AppError("unavailable", MISSING_KEY_HINT, { missing: "SECRETS_KEY" });
  return keys;
}

interface LoadedKey {
  id: string;
  key: CryptoKey;
}

const loaded = new Map<string, Promise<LoadedKey>>();

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

function fromB64(text: string): Uint8Array {
  const normal = text.replaceAll("-", "+").replaceAll("_", "/");
  const padded = normal + "=".repeat((4 - (normal.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function rawKey(material: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromB64(material);
  } catch {
    throw new SecretKeyError("SECRETS_KEY must be base64 of 32 random bytes (openssl rand -base64 32)");
  }
  if (bytes.length !== 32) {
    throw new SecretKeyError(
      `SECRETS_KEY must be base64 of 32 random bytes (openssl rand -base64 32), got ${bytes.length} bytes`,
    );
  }
  return bytes;
}

/** Imports a key once per isolate. */
function load(material: string): Promise<LoadedKey> {
  let key = loaded.get(material);
  if (!key) {
    key = (async () => {
      const raw = rawKey(material);
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
      const id = b64url(digest.slice(0, 6));
      const imported = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
      return { id, key: imported };
    })();
    key.catch(() => loaded.delete(material));
    loaded.set(material, key);
  }
  return key;
}

/** Validates the configured keys (for `/healthz`): null when usable, else why not. */
export async function keyProblem(keys: SecretKeys | null): Promise<string | null> {
  if (!keys) return "SECRETS_KEY is not set";
  try {
    await load(keys.current);
    if (keys.previous) await load(keys.previous);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** Encrypts a secret under the current key. */
export async function seal(plaintext: string, keys: SecretKeys): Promise<string> {
  const { id, key } = await load(keys.current);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new TextEncoder().encode(plaintext)),
  );
  return `${PREFIX}${id}:${b64url(iv)}:${b64url(data)}`;
}

/** Decrypts a sealed secret with whichever configured key sealed it; plaintext from before passes through. */
export async function open(stored: string, keys: SecretKeys): Promise<string> {
  if (!isSealed(stored)) return stored;
  const [id, iv, data] = stored.slice(PREFIX.length).split(":");
  if (!id || !iv || !data) throw new SecretKeyError("a stored secret is malformed");
  for (const material of [keys.current, keys.previous]) {
    if (!material) continue;
    const candidate = await load(material);
    if (candidate.id !== id) continue;
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: fromB64(iv) }, candidate.key, fromB64(data));
    return new TextDecoder().decode(plain);
  }
  throw new SecretKeyError(
    "a stored secret was sealed with a key that is neither SECRETS_KEY nor SECRETS_KEY_PREVIOUS: set the key it was sealed with as SECRETS_KEY_PREVIOUS, or enter the secret again",
  );
}

/** Whether a stored value is plaintext or sealed under another key than the current one. */
export async function needsReseal(stored: string, keys: SecretKeys): Promise<boolean> {
  if (!isSealed(stored)) return stored !== "";
  const { id } = await load(keys.current);
  return !stored.startsWith(`${PREFIX}${id}:`);
}
