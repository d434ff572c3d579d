/**
 * Time-sortable identifiers: UUIDv7 (RFC 9562) with an injected clock. Plain UUIDv7 is random below
 * the millisecond, so ids made in the same millisecond (every item of an array publish) would sort
 * randomly; this uses RFC 9562 §6.2 method 1: the 12-bit `rand_a` field is a counter, seeded randomly
 * in its lower half each new millisecond and incremented within one; on overflow the timestamp moves
 * on by a millisecond. Monotonic per isolate, which is as much order as ids made in different places
 * can have.
 */

export interface Uuidv7State {
  lastMs: number;
  counter: number;
}

const COUNTER_MAX = 0xfff;

/** A UUIDv7 greater than every earlier one made with the same `state`. `now` in ms. */
export function monotonicUuidv7(state: Uuidv7State, now: number): string {
  let ms = Math.max(0, Math.floor(now));
  if (ms <= state.lastMs) {
    ms = state.lastMs;
    state.counter += 1;
    if (state.counter > COUNTER_MAX) {
      ms += 1;
      state.counter = randomSeed();
    }
  } else {
    state.counter = randomSeed();
  }
  state.lastMs = ms;

  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes.subarray(8));
  let rest = ms;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  bytes[6] = 0x70 | (state.counter >> 8);
  bytes[7] = state.counter & 0xff;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Lower half of the counter range, so a millisecond has room for at least 2048 ids. */
function randomSeed(): number {
  const b = new Uint16Array(1);
  crypto.getRandomValues(b);
  return (b[0] ?? 0) & 0x7ff;
}

const isolateState: Uuidv7State = { lastMs: -1, counter: 0 };

/** A UUIDv7 strictly greater than every earlier one from this isolate. */
export function uuidv7(now: number = Date.now()): string {
  return monotonicUuidv7(isolateState, now);
}

export const newEventId = (now?: number) => `evt_${uuidv7(now)}`;
export const newTraceId = (now?: number) => `trace_${uuidv7(now)}`;
export const newDlqId = (now?: number) => `dlq_${uuidv7(now)}`;
export const newRequestId = () => `req_${uuidv7()}`;
export const newApprovalId = (now?: number) => `apr_${uuidv7(now)}`;

/** A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return `whsec_${bytesToBase64(bytes)}`;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

export function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
