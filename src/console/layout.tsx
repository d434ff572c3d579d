/** The console's page shell and small shared components. Hono JSX escapes every interpolated value. */

import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import { CONSOLE_CSS, CONSOLE_JS } from "./assets";
import { statusTone } from "./graph-layout";

export type NavKey = "events" | "dlq" | "bindings" | "sources" | "circuits" | "approvals" | "login" | "none";

const NAV: { key: NavKey; href: string; label: string }[] = [
  { key: "events", href: "/console/events", label: "Events" },
  { key: "dlq", href: "/console/dlq", label: "DLQ" },
  { key: "bindings", href: "/console/bindings", label: "Bindings" },
  { key: "sources", href: "/console/sources", label: "Sources" },
  { key: "circuits", href: "/console/circuits", label: "Circuits" },
  { key: "approvals", href: "/console/approvals", label: "Approvals" },
];

export interface Flash {
  kind: "ok" | "error" | "info";
  text: string;
}

/** A region that the console script re-fetches every `every` ms until the server says `final`. */
export interface LiveRegion {
  id: string;
  every: number;
  content: Child;
  /** Nothing in the region can change any more: do not poll. */
  final?: boolean;
}

/** What a page handler returns; the router wraps it in the shell or answers a live fragment. */
export interface Page {
  title: string;
  active: NavKey;
  status?: number;
  body: Child;
  live?: LiveRegion;
}

export function Shell(props: {
  title: string;
  active: NavKey;
  nonce: string;
  csrf: string | null;
  flash: Flash | null;
  hasLive: boolean;
  children?: Child;
}) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <link rel="icon" href="data:," />
        <title>{`${props.title} · Switchyard`}</title>
        <style nonce={props.nonce}>{raw(CONSOLE_CSS)}</style>
      </head>
      <body>
        <header>
          <a class="brand" href="/console/events">
            Switchyard
          </a>
          {props.csrf !== null && (
            <nav>
              {NAV.map((item) => (
                <a href={item.href} class={item.key === props.active ? "active" : undefined}>
                  {item.label}
                </a>
              ))}
            </nav>
          )}
          {props.csrf !== null && (
            <form method="post" action="/console/logout">
              <input type="hidden" name="_csrf" value={props.csrf} />
              <button type="submit">Log out</button>
            </form>
          )}
        </header>
        <main>
          {props.flash && (
            <div class={`flash ${props.flash.kind}`} role="status">
              {props.flash.text}
            </div>
          )}
          {props.hasLive && (
            <div class="row live">
              <label class="toggle">
                <input type="checkbox" id="live-toggle" checked /> live
              </label>
              <span id="live-status" aria-live="polite" />
            </div>
          )}
          {props.children}
        </main>
        <script nonce={props.nonce}>{raw(CONSOLE_JS)}</script>
      </body>
    </html>
  );
}

export function LiveBox(props: { live: LiveRegion }) {
  return (
    <div id={props.live.id} data-live={props.live.final ? undefined : String(props.live.every)}>
      {props.live.content}
    </div>
  );
}

/** A status in the colour family of `statusTone`. */
export function Badge(props: { status: string | null | undefined; text?: string }) {
  const tone = statusTone(props.status);
  return <span class={`badge tone-${tone}`}>{props.text ?? props.status ?? "—"}</span>;
}

/** A readable API failure (the page still renders around it). */
export function Failure(props: { what: string; failure: { status: number; message: string } }) {
  return (
    <div class="flash error" role="alert">
      {`Could not load ${props.what}: ${props.failure.message} (HTTP ${props.failure.status})`}
    </div>
  );
}

/** The CSRF field every state-changing console form carries. */
export function Csrf(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />;
}

/** Pretty JSON, cut at `max` characters so a huge payload cannot swamp the page. */
export function Json(props: { value: unknown; max?: number }) {
  const max = props.max ?? 200_000;
  let text: string;
  try {
    text = JSON.stringify(props.value, null, 2) ?? "null";
  } catch {
    text = String(props.value);
  }
  const cut = text.length > max;
  return <pre>{cut ? `${text.slice(0, max)}\n… (${text.length - max} more characters)` : text}</pre>;
}

/** A timestamp as sent by the API, with a short local-free form for tables. */
export function Time(props: { at: string | null | undefined }) {
  if (!props.at) return <span class="muted">—</span>;
  const short = props.at.replace("T", " ").replace(/\.\d+Z$/, "Z");
  return <time datetime={props.at}>{short}</time>;
}

/** Spinner + text shown by forms with `data-busy` while their request runs. */
export function Busy(props: { id?: string }) {
  return (
    <div id={props.id ?? "busy"} class="flash info busy" hidden role="status">
      <span class="spinner" />
      <span class="busy-text">Working…</span>
    </div>
  );
}
