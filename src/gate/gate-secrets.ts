/**
 * The binding's signing secrets in its gate (SPEC 12.1, 16): stored sealed in the gate's meta, opened
 * only in memory when an outbound call is signed, re-sealed when `SECRETS_KEY` rotates, and replaced
 * (with the old one kept for its overlap) when the binding's secret rotates.
 */
import { type PreviousSigningSecret, signingSecretsAt } from "../contracts/gate-rpc";
import { needsReseal, open, requireSecretKeys, seal } from "../lib/secret-box";

/** The meta the secrets are kept in. */
export interface SecretsMeta {
  meta(key: string): string | null;
  setMeta(key: string, value: string): void;
  deleteMeta(key: string): void;
}

export class GateSecrets {
  /** Opened secrets by their sealed form (memory only; storage keeps them sealed). */
  private readonly opened = new Map<string, string>();

  constructor(
    private readonly store: SecretsMeta,
    private readonly env: Env,
  ) {}

  private async open(sealed: string): Promise<string> {
    const known = this.opened.get(sealed);
    if (known !== undefined) return known;
    const plain = await open(sealed, requireSecretKeys(this.env));
    this.opened.set(sealed, plain);
    return plain;
  }

  private previous(): PreviousSigningSecret | null {
    const stored = this.store.meta("previous_signing_secret");
    return stored ? (JSON.parse(stored) as PreviousSigningSecret) : null;
  }

  /**
   * The secrets outbound calls are signed with now (opened from their sealed copies): the current
   * one, and the replaced one while it overlaps. Throws when `SECRETS_KEY` cannot open them.
   */
  async signingSecrets(now: number): Promise<{ signing_secret: string; previous_signing_secret: string | null }> {
    const current = this.store.meta("signing_secret") ?? "";
    const [, old] = signingSecretsAt(current, this.previous(), now);
    return {
      signing_secret: current === "" ? "" : await this.open(current),
      previous_signing_secret: old ? await this.open(old) : null,
    };
  }

  /**
   * Seals the copies under the current `SECRETS_KEY` (plaintext from before encryption, or sealed
   * under the previous key). Returns how many it rewrote.
   */
  async reseal(): Promise<number> {
    const keys = requireSecretKeys(this.env);
    let rewritten = 0;
    const current = this.store.meta("signing_secret");
    if (current && (await needsReseal(current, keys))) {
      this.store.setMeta("signing_secret", await seal(await open(current, keys), keys));
      rewritten++;
    }
    const previous = this.previous();
    if (previous && (await needsReseal(previous.secret, keys))) {
      const secret = await seal(await open(previous.secret, keys), keys);
      this.store.setMeta("previous_signing_secret", JSON.stringify({ ...previous, secret }));
      rewritten++;
    }
    return rewritten;
  }

  /** A rotation (SPEC 12.1): the binding's new secret, and the replaced one until its overlap ends. */
  set(current: string, previous: PreviousSigningSecret | null): void {
    this.store.setMeta("signing_secret", current);
    if (previous) this.store.setMeta("previous_signing_secret", JSON.stringify(previous));
    else this.store.deleteMeta("previous_signing_secret");
  }
}
