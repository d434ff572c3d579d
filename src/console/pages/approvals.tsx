/**
 * Pending approvals (`GET /v1/approvals?state=pending`, SPEC 8, 19) with approve and deny. A
 * deployment whose API has no approvals routes answers 404: the page says so instead of failing.
 */
import type { Hono } from "hono";
import type { Child } from "hono/jsx";
import { type ConsoleEnv, field, redirectWithFlash, render, returnTo } from "../context";
import { Badge, Csrf, Failure, LiveBox, Time } from "../layout";
import { links, v1 } from "../links";
import type { ApprovalItem, ListPage } from "../views";

const HOME = "/console/approvals";

function Decision(props: { item: ApprovalItem; csrf: string }) {
  const { item } = props;
  return (
    <form class="inline" method="post" action={`/console/approvals/${encodeURIComponent(item.id)}/decide`}>
      <Csrf token={props.csrf} />
      <input type="hidden" name="return_to" value={HOME} />
      <input name="reviewer" value="console" aria-label="reviewer" size={10} />
      <input name="reason" placeholder="reason (optional)" aria-label="reason" size={18} />
      <button type="submit" name="decision" value="approve" class="primary">
        Approve
      </button>
      <button type="submit" name="decision" value="deny" class="danger">
        Deny
      </button>
    </form>
  );
}

export function approvalRoutes(app: Hono<ConsoleEnv>) {
  app.get("/console/approvals", async (c) => {
    const res = await c.get("api").get<ListPage<ApprovalItem>>("/v1/approvals?state=pending&limit=200");
    const csrf = c.get("csrf") ?? "";
    let content: Child;
    if (!res.ok && res.status === 404) {
      content = (
        <div class="flash info" role="status">
          Approvals are not available on this deployment yet (the API has no /v1/approvals route).
        </div>
      );
    } else if (!res.ok) {
      content = <Failure what="approvals" failure={res} />;
    } else if (res.data.items.length === 0) {
      content = <p class="muted">No approvals are waiting.</p>;
    } else {
      content = (
        <table>
          <thead>
            <tr>
              <th>Requested</th>
              <th>Binding · event</th>
              <th>Reason</th>
              <th>Reviewers</th>
              <th>State</th>
              <th>Decision</th>
            </tr>
          </thead>
          <tbody>
            {res.data.items.map((item) => (
              <tr data-approval-id={item.id}>
                <td>
                  <Time at={item.created_at} />
                </td>
                <td>
                  <div class="mono small">{item.binding_key}</div>
                  <a class="mono small" href={links.event(item.event_id)}>
                    {item.event_id}
                  </a>
                </td>
                <td class="small">{item.reason}</td>
                <td class="small">{item.reviewers.join(", ")}</td>
                <td>
                  <Badge status={item.state === "pending" ? "waiting" : item.state} text={item.state} />
                </td>
                <td>{item.state === "pending" && <Decision item={item} csrf={csrf} />}</td>
              </tr>
            ))}
          </tbody>
        </table>
      );
    }
    const live = { id: "approvals-live", every: 5000, content, final: !res.ok };
    return render(c, {
      title: "Approvals",
      active: "approvals",
      live,
      body: (
        <>
          <h1>Approvals</h1>
          <p class="muted small">
            Dispatches held by their autonomy settings until a reviewer approves or denies them.
          </p>
          <LiveBox live={live} />
        </>
      ),
    });
  });

  app.post("/console/approvals/:id/decide", async (c) => {
    const id = c.req.param("id");
    const back = returnTo(c, HOME);
    const decision = field(c, "decision");
    if (decision !== "approve" && decision !== "deny") {
      return redirectWithFlash(c, back, { kind: "error", text: "Choose approve or deny." });
    }
    const body = { reviewer: field(c, "reviewer"), reason: field(c, "reason") };
    const res = await c.get("api").post<ApprovalItem>(`/v1/approvals/${v1(id)}/${decision}`, body);
    if (!res.ok) {
      const text =
        res.status === 404 && res.message.startsWith("no route")
          ? "Approvals are not available on this deployment yet."
          : `Could not ${decision} ${id}: ${res.message}`;
      return redirectWithFlash(c, back, { kind: "error", text });
    }
    return redirectWithFlash(c, back, { kind: "ok", text: `${id} ${decision === "approve" ? "approved" : "denied"}.` });
  });
}
