/**
 * What every handler kind (webhook, A2A, worker queue, persona) is called with: the bindings, the
 * clock, and the signal that aborts the attempt. The dispatcher (`invoke.ts`) depends on the kinds,
 * never the reverse.
 */
export interface HandlerEnv {
  env: Env;
  now: () => number;
  signal?: AbortSignal;
}
