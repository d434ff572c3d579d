/**
 * SSRF guard for outbound handler targets (SPEC 12.1, 16). Workers cannot resolve DNS before a
 * fetch, so this checks literal addresses and names that always mean "this host" or "internal";
 * redirects are never followed (see https.ts), so a public name cannot bounce to a private address.
 */

function ipv4Octets(host: string): number[] | null {
  const parts = host.split(".");
  if (parts.length !== 4) return null;
  const octets = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : Number.NaN));
  return octets.every((o) => o >= 0 && o <= 255) ? octets : null;
}

function isPrivateIpv4([a = 0, b = 0]: number[]): boolean {
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0) ||
    (a === 198 && (b === 18 || b === 19)) ||
    a >= 224
  );
}

/** Expands an IPv6 literal (without brackets) to eight 16-bit groups, or null. */
function ipv6Groups(host: string): number[] | null {
  if (!host.includes(":")) return null;
  let text = host.toLowerCase().split("%")[0] ?? "";
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  const v4 = ipv4Octets(text.slice(lastColon + 1));
  if (v4) {
    const [a = 0, b = 0, c = 0, d = 0] = v4;
    tail.push((a << 8) | b, (c << 8) | d);
    text = text.slice(0, lastColon);
    if (text.endsWith(":")) text = `${text}:`; // "::1.2.3.4" keeps its "::"
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (s: string) =>
    s === "" ? [] : s.split(":").map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? Number.parseInt(g, 16) : Number.NaN));
  const head = parse(halves[0] ?? "");
  const rest = halves.length === 2 ? parse(halves[1] ?? "") : [];
  const known = head.length + rest.length + tail.length;
  if ((halves.length === 1 && known !== 8) || known > 8) return null;
  const groups = [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

function isPrivateIpv6(g: number[]): boolean {
  const [g0 = 0, , , , , g5 = 0, g6 = 0, g7 = 0] = g;
  const allZeroPrefix = g.slice(0, 5).every((x) => x === 0);
  if (allZeroPrefix && g5 === 0 && g6 === 0 && (g7 === 0 || g7 === 1)) return true; // :: and ::1
  const embedded = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff];
  if (allZeroPrefix && g5 === 0xffff) return isPrivateIpv4(embedded); // IPv4-mapped
  if (allZeroPrefix && g5 === 0) return isPrivateIpv4(embedded); // IPv4-compatible (::a.b.c.d, deprecated)
  if (g0 === 0x2002) {
    // 6to4: 2002:AABB:CCDD::/48 embeds the IPv4 address AA.BB.CC.DD.
    const g1 = g[1] ?? 0;
    const g2 = g[2] ?? 0;
    if (isPrivateIpv4([g1 >> 8, g1 & 0xff, g2 >> 8, g2 & 0xff])) return true;
  }
  if (g0 === 0x64 && g[1] === 0xff9b) return isPrivateIpv4(embedded); // NAT64
  return (g0 & 0xfe00) === 0xfc00 || (g0 & 0xffc0) === 0xfe80 || (g0 & 0xff00) === 0xff00;
}

/** True when the URL's host is loopback, private, link-local or otherwise internal. */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname
    .replace(/^\[|\]$/g, "")
    .toLowerCase()
    .replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost") || host.endsWith(".internal") || host.endsWith(".local")) {
    return true;
  }
  const v4 = ipv4Octets(host);
  if (v4) return isPrivateIpv4(v4);
  // Numeric hosts in other notations (decimal, hex, octal) are normalised by URL; anything left that
  // is all digits/hex is suspicious enough to refuse.
  if (/^(0x[0-9a-f]+|\d+)$/.test(host)) return true;
  const v6 = ipv6Groups(host);
  if (v6) return isPrivateIpv6(v6);
  return false;
}

export type TargetCheck = { ok: true } | { ok: false; error: string };

export function checkOutboundTarget(url: URL, allowPrivate: boolean): TargetCheck {
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { ok: false, error: `unsupported target protocol '${url.protocol}'` };
  }
  if (!allowPrivate && isPrivateHost(url.hostname)) {
    return { ok: false, error: `target ${url.hostname} is a private, loopback or link-local address` };
  }
  return { ok: true };
}
