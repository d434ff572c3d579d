import { describe, expect, it } from "vitest";
import { checkOutboundTarget, isPrivateHost } from "../../../src/handlers/ssrf";

describe("isPrivateHost", () => {
  it.each([
    ["localhost", true],
    ["api.localhost", true],
    ["metadata.google.internal", true],
    ["printer.local", true],
    ["127.0.0.1", true],
    ["127.255.0.9", true],
    ["10.1.2.3", true],
    ["172.16.0.1", true],
    ["172.31.255.255", true],
    ["172.32.0.1", false],
    ["192.168.1.1", true],
    ["169.254.169.254", true],
    ["100.64.0.1", true],
    ["0.0.0.0", true],
    ["224.0.0.1", true],
    ["8.8.8.8", false],
    ["93.184.216.34", false],
    ["[::1]", true],
    ["::", true],
    ["[fe80::1]", true],
    ["fc00::1", true],
    ["fd12:3456::1", true],
    ["[::ffff:127.0.0.1]", true],
    ["::ffff:7f00:1", true],
    ["::ffff:a00:1", true],
    ["::ffff:808:808", false],
    ["64:ff9b::a00:1", true],
    ["[::7f00:1]", true], // IPv4-compatible ::127.0.0.1
    ["::a9fe:a9fe", true], // ::169.254.169.254
    ["::808:808", false],
    ["2002:7f00:1::1", true], // 6to4 of 127.0.0.1
    ["2002:c0a8:101::", true], // 6to4 of 192.168.1.1
    ["2002:808:808::1", false],
    ["2606:4700::1111", false],
    ["2130706433", true],
    ["0x7f000001", true],
    ["example.com", false],
    ["hooks.example.com.", false],
  ])("%s → %s", (host, expected) => {
    expect(isPrivateHost(host)).toBe(expected);
  });

  it("sees through URL normalisation of numeric and mapped hosts", () => {
    for (const url of [
      "http://2130706433/",
      "http://0x7f.1/",
      "http://[::ffff:10.0.0.1]/",
      "http://017700000001/",
      "http://[::127.0.0.1]/",
    ]) {
      expect(isPrivateHost(new URL(url).hostname)).toBe(true);
    }
  });
});

describe("checkOutboundTarget", () => {
  it("refuses private targets unless allowed", () => {
    const url = new URL("http://127.0.0.1:9000/h");
    expect(checkOutboundTarget(url, false)).toEqual({
      ok: false,
      error: "target 127.0.0.1 is a private, loopback or link-local address",
    });
    expect(checkOutboundTarget(url, true)).toEqual({ ok: true });
    expect(checkOutboundTarget(new URL("https://hooks.example.com/x"), false)).toEqual({ ok: true });
  });

  it("refuses non-HTTP protocols", () => {
    expect(checkOutboundTarget(new URL("ftp://example.com/"), true).ok).toBe(false);
  });
});
