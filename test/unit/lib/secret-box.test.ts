/** SPEC 16 secret sealing, pure WebCrypto: round trips, key ids, rotation, plaintext from before, bad keys. */
import { describe, expect, it } from "vitest";
import { isSealed, keyProblem, needsReseal, open, seal, secretKeysOf } from "../../../src/lib/secret-box";

const A = btoa("a".repeat(32));
const B = btoa("b".repeat(32));

describe("secret box", () => {
  it("seals with a fresh IV each time and opens back", async () => {
    const keys = { current: A, previous: null };
    const one = await seal("whsec_secret", keys);
    const two = await seal("whsec_secret", keys);
    expect(one).toMatch(/^sy1:[A-Za-z0-9_-]{8}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
    expect(one).not.toBe(two);
    expect(one).not.toContain("secret");
    expect(await open(one, keys)).toBe("whsec_secret");
    expect(isSealed(one)).toBe(true);
  });

  it("opens values sealed under the previous key, and says they need re-sealing", async () => {
    const old = await seal("s", { current: A, previous: null });
    const rotating = { current: B, previous: A };
    expect(await open(old, rotating)).toBe("s");
    expect(await needsReseal(old, rotating)).toBe(true);
    expect(await needsReseal(await seal("s", rotating), rotating)).toBe(false);
    await expect(open(old, { current: B, previous: null })).rejects.toThrow(/SECRETS_KEY_PREVIOUS/);
  });

  it("plaintext from before encryption passes through and needs re-sealing", async () => {
    const keys = { current: A, previous: null };
    expect(await open("legacy-plaintext", keys)).toBe("legacy-plaintext");
    expect(await needsReseal("legacy-plaintext", keys)).toBe(true);
    expect(await needsReseal("", keys)).toBe(false);
  });

  it("a tampered value does not open", async () => {
    const keys = { current: A, previous: null };
    const sealed = await seal("s", keys);
    // Change one character inside the ciphertext (not the last one, whose low bits are padding).
    const at = sealed.lastIndexOf(":") + 3;
    const swapped = sealed[at] === "A" ? "B" : "A";
    await expect(open(`${sealed.slice(0, at)}${swapped}${sealed.slice(at + 1)}`, keys)).rejects.toThrow();
  });

  it("reads the keys from the environment and explains a bad one", async () => {
    expect(secretKeysOf({})).toBeNull();
    expect(secretKeysOf({ SECRETS_KEY: " " })).toBeNull();
    expect(secretKeysOf({ SECRETS_KEY: A, SECRETS_KEY_PREVIOUS: B })).toEqual({ current: A, previous: B });
    expect(await keyProblem(null)).toBe("SECRETS_KEY is not set");
    expect(await keyProblem({ current: A, previous: null })).toBeNull();
    expect(await keyProblem({ current: btoa("short"), previous: null })).toMatch(/32 random bytes.*got 5 bytes/);
    expect(await keyProblem({ current: "%%%", previous: null })).toMatch(/base64/);
  });
});
