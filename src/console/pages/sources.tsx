/**
 * Intake sources (`GET /v1/sources`, SPEC 4.1): where providers send, how each verifies, and Notion's
 * set-up. A Notion source created with no secret shows its verification state; once Notion's request
 * arrived, the operator reads its token here, once, to paste it back into Notion.
 */
import type { Hono } from "hono";
import type { Child } from "hono/jsx";
import type { SourceView } from "../../contracts/sources";
import { type ConsoleEnv, redirectWithFlash, render } from "../context";
import { Badge, Csrf, Failure, Time } from "../layout";
import { v1 } from "../links";
import type { ListPage } from "../views";

const HOME = "/console/sources";

const SETUP_TONE = { awaiting: "waiting", received: "running", read: "succeeded" } as const;

function SetUp(props: { source: SourceView; csrf: string }) {
  const verification = props.source.verify.verification;
  if (!verification) return <span class="muted small">—</span>;
  const label = {
    awaiting: "awaiting Notion's verification request",
    received: "token received, not read yet",
    read: "token read",
  }[verification.state];
  return (
    <>
      <Badge status={SETUP_TONE[verification.state]} text={label} />
      {verification.state === "received" && (
        <form
          class="inline"
          method="post"
          action={`${HOME}/${encodeURIComponent(props.source.name)}/verification-token`}
        >
          <Csrf token={props.csrf} />
          <button type="submit" class="primary">
            Show token (once)
          </button>
        </form>
      )}
      {verification.read_at && (
        <div class="muted small">
          read <Time at={verification.read_at} />
        </div>
      )}
    </>
  );
}

export function sourceRoutes(app: Hono<ConsoleEnv>) {
  app.get(HOME, async (c) => {
    const res = await c.get("api").get<ListPage<SourceView>>("/v1/sources?limit=200");
    const csrf = c.get("csrf") ?? "";
    let content: Child;
    if (!res.ok) content = <Failure what="sources" failure={res} />;
    else if (res.data.items.length === 0)
      content = <p class="muted">No sources yet: create one with PUT /v1/sources/:name.</p>;
    else {
      content = (
        <table>
          <thead>
            <tr>
              <th>Source</th>
              <th>Provider · style</th>
              <th>Intake URL</th>
              <th class="num">Secrets</th>
              <th>Set-up</th>
            </tr>
          </thead>
          <tbody>
            {res.data.items.map((source) => (
              <tr data-source={source.name}>
                <td class="mono">{source.name}</td>
                <td class="small">
                  {source.provider} · {source.verify.style}
                </td>
                <td class="mono small">{source.url}</td>
                <td class="num">{source.verify.secret_count}</td>
                <td>
                  <SetUp source={source} csrf={csrf} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      );
    }
    return render(c, {
      title: "Sources",
      active: "sources",
      body: (
        <>
          <h1>Sources</h1>
          <p class="muted small">
            Named intake endpoints. Secrets are never shown, except a Notion verification token, once.
          </p>
          {content}
        </>
      ),
    });
  });

  app.post(`${HOME}/:name/verification-token`, async (c) => {
    const name = c.req.param("name");
    const res = await c
      .get("api")
      .post<{ verification_token: string; received_at: string }>(`/v1/sources/${v1(name)}/verification-token`);
    if (!res.ok) return redirectWithFlash(c, HOME, { kind: "error", text: `Could not read the token: ${res.message}` });
    // Rendered straight into this answer (never a cookie or a URL): it is the source's secret.
    return render(c, {
      title: "Verification token",
      active: "sources",
      body: (
        <>
          <h1>Verification token of {name}</h1>
          <p>
            Paste this token into Notion's subscription form to finish the set-up. It is also the secret Notion signs
            every event with, and this is the only time it is shown.
          </p>
          <pre class="mono" data-verification-token>
            {res.data.verification_token}
          </pre>
          <p class="muted small">
            Received <Time at={res.data.received_at} />. <a href={HOME}>Back to sources</a>
          </p>
        </>
      ),
    });
  });
}
