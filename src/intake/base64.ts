/** Base64 of raw request bytes, natively where the runtime has `Uint8Array.prototype.toBase64` (workerd does). */
import { bytesToBase64 } from "../lib/ids";

type NativeBase64 = Uint8Array & { toBase64?: () => string };

export function base64Of(bytes: Uint8Array): string {
  const native = (bytes as NativeBase64).toBase64;
  return typeof native === "function" ? native.call(bytes) : bytesToBase64(bytes);
}
