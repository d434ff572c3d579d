import { describe, expect, it } from "vitest";
import { isWellFormed, toWellFormed } from "../../../src/contracts/unicode";
import { deriveDedupeKey, deriveKind } from "../../../src/intake/normalise";

describe("well-formed text", () => {
  it.each([
    ["", true, ""],
    ["plain", true, "plain"],
    ["😀 pair", true, "😀 pair"],
    ["a\ud800", false, "a\ufffd"],
    ["\udc00b", false, "\ufffdb"],
    ["\udc00\ud800", false, "\ufffd\ufffd"],
    ["\ud83d\ude00\ud800", false, "😀\ufffd"],
  ])("%j: well-formed %s, repaired %j", (text, ok, repaired) => {
    expect(isWellFormed(text)).toBe(ok);
    expect(toWellFormed(text)).toBe(repaired);
    expect(isWellFormed(toWellFormed(text))).toBe(true);
  });
});

describe("intake kinds and dedupe keys are stored as read back", () => {
  const headers = new Headers({ "x-github-event": "issues", "x-github-delivery": "d-1" });

  it("replaces unpaired surrogates from the payload by U+FFFD", async () => {
    expect(deriveKind("webhook", headers, { type: "a\ud800" })).toBe("a\ufffd");
    expect(deriveKind("github", headers, { action: "\udc00" })).toBe("issues.\ufffd");
    expect(deriveKind("slack", headers, { type: "event_callback", event: { type: "m\ud800" } })).toBe("m\ufffd");
    expect(await deriveDedupeKey("stripe", "stripe", headers, { id: "evt_\ud800" }, new Uint8Array())).toBe(
      "evt_\ufffd",
    );
  });

  it("leaves well-formed kinds alone", () => {
    expect(deriveKind("webhook", headers, { type: "order.paid 😀" })).toBe("order.paid 😀");
  });
});
